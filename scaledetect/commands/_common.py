"""Argument groups and argument types shared by the commands: task, net, perturbation, estimator."""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .._memory import require_memory
from ..activations import PARAMETERS
from ..errors import ScaleDetectError, require_int, require_real
from ..io import dumps_json
from ..nn.spec import ACTIVATIONS, PARAMETRIZATIONS, NetSpec
from ..perturb.spec import DIFFEOS, INTERPOLATIONS, NOISE_MATCH, Perturbation
from ..tasks.spec import NORMS, RULES, SHAPES, TaskSpec


def seed(text: str) -> int:
    """Argument type of every ``--seed``: an integer >= 0 (what ``numpy.random.default_rng`` takes).

    Raises ``argparse.ArgumentTypeError`` otherwise, which the parser turns into a one-line error.
    """
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def add_task_args(p: argparse.ArgumentParser) -> None:
    """``--dim --size --shape --rule --xi --gap --norm --periodic --blob-width``."""
    g = p.add_argument_group("task")
    g.add_argument("--dim", type=int, default=1, help="1 or 2 (default 1)")
    g.add_argument("--size", type=int, default=128, help="image side N (default 128)")
    g.add_argument("--shape", default="points", help=f"one of {', '.join(SHAPES)}")
    g.add_argument("--rule", default="block", help=f"one of {', '.join(RULES)}")
    g.add_argument("--xi", type=float, default=None, help="scale xi (default size/4)")
    g.add_argument("--gap", type=float, default=0.0, help="distance rule: excluded band")
    g.add_argument("--norm", default="l2", help=f"2D distance: one of {', '.join(NORMS)}")
    g.add_argument("--periodic", action="store_true", help="distance rule on the torus")
    g.add_argument("--blob-width", type=float, default=1.0, help="blob standard deviation (px)")
    g.add_argument("--amplitude", default=None,
                   help="pixel scale: rms (the mean of x^2 is 1; default) or mean (the mean of x "
                        "is 1, the standard CNNs' convention; default for a model trained so)")


def task_from_args(a: argparse.Namespace) -> TaskSpec:
    """Build (and validate) the ``TaskSpec`` the flags describe."""
    xi = a.xi if a.xi is not None else max(1, a.size // 4)
    if float(xi).is_integer():
        xi = int(xi)
    return TaskSpec(dim=a.dim, size=a.size, shape=a.shape, rule=a.rule, xi=xi, gap=a.gap,
                    norm=a.norm, periodic=a.periodic, blob_width=a.blob_width,
                    amplitude=a.amplitude or "rms")


def add_net_args(p: argparse.ArgumentParser) -> None:
    """``--depth --filter --stride --width --act --negative-slope --bias/--no-bias --param
    --alpha --gain``.
    """
    g = p.add_argument_group("net")
    g.add_argument("--depth", type=int, default=7, help="number of conv layers K (default 7)")
    g.add_argument("--filter", type=int, default=2, help="filter side F (default 2)")
    g.add_argument("--stride", type=int, default=2, help="stride s (default 2)")
    g.add_argument("--width", type=int, default=64, help="channels C (default 64)")
    g.add_argument("--act", default="relu", help=f"one of {', '.join(ACTIVATIONS)} (default relu)")
    slope = PARAMETERS["negative_slope"]
    g.add_argument("--negative-slope", type=float, default=slope,
                   help=f"slope a of phi(x) = a x for x < 0, 0 <= a < 1, for the activations that "
                        f"take one (default {slope:g}, as in PyTorch)")
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True,
                   help="conv biases (default on; the pooling net has none)")
    g.add_argument("--param", default="ntk", help=f"readout: one of {', '.join(PARAMETRIZATIONS)}")
    g.add_argument("--alpha", type=float, default=1.0, help="output scale alpha (default 1)")
    g.add_argument("--gain", type=float, default=1.0, help="multiplier after each activation")


