"""Argument groups and argument types shared by the commands: task, net, perturbation, estimator."""

import argparse
import sys

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
    """``--depth --filter --stride --width --act --bias/--no-bias --param --alpha --gain``."""
    g = p.add_argument_group("net")
    g.add_argument("--depth", type=int, default=7, help="number of conv layers K (default 7)")
    g.add_argument("--filter", type=int, default=2, help="filter side F (default 2)")
    g.add_argument("--stride", type=int, default=2, help="stride s (default 2)")
    g.add_argument("--width", type=int, default=64, help="channels C (default 64)")
    g.add_argument("--act", default="relu", help=f"one of {', '.join(ACTIVATIONS)}")
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True,
                   help="conv biases (default on; the pooling net has none)")
    g.add_argument("--param", default="ntk", help=f"readout: one of {', '.join(PARAMETRIZATIONS)}")
    g.add_argument("--alpha", type=float, default=1.0, help="output scale alpha (default 1)")
    g.add_argument("--gain", type=float, default=1.0, help="multiplier after each activation")


def net_from_args(a: argparse.Namespace, pooling: bool = False) -> NetSpec:
    """Build the ``NetSpec``; ``pooling=True`` forces width 1 and no bias (the idealized net)."""
    return NetSpec(dim=a.dim, size=a.size, depth=a.depth, filter=a.filter, stride=a.stride,
                   width=1 if pooling else a.width, act=a.act, bias=False if pooling else a.bias,
                   param=a.param, alpha=a.alpha, gain=1.0 if pooling else a.gain)


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
