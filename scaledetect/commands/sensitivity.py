"""``scaledetect sensitivity [task] [net] (--pooling | --model M.npz) --probe P --seed S``.

Measures D_k, G_k, R_k at every layer of the idealized pooling
net of the net flags (``--pooling``) or of a saved model (``--model``: a numba CNN from
``scaledetect train``, its own architecture used and the net flags ignored; or a deep model from
``scaledetect train --arch``, measured at every node of its forward pass). The task flags must
match the model's input. ``--images X.npz`` measures on the user's own images instead of task
probes (max-entropy diffeos only). ``--shuffle-channels 1|2`` measures the channel-shuffled
model, ``--channel-sum`` the channel-summed one. ``--probe-noise SIGMA`` corrupts every probe with
fixed Gaussian noise of relative size SIGMA, the level of ``train --train-noise SIGMA`` (numba
models). ``--json`` prints ``{"config": ..., "layers":
[{"k": 0, "D", "G", "R", "D_se", "G_se", "R_se"}, ..., {"k": "out"}]}`` (undefined values as
null; deep models add ``name`` and ``depth``); otherwise a table.
"""

import argparse
import dataclasses

import numpy as np

from ..diagnostics.channel_sum import channel_sum
from ..diagnostics.shuffle import MODES as SHUFFLE_MODES
from ..diagnostics.shuffle import shuffle_channels
from ..errors import ScaleDetectError, require, require_choice
from ..extras import require_extra
from ..io import load_npz
from ..nn.io import load_model
from ..nn.pooling import pooling_net
from ..sensitivity import measure
from ._common import (
    add_estimator_args,
    add_net_args,
    add_perturbation_args,
    add_task_args,
    layer_dims,
    net_from_args,
    perturbation_from_args,
    print_json,
    require_probe_memory,
    seed,
    task_from_args,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Task, net, perturbation and estimator flags; the model; images, shuffling, device."""
    add_task_args(p)
    add_net_args(p)
    add_perturbation_args(p)
    add_estimator_args(p)
    g = p.add_argument_group("model (one of)")
    m = g.add_mutually_exclusive_group(required=True)
    m.add_argument("--pooling", action="store_true",
                   help="the idealized pooling net of the net flags (width 1, no bias)")
    m.add_argument("--model", metavar="M.npz",
                   help="a saved model: a numba CNN (scaledetect train) or a deep one "
                        "(scaledetect train --arch), measured at every node")
    d = p.add_argument_group("data and diagnostics")
    d.add_argument("--images", metavar="X.npz",
                   help="measure on your own images: arrays 'images' (n, C, N, N) and optional "
                        "'labels' (n,); needs --diffeo maxent (no feature positions to shift)")
    d.add_argument("--shuffle-channels", type=int, default=0, metavar="0|1|2",
                   help="permute every conv weight's input-channel axis (1) or input and output "
                        "axes (2), one seeded permutation per layer; 0 (default) leaves the "
                        "model as trained")
    d.add_argument("--shuffle-seed", type=seed, default=0,
                   help="seed of the channel permutations (default 0)")
    d.add_argument("--channel-sum", action="store_true",
                   help="measure the channel-summed net: one channel per layer carrying the "
                        "filter summed over input channels and averaged over output channels "
                        "(biases and batch-norm statistics averaged)")
    d.add_argument("--probe-noise", type=float, default=0.0, metavar="SIGMA",
                   help="measure around noise-corrupted probes: every probe x (and its deformed "
                        "and noisy versions) gets one fixed draw of i.i.d. Gaussian noise of "
                        "norm SIGMA ||x|| on average, as in training with --train-noise SIGMA; "
                        "numba models only (default 0: clean probes)")
    d.add_argument("--device", default="cpu",
                   help="where a deep model runs: cpu (default, the tested results), cuda, mps")
    p.add_argument("--probe", type=int, default=None,
                   help="number of probes P (default 4096; with --images, every image)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the probe set (default 0)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="probes per forward pass (default: automatic, ~100 MB)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _images(path: str) -> np.ndarray:
    """The ``images`` array of a user's ``.npz`` (``labels`` optional, checked, unused)."""
    with open(path, "rb") as fh:  # FileNotFoundError / IsADirectoryError: the CLI names the file
        if fh.read(2) != b"PK":
            raise ScaleDetectError(f"images file {path}: not an .npz file (save your images with "
                                   "numpy.savez(path, images=x))")
    try:
        arrays = load_npz(path)
    except ValueError as err:
        raise ScaleDetectError(f"images file {path}: refused ({err}); only numeric arrays "
                               "are read") from None
    except FileNotFoundError:
        raise
    except Exception as err:  # BadZipFile, EOFError, ...
        raise ScaleDetectError(f"images file {path}: not a readable .npz file ({err})") from None
    x = arrays.get("images")
    if x is None:
        raise ScaleDetectError(f"images file {path} must hold an array 'images' (n, C, N, N); "
                               f"got arrays {sorted(arrays)}")
    y = arrays.get("labels")
    require(y is None or np.shape(y) == (len(x),), "labels", f"have shape ({len(x)},) like "
            "images", None if y is None else np.shape(y))
    return x


def _deep_model(path: str):
    """``(module, config)`` of a deep model file, or None for a numba model file."""
    from ..deep.io import is_arch_model

    if not is_arch_model(path):
        return None
    require_extra("torch", f"model {path} (a PyTorch model)")
    from ..deep.io import load_arch_model

    return load_arch_model(path)


def _check_input(path: str, want: tuple, got: tuple, flags: str) -> None:
    if tuple(want) != tuple(got):
        raise ScaleDetectError(f"{flags} must match the model's input: model {path} takes "
                               f"images {tuple(want)}; got {tuple(got)}")


def _require_memory(a, task, images, dims) -> None:
    """Refuse a probe set that cannot fit in memory (``require_probe_memory``)."""
    if task is not None:
        probe, shape = 4096 if a.probe is None else a.probe, task.image_shape
    else:
        probe, shape = len(images) if a.probe is None else a.probe, images.shape[1:]
    require_probe_memory(task, probe, shape, dims, a.batch_size, a.estimator)


def _measure_numba(a, model, task, images, pert):
    if task is not None:
        spec = model.spec
        if (spec.dim, spec.size) != (task.dim, task.size):
            raise ScaleDetectError(
                f"task must match the model's input: model {a.model} takes dim={spec.dim}, "
                f"size={spec.size}; got --dim {task.dim} --size {task.size}")
    else:
        _check_input(a.model or "pooling", (1,) + (model.spec.size,) * model.spec.dim,
                     images.shape[1:], "images")
    require(a.device == "cpu", "device", "be cpu for numba models (it applies to deep models)",
            a.device)
    _require_memory(a, task, images, layer_dims(model.spec))
    model = shuffle_channels(model, a.shuffle_channels, a.shuffle_seed)
    if a.channel_sum:
        model = channel_sum(model)
    return measure(model, task, pert, probe=a.probe, rng=a.seed, estimator=a.estimator,
                   channel_mean=a.channel_mean, batch_size=a.batch_size, images=images,
                   probe_noise=a.probe_noise)


def _measure_deep(a, module, cfg, task, images, pert):
    from ..deep.layers import measure_module

    want = (1, cfg["size"], cfg["size"])
    if task is not None:
        _check_input(a.model, want, task.image_shape, "task (--dim --size)")
    else:
        _check_input(a.model, want, images.shape[1:], "images")
    require(a.probe_noise == 0, "probe-noise", "be 0 for a PyTorch model (it applies to numba "
            "models)", a.probe_noise)
    _require_memory(a, task, images, None)
    module = shuffle_channels(module, a.shuffle_channels, a.shuffle_seed)
    if a.channel_sum:
        module = channel_sum(module)
    res = measure_module(module, task=task, images=images, pert=pert, probe=a.probe,
                         rng=a.seed, estimator=a.estimator, channel_mean=a.channel_mean,
                         batch_size=a.batch_size, device=a.device)
    return dataclasses.replace(res, config={**res.config, "arch": cfg["arch"],
                                            "width_factor": cfg["width_factor"]})


def run(a: argparse.Namespace) -> int:
    """Build task or images, perturbation and model, check they fit, measure, print."""
    require(a.probe is None or a.probe >= 2, "probe", "be an integer >= 2", a.probe)
    require_choice("shuffle-channels", a.shuffle_channels, SHUFFLE_MODES)
    require(bool(np.isfinite(a.probe_noise)) and a.probe_noise >= 0, "probe-noise",
            "be a finite number >= 0", a.probe_noise)
    pert = perturbation_from_args(a)
    deep = None if a.pooling else _deep_model(a.model)
    if a.images is not None:
        require(pert.diffeo == "maxent", "diffeo", "be maxent with --images (your images "
                "carry no feature positions to shift)", pert.diffeo)
        images, task = _images(a.images), None
    else:
        if a.amplitude is None and deep is not None:  # probe at the scale the model learned
            a.amplitude = deep[1].get("task", {}).get("amplitude")
        images, task = None, task_from_args(a)
    if a.pooling:
        res = _measure_numba(a, pooling_net(net_from_args(a, pooling=True)), task, images, pert)
        source = "pooling"
    else:
        res = (_measure_numba(a, load_model(a.model), task, images, pert) if deep is None
               else _measure_deep(a, *deep, task, images, pert))
        source = a.model
    extra = {"model": source}
    if a.shuffle_channels:
        extra["shuffle"] = {"mode": a.shuffle_channels, "seed": a.shuffle_seed}
    if a.channel_sum:
        extra["channel_sum"] = True
    if a.images is not None:
        extra["images_file"] = a.images
    res = dataclasses.replace(res, config={**res.config, **extra})
    if a.json:
        print_json(res.to_dict())
    else:
        print(res.table())
    return 0