def net_from_args(a: argparse.Namespace, pooling: bool = False) -> NetSpec:
    """Build the ``NetSpec``; ``pooling=True`` forces width 1, no bias and gain 1 (the idealized
    net), after checking the flags it overrides like the others.
    """
    if pooling:
        require_int("width", a.width, 1)
        if a.gain is not None:
            require_real("gain", a.gain)
    return NetSpec(dim=a.dim, size=a.size, depth=a.depth, filter=a.filter, stride=a.stride,
                   width=1 if pooling else a.width, act=a.act, bias=False if pooling else a.bias,
                   param=a.param, alpha=a.alpha, gain=1.0 if pooling else a.gain,
                   negative_slope=a.negative_slope)


def add_perturbation_args(p: argparse.ArgumentParser) -> None:
    """``--diffeo --delta --temperature --cutoff --interp --noise-match``."""
    g = p.add_argument_group("perturbations")
    g.add_argument("--diffeo", default="shift", help=f"one of {', '.join(DIFFEOS)}")
    g.add_argument("--delta", type=float, default=1.0, help="blob shift length (px)")
    g.add_argument("--temperature", type=float, default=None, help="maxent temperature T")
    g.add_argument("--cutoff", type=float, default=3.0, help="maxent cutoff (default 3)")
    g.add_argument("--interp", default="linear", help=f"one of {', '.join(INTERPOLATIONS)}")
    g.add_argument("--noise-match", default="batch", help=f"one of {', '.join(NOISE_MATCH)}")


def perturbation_from_args(a: argparse.Namespace) -> Perturbation:
    """Build the ``Perturbation`` the flags describe."""
    return Perturbation(diffeo=a.diffeo, delta=a.delta, temperature=a.temperature,
                        cutoff=a.cutoff, interp=a.interp, noise_match=a.noise_match)


def add_estimator_args(p: argparse.ArgumentParser) -> None:
    """``--estimator mean|median --channel-mean``."""
    g = p.add_argument_group("estimator")
    g.add_argument("--estimator", default="mean", help="mean or median")
    g.add_argument("--channel-mean", action="store_true",
                   help="average each representation over channels first")


def print_json(obj: object) -> None:
    """Print one JSON object on stdout: standard JSON, NaN and inf as ``null`` (``dumps_json``)."""
    sys.stdout.write(dumps_json(obj) + "\n")


# ------------------------------------------------------------------ output paths
def check_output(flag: str, path: str, inputs: dict[str, str | None], folder: bool = False,
                 ) -> None:
    """Refuse, before any work, an output path that would lose data or cannot be written.

    Parameters
    ----------
    flag : str
        The option naming the output (``--out``).
    path : str
        The output: a file (``folder=False``) or a folder the command writes files into.
    inputs : dict
        Option -> path of every file the command reads (None: not given). The output may not
        be one of them (compared as resolved paths, ``os.path.samefile`` where both exist, so
        ``./m.npz``, a symbolic or a hard link count as the same file).
    folder : bool
        Whether *path* is a folder.

    Raises
    ------
    ScaleDetectError
        One line naming the flag: the output equals an input (writing it would replace the
        input), a folder where a file is expected or a file where a folder is, or a parent
        that is a file.
    """
    out = Path(path)
    name = flag.lstrip("-")
    if folder and out.exists() and not out.is_dir():
        raise ScaleDetectError(f"{name} must be a folder; got {name}={path!r} (an existing file)")
    if not folder and out.is_dir():
        raise ScaleDetectError(f"{name} must be a file name; got {name}={path!r} (an existing "
                               "folder)")
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ScaleDetectError(f"{name} must be inside a folder; got {name}={path!r} "
                                       f"({parent} is a file)")
            break
    for other, given in inputs.items():
        if given is not None and _same_file(out, Path(given)):
            raise ScaleDetectError(f"{name} must differ from {other} (writing {name} would "
                                   f"replace it); got {name}={path!r}, {other} {given!r}")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


# ------------------------------------------------------------------ memory estimates
#: Bytes per pixel the exact theory holds at its peak (measured on 1D N = 2^20 - 2^22 and 2D
#: N = 512 - 2048: 0.8 kB (1D block), 3 kB (1D distance), 85 B (2D block), 750 B (2D
#: distance)), rounded up.
THEORY_BYTES_PER_PIXEL = {(1, "block"): 1000, (1, "distance"): 4000, (2, "block"): 150,
                          (2, "distance"): 1000}


