"""``scaledetect train [task] [net] [training] --seed S --out DIR``: train and save a CNN.

Writes ``DIR/init.npz`` (the net at initialization), ``DIR/checkpoint.npz`` (while running and at
the end), ``DIR/model.npz`` (trained) and ``DIR/history.json``. The net flags default to the
training recipe (``--param mf --alpha 1 --gain sqrt(F)``), the training flags to ``TrainSpec``'s.

With ``--arch ARCH`` it trains a standard architecture (PyTorch) instead: see ``_run_arch``.
"""

import argparse
import math
import sys
from pathlib import Path

from ..engine import Engine
from ..errors import ScaleDetectError
from ..extras import require_extra
from ..nn.train import CHECKPOINT, TrainSpec, train
from ._common import (
    add_net_args,
    add_task_args,
    net_from_args,
    require_train_memory,
    seed,
    task_from_args,
)

_D = TrainSpec()
_NUMBA_TASK = {"dim": 1, "size": 128, "rule": "block", "gap": 0.0}
# Petrini et al.'s two-point task: side 28, xi 14, gap 2, L2 distance, image mean 1
_ARCH_TASK = {"dim": "2", "size": "28", "rule": "distance", "gap": "2", "xi": "size/2"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Task, net and training flags, ``--seed``, ``--out``, ``--resume``, ``--progress``."""
    add_task_args(p)
    add_net_args(p)
    p.set_defaults(param="mf", alpha=1.0, gain=None, dim=None, size=None, rule=None, gap=None)
    for action in p._actions:
        if action.dest in _ARCH_TASK:
            action.help = f"{action.help} [with --arch: {_ARCH_TASK[action.dest]}]"
    recipe = {"param": "readout: ntk or mf (default mf, the training recipe)",
              "gain": "multiplier after each activation (default sqrt(filter))"}
    for action in p._actions:
        if action.dest in recipe:
            action.help = recipe[action.dest]
    _add_training_arguments(p)
    _add_arch_arguments(p)
    p.add_argument("--seed", type=seed, default=0, help="seed of everything (default 0)")
    p.add_argument("--out", required=True, help="output folder DIR")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in DIR from its checkpoint")
    p.add_argument("--threads", type=int, default=None,
                   help="numba (or, with --arch, torch) threads while training (default: the "
                        "library's; numba results do not depend on it, 1 is fastest on busy "
                        "machines)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def _add_training_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``TrainSpec`` (their defaults, or the architecture's with ``--arch``)."""
    g = p.add_argument_group("training (defaults: the training recipe)")
    g.add_argument("--n-train", type=int, default=_D.n_train, help=f"(default {_D.n_train})")
    g.add_argument("--n-test", type=int, default=_D.n_test, help=f"(default {_D.n_test})")
    g.add_argument("--batch-size", type=int, default=None,
                   help=f"(default {_D.batch_size}; 128 with --arch)")
    g.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.01 * width; with --arch the architecture's)")
    g.add_argument("--momentum", type=float, default=None,
                   help=f"(default {_D.momentum}; 0.9 with --arch)")
    g.add_argument("--loss", default=_D.loss, help="hinge or logistic (default hinge)")
    g.add_argument("--weight-decay", type=float, default=None,
                   help="lambda of lambda*sum|w|^p on conv weights (default 0.01/(width*depth); "
                        "with --arch 5e-4 on every parameter)")
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
    g.add_argument("--train-noise", type=float, default=_D.train_noise, metavar="SIGMA",
                   help="noise-corrupted training: every epoch adds fresh i.i.d. Gaussian noise "
                        "of norm SIGMA times the images' norm to the training images, one fixed "
                        "draw of the same level to the test images (default 0: clean images)")


def engine(a: argparse.Namespace) -> Engine:
    """The engine policy the command runs under: ``--threads`` engine threads (default numba's)."""
    return Engine(threads=a.threads)


def run(a: argparse.Namespace) -> int:
    """Validate everything, train, print where the files went and the final errors."""
    if a.arch is not None:
        return _run_arch(a)
    for name, value in _NUMBA_TASK.items():
        if getattr(a, name) is None:
            setattr(a, name, value)
    if a.batch_size is None:
        a.batch_size = _D.batch_size
    if a.momentum is None:
        a.momentum = _D.momentum
    if a.amplitude is None:
        a.amplitude = "rms"
    if a.gain is None:
        a.gain = math.sqrt(a.filter) if a.filter >= 1 else 1.0
    task = task_from_args(a)
    net = net_from_args(a)
    spec = TrainSpec(n_train=a.n_train, n_test=a.n_test, batch_size=a.batch_size, lr=a.lr,
                     momentum=a.momentum, loss=a.loss, weight_decay=a.weight_decay,
                     wd_power=a.wd_power, max_epochs=a.max_epochs, stop=a.stop,
                     loss_threshold=a.loss_threshold, continue_factor=a.continue_factor,
                     record_every=a.record_every, checkpoint_every=a.checkpoint_every,
                     dtype=a.dtype, bias_std=a.bias_std, data_seed=a.data_seed,
                     train_noise=a.train_noise)
    require_train_memory(task, spec.n_train, spec.n_test, 8 if spec.dtype == "float64" else 4)
    out = _out_dir(a)
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
    _refuse_diverged(h)
    final = h.final
    test = "n/a" if final.test_error is None else f"{final.test_error:.4g}"
    if h.epochs_to_stop is None:
        how = f"criterion '{spec.stop}' not met" if spec.stop != "epochs" else "fixed length"
    else:
        how = f"criterion '{spec.stop}' met after {h.epochs_to_stop} epochs"
    print(f"{'resumed; ' if resumed else ''}trained {h.epochs} epochs ({how}) in "
          f"{h.wall_time:.1f} s: train error {final.train_error:.4g}, test error {test}, "
          f"train loss {final.train_loss:.4g}")
    print(f"wrote {out / 'init.npz'} (the net at initialization)")
    if result.at_stop is not None:
        print(f"wrote {out / 'at_stop.npz'} (the net when the criterion was met, epoch "
              f"{h.epochs_to_stop})")
    print(f"wrote {out / 'model.npz'} (the trained net)")
    print(f"wrote {out / 'history.json'} (config and {len(h.records)} records: epoch, train "
          "loss/error, test error, weight change per layer)")
    print(f"wrote {out / CHECKPOINT} (final checkpoint; --resume returns this run)")
    return 0


def _refuse_diverged(history) -> None:
    """One-line error (exit 2) if training diverged; the run has then removed its files."""
    if history.stop_reason == "diverged":
        raise ScaleDetectError(
            f"training diverged at epoch {history.epochs} (a mini-batch loss became NaN or "
            f"infinite; training loss {history.final.train_loss:g}); nothing was written; "
            f"lower the learning rate (--lr, now {history.config['train']['lr']:g})")


def _add_arch_arguments(p: argparse.ArgumentParser) -> None:
    """``--arch --width-factor --epochs --device``."""
    g = p.add_argument_group(
        "standard architectures (PyTorch; --arch switches the task defaults to side 28, xi 14, "
        "gap 2, L2 distance, image mean 1)")
    g.add_argument("--arch", default=None, type=str.lower,
                   help="train a standard CNN instead: vgg11, vgg11bn, vgg13bn, vgg16bn, "
                        "vgg19bn, resnet18, resnet34, resnet50, alexnet, lenet, efficientnetb0")
    g.add_argument("--width-factor", type=float, default=1.0,
                   help="multiplier of every channel count (default 1, the published widths)")
    g.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: the architecture's, a CPU budget measured to learn)")
    g.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")


def _run_arch(a: argparse.Namespace) -> int:
    """``--arch``: validate (nothing written on error), train with PyTorch, report."""
    for name, value in {"dim": 2, "size": 28, "rule": "distance", "gap": 2.0,
                        "amplitude": "mean"}.items():
        if getattr(a, name) is None:
            setattr(a, name, value)
    if a.xi is None:
        a.xi = max(1, a.size // 2)
    require_extra("torch", f"--arch {a.arch}")
    from ..deep.archs import ARCHS, check_size

    if a.arch not in ARCHS:
        raise ScaleDetectError(f"arch must be one of {', '.join(ARCHS)}; got arch={a.arch!r}")
    from ..deep.train import DeepTrainSpec, resolve_device, train_arch

    task = task_from_args(a)
    if task.dim != 2:
        raise ScaleDetectError(f"dim must be 2 for --arch {a.arch}; got dim={task.dim}")
    check_size(a.arch, task.size)
    opt = {k: getattr(a, k) for k in ("lr", "momentum", "weight_decay", "batch_size", "epochs")
           if getattr(a, k) is not None}
    spec = DeepTrainSpec(arch=a.arch, width_factor=a.width_factor, n_train=a.n_train,
                         n_test=a.n_test, train_noise=a.train_noise, data_seed=a.data_seed,
                         **opt).resolved()
    resolve_device(a.device)
    require_train_memory(task, spec.n_train, spec.n_test, 4)
    out = _out_dir(a)
    progress = sys.stderr.isatty() if a.progress is None else a.progress
    try:
        r = train_arch(task, spec, a.seed, out_dir=out, progress=progress, resume=a.resume,
                       threads=a.threads, device=a.device)
    except KeyboardInterrupt:
        print(f"scaledetect train: interrupted; continue with the same flags and --resume (from "
              f"the last checkpoint in {out})", file=sys.stderr)
        return 130
    h = r.history
    _refuse_diverged(h)
    print(f"trained {a.arch} (width factor {a.width_factor:g}) for {h.epochs} epochs in "
          f"{h.wall_time:.1f} s: test error {r.test_error:.4g} (best, epoch {r.best_epoch}), "
          f"final test error {h.final.test_error:.4g}, final train error "
          f"{h.final.train_error:.4g}")
    for name, what in (("init.npz", "the net at initialization"),
                       ("model.npz", "the net of the best test accuracy"),
                       ("final.npz", "the net after the last epoch"),
                       ("history.json", f"config and {len(h.records)} records"),
                       (CHECKPOINT, "final checkpoint; --resume returns this run")):
        print(f"wrote {out / name} ({what})")
    return 0


def _out_dir(a: argparse.Namespace) -> Path:
    """``--out`` as a folder that holds no finished or interrupted run unless ``--resume``."""
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ScaleDetectError(f"out must be a folder; got out={a.out!r} (an existing file)")
    if not a.resume and ((out / "model.npz").exists() or (out / CHECKPOINT).exists()):
        raise ScaleDetectError(f"out already holds a run ({out}); pass --resume to continue it "
                               f"or choose another folder; got out={a.out!r}")
    return out
