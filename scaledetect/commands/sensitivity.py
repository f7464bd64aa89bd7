"""``scaledetect sensitivity [task] [net] (--pooling | --model M.npz) --probe P --seed S``.

Measures D_k, G_k, R_k at every layer of the idealized pooling net of the
net flags (``--pooling``) or of a saved model (``--model``; its own architecture is used and the
net flags are ignored, the task flags must match its input). ``--json`` prints
``{"config": ..., "layers": [{"k": 0, "D", "G", "R", "D_se", "G_se", "R_se"}, ..., {"k": "out"}]}``
(undefined values as null); otherwise a table.
"""

import argparse
import dataclasses

from ..errors import ScaleDetectError, require
from ..nn.io import load_model
from ..nn.model import pooling_net
from ..sensitivity import measure
from ._common import (
    add_estimator_args,
    add_net_args,
    add_perturbation_args,
    add_task_args,
    net_from_args,
    perturbation_from_args,
    print_json,
    seed,
    task_from_args,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Task, net, perturbation and estimator flags; the model; ``--probe --seed --json``."""
    add_task_args(p)
    add_net_args(p)
    add_perturbation_args(p)
    add_estimator_args(p)
    g = p.add_argument_group("model (one of)")
    m = g.add_mutually_exclusive_group(required=True)
    m.add_argument("--pooling", action="store_true",
                   help="the idealized pooling net of the net flags (width 1, no bias)")
    m.add_argument("--model", metavar="M.npz", help="a saved model (scaledetect train)")
    p.add_argument("--probe", type=int, default=4096, help="number of probes P (default 4096)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the probe set (default 0)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="probes per forward pass (default: automatic, ~100 MB)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(a: argparse.Namespace) -> int:
    """Build task, perturbation and model, check they fit, measure, print."""
    require(a.probe >= 2, "probe", "be an integer >= 2", a.probe)
    task = task_from_args(a)
    pert = perturbation_from_args(a)
    if a.pooling:
        model = pooling_net(net_from_args(a, pooling=True))
        source = "pooling"
    else:
        model = load_model(a.model)
        source = a.model
        spec = model.spec
        if (spec.dim, spec.size) != (task.dim, task.size):
            raise ScaleDetectError(
                f"task must match the model's input: model {a.model} takes dim={spec.dim}, "
                f"size={spec.size}; got --dim {task.dim} --size {task.size}")
    res = measure(model, task, pert, probe=a.probe, rng=a.seed, estimator=a.estimator,
                  channel_mean=a.channel_mean, batch_size=a.batch_size)
    res = dataclasses.replace(res, config={**res.config, "model": source})
    if a.json:
        print_json(res.to_dict())
    else:
        print(res.table())
    return 0
