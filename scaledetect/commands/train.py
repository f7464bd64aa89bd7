"""``scaledetect train [task] [net] [training] --seed S --out DIR``: train and save a CNN.

Writes ``DIR/init.npz`` (the net at initialization), ``DIR/checkpoint.npz`` (while running and at
the end), ``DIR/model.npz`` (trained) and ``DIR/history.json``. The net flags default to the
training recipe (``--param mf --alpha 1 --gain sqrt(F)``), the training flags to ``TrainSpec``'s.
"""

import argparse
import math
import sys
from pathlib import Path

from ..errors import ScaleDetectError
from ..nn.train import CHECKPOINT, TrainSpec, train
from ._common import add_net_args, add_task_args, net_from_args, seed, task_from_args

_D = TrainSpec()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Task, net and training flags, ``--seed``, ``--out``, ``--resume``, ``--progress``."""
    add_task_args(p)
    add_net_args(p)
    p.set_defaults(param="mf", alpha=1.0, gain=None)
    recipe = {"param": "readout: ntk or mf (default mf, the training recipe)",
              "gain": "multiplier after each activation (default sqrt(filter))"}
    for action in p._actions:
        if action.dest in recipe:
            action.help = recipe[action.dest]
    g = p.add_argument_group("training (defaults: the training recipe)")
    g.add_argument("--n-train", type=int, default=_D.n_train, help=f"(default {_D.n_train})")
    g.add_argument("--n-test", type=int, default=_D.n_test, help=f"(default {_D.n_test})")
    g.add_argument("--batch-size", type=int, default=_D.batch_size,
                   help=f"(default {_D.batch_size})")
    g.add_argument("--lr", type=float, default=None, help="learning rate (default 0.01 * width)")
    g.add_argument("--momentum", type=float, default=_D.momentum,
                   help=f"(default {_D.momentum})")
    g.add_argument("--loss", default=_D.loss, help="hinge or logistic (default hinge)")
    g.add_argument("--weight-decay", type=float, default=None,
                   help="lambda of lambda*sum|w|^p on conv weights (default 0.01/(width*depth))")
    g.add_argument("--wd-power", type=int, default=_D.wd_power, help="p, 1 or 2 (default 2)")
    g.add_argument("--max-epochs", type=int, default=_D.max_epochs,
                   help=f"epochs (stop=epochs) or most epochs before the criterion (default "
                        f"{_D.max_epochs})")
    g.add_argument("--stop", default=_D.stop, help="interpolate, loss or epochs "
                   f"(default {_D.stop})")
    g.add_argument("--loss-threshold", type=float, default=_D.loss_threshold,
                   help=f"for --stop loss (default {_D.loss_threshold})")
    g.add_argument("--continue-factor", type=float, default=_D.continue_factor,
                   help="after the criterion is met at epoch E, train on for factor*E epochs "
                        f"(default {_D.continue_factor:g})")
    g.add_argument("--record-every", type=int, default=_D.record_every,
                   help=f"history record every E epochs (default {_D.record_every})")
    g.add_argument("--checkpoint-every", type=int, default=_D.checkpoint_every,
                   help=f"checkpoint every E epochs (default {_D.checkpoint_every})")
    g.add_argument("--dtype", default=_D.dtype, help="float32 or float64 (default float32)")
    g.add_argument("--bias-std", type=float, default=_D.bias_std,
                   help=f"std of the initial conv biases (default {_D.bias_std:g})")
    g.add_argument("--data-seed", type=seed, default=None,
                   help="seed of the data sets (default: derived from --seed)")
    p.add_argument("--seed", type=seed, default=0, help="seed of everything (default 0)")
    p.add_argument("--out", required=True, help="output folder DIR")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in DIR from its checkpoint")
    p.add_argument("--threads", type=int, default=None,
                   help="numba threads while training (default: numba's; results do not "
                        "depend on it, 1 is fastest on busy machines)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def run(a: argparse.Namespace) -> int:
    """Validate everything, train, print where the files went and the final errors."""
    if a.gain is None:
        a.gain = math.sqrt(a.filter) if a.filter >= 1 else 1.0
    task = task_from_args(a)
    net = net_from_args(a)
    spec = TrainSpec(n_train=a.n_train, n_test=a.n_test, batch_size=a.batch_size, lr=a.lr,
                     momentum=a.momentum, loss=a.loss, weight_decay=a.weight_decay,
                     wd_power=a.wd_power, max_epochs=a.max_epochs, stop=a.stop,
                     loss_threshold=a.loss_threshold, continue_factor=a.continue_factor,
                     record_every=a.record_every, checkpoint_every=a.checkpoint_every,
                     dtype=a.dtype, bias_std=a.bias_std, data_seed=a.data_seed)
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ScaleDetectError(f"out must be a folder; got out={a.out!r} (an existing file)")
    if not a.resume and ((out / "model.npz").exists() or (out / CHECKPOINT).exists()):
        raise ScaleDetectError(f"out already holds a run ({out}); pass --resume to continue it "
                               f"or choose another folder; got out={a.out!r}")
    resumed = a.resume and (out / CHECKPOINT).exists()
    progress = sys.stderr.isatty() if a.progress is None else a.progress
    try:
        result = train(task, net, spec, a.seed, out_dir=out, progress=progress,
                       resume=a.resume, threads=a.threads)
    except KeyboardInterrupt:
        print(f"scaledetect train: interrupted; continue with the same flags and --resume (from "
              f"the last checkpoint in {out})", file=sys.stderr)
        return 130
    h = result.history
    final = h["final"]
    test = "n/a" if final["test_error"] is None else f"{final['test_error']:.4g}"
    if h["epochs_to_stop"] is None:
        how = f"criterion '{spec.stop}' not met" if spec.stop != "epochs" else "fixed length"
    else:
        how = f"criterion '{spec.stop}' met after {h['epochs_to_stop']} epochs"
    print(f"{'resumed; ' if resumed else ''}trained {h['epochs']} epochs ({how}) in "
          f"{h['wall_time']:.1f} s: train error {final['train_error']:.4g}, test error {test}, "
          f"train loss {final['train_loss']:.4g}")
    print(f"wrote {out / 'init.npz'} (the net at initialization)")
    if result.at_stop is not None:
        print(f"wrote {out / 'at_stop.npz'} (the net when the criterion was met, epoch "
              f"{h['epochs_to_stop']})")
    print(f"wrote {out / 'model.npz'} (the trained net)")
    print(f"wrote {out / 'history.json'} (config and {len(h['records'])} records: epoch, train "
          "loss/error, test error, weight change per layer)")
    print(f"wrote {out / CHECKPOINT} (final checkpoint; --resume returns this run)")
    return 0