def layer_dims(spec: NetSpec) -> list[int]:
    """Flattened sizes of every layer of a net: ``N^dim``, ``C N_k^dim`` for k = 1..K, 1."""
    return ([spec.size ** spec.dim] + [spec.width * n ** spec.dim for n in spec.sizes[1:]]
            + [1])


def positions_bytes(task: TaskSpec, n: int) -> float:
    """Sampled feature positions of *n* configurations: float64 ``(n, 2, p)`` with the copies
    the class-balanced sampler makes (about four).
    """
    return 4.0 * n * 2 * task.coords * 8


def require_data_memory(task: TaskSpec, count: int) -> None:
    """``data``: *count* float32 images (and one copy while rendering) and their positions."""
    pixels = task.size ** task.dim
    need = count * (2.0 * pixels * 4 + 16) + positions_bytes(task, count)
    require_memory("the data set", need, f"count={count}, size={task.size}, dim={task.dim}")


def require_train_memory(task: TaskSpec, n_train: int, n_test: int, itemsize: int) -> None:
    """``train``: training and test images in the model dtype (three copies: rendered float32,
    converted, noisy) and their positions.
    """
    n = n_train + n_test
    need = n * 3.0 * task.size ** task.dim * max(itemsize, 4) + positions_bytes(task, n)
    require_memory("the training and test sets", need,
                   f"n-train={n_train}, n-test={n_test}, size={task.size}, dim={task.dim}")


def require_probe_memory(task: TaskSpec | None, probe: int, image_shape: tuple,
                         dims: list[int] | None, batch_size: int | None,
                         estimator: str) -> None:
    """``sensitivity``: the probe positions, the batches in flight (clean, deformed and noisy
    images and every layer of each, three batches at once; a 2D pooling net of 33 layers of
    16,384 units with 256-probe batches: 10 GB estimated, 9.3 GB measured) and, for the median
    estimator, every layer of every probe (``MedianCollector``). *dims*: flattened layer
    sizes d_k (None: unknown, images only).
    """
    pixels = float(np.prod(image_shape))
    layers = float(sum(dims)) if dims else 0.0
    if batch_size is None:  # as measure's automatic choice: ~96 MB, at least 256 probes
        per = max(layers, pixels) * 3 * 8 * 3
        batch_size = int(min(8192, max(256, (96 * 2**20 // per) // 256 * 256)))
    batch = min(-(-batch_size // 256) * 256, probe)
    need = 3.0 * batch * 3 * (pixels * 4 + layers * 8)
    if task is not None:
        need += positions_bytes(task, probe)
    if estimator == "median":
        need += 3.0 * probe * layers * 8 + 4.0 * probe * (probe - 1)
    require_memory("the probe set and its batches", need,
                   f"probe={probe}, image shape {tuple(image_shape)}")


def require_theory_memory(task: TaskSpec) -> None:
    """``theory``: the exact sums, about ``THEORY_BYTES_PER_PIXEL`` bytes per pixel."""
    need = THEORY_BYTES_PER_PIXEL[(task.dim, task.rule)] * float(task.size) ** task.dim
    require_memory("the exact theory", need, f"size={task.size}, dim={task.dim}")


def require_nngp_memory(task: TaskSpec, n_noise: int) -> None:
    """``theory --init``: the noise draws (4 arrays of ``n_noise`` images in float64) and the
    enumerated configurations: their images ``X (M, N^dim)``, their shift outcomes
    ``O (M, m, N^dim)`` and ``O - X`` (m = 4 outcomes in 1D and for stripes, 16 for 2D points).
    """
    from ..tasks.configs import MAX_PAIRS, n_pairs

    pixels = float(task.size) ** task.dim
    m = 16 if task.coords == 2 else 4
    configs = min(n_pairs(task), MAX_PAIRS)
    need = 4.0 * n_noise * pixels * 8 + (1 + 2 * m) * configs * pixels * 8
    require_memory("the noise draws and configurations", need,
                   f"noise-draws={n_noise}, size={task.size}, dim={task.dim}")
