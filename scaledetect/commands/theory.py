"""``scaledetect theory``: exact predictions for the pooling net, NNGP at init, symbolic forms."""

import argparse
import dataclasses
import math

from ..errors import require
from ..perturb.spec import SHIFT_RULES
from . import _common


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Task, net and perturbation flags, ``--json``, ``--init``, ``--symbolic [--latex]``."""
    _common.add_task_args(p)
    _common.add_net_args(p)
    _common.add_perturbation_args(p)
    g = p.add_argument_group("theory")
    g.add_argument("--shift-rule", default="auto",
                   help=f"which shift moves are undone, one of {', '.join(SHIFT_RULES)} (auto: a "
                   "move out of the feature's block, block rule; one that changes the label or "
                   "enters the gap, distance rule; label: any label change; authors2d: 2D "
                   "points moved along a rounded random unit vector, labels not preserved)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--init", action="store_true",
                   help="infinite-width (NNGP) prediction for the trainable net at initialization")
    g.add_argument("--bias-std", type=float, default=1.0,
                   help="--init: standard deviation of the conv biases (default 1)")
    g.add_argument("--noise-draws", type=int, default=4096,
                   help="--init: Monte Carlo draws of the noise (default 4096)")
    g.add_argument("--seed", type=_common.seed, default=0, help="--init: seed of the noise draws")
    g.add_argument("--symbolic", action="store_true",
                   help="print the closed forms of the leading behaviour in depth")
    g.add_argument("--latex", action="store_true", help="--symbolic: LaTeX instead of plain text")


def run(args: argparse.Namespace) -> int:
    """Compute and print; returns the exit status."""
    if args.symbolic:
        from ..theory import symbolic

        print(symbolic.render(latex=args.latex))
        return 0
    task = _common.task_from_args(args)
    pert = dataclasses.replace(_common.perturbation_from_args(args), shift_rule=args.shift_rule)
    if args.init:
        from ..theory import nngp

        require(math.isfinite(args.bias_std) and args.bias_std >= 0, "bias-std",
                "be a finite number >= 0", args.bias_std)
        require(args.noise_draws >= 2, "noise-draws", "be an integer >= 2", args.noise_draws)
        net = _common.net_from_args(args, pooling=False)
        _common.require_nngp_memory(task, args.noise_draws)
        res = nngp(task, net, pert, bias_std=args.bias_std, n_noise=args.noise_draws,
                   rng=args.seed)
    else:
        from ..theory import predict

        net = _common.net_from_args(args, pooling=True)
        _common.require_theory_memory(task)
        res = predict(task, net, pert)
    if args.json:
        _common.print_json(res.to_dict())
    else:
        print(res.table())
    return 0
