"""Experiments as data: a ``Run`` is one measurement, identified by a hash of its configuration."""

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import require_choice
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec

KINDS = ("theory", "nngp", "pooling", "init", "train")


@dataclass(frozen=True)
class Run:
    """One measurement of D_k, G_k, R_k.

    Attributes
    ----------
    kind : str
        ``theory`` (exact pooling-net prediction), ``nngp`` (infinite width at initialization),
        ``pooling`` (Monte Carlo on the pooling net), ``init`` (Monte Carlo on a random CNN),
        ``train`` (train a CNN, then measure it at initialization and after training).
    task, net, pert : TaskSpec, NetSpec, Perturbation
        What is measured.
    probe : int
        Probe-set size P for Monte Carlo kinds.
    seed : int
        Seed of everything random in the run (initialization, training data, probes).
    train : dict
        ``TrainSpec`` fields for ``kind="train"`` (empty otherwise).
    tag : str
        Free label used by figures to select runs (not part of the identity).
    """

    kind: str
    task: TaskSpec
    net: NetSpec
    pert: Perturbation = field(default_factory=Perturbation)
    probe: int = 4096
    seed: int = 0
    train: dict = field(default_factory=dict)
    tag: str = field(default="", compare=False)

    def __post_init__(self):
        require_choice("kind", self.kind, KINDS)

    def to_dict(self) -> dict:
        """Plain-JSON description (the identity of the run, without ``tag``)."""
        return {"kind": self.kind, "task": self.task.to_dict(), "net": self.net.to_dict(),
                "pert": self.pert.to_dict(), "probe": self.probe, "seed": self.seed,
                "train": dict(sorted(self.train.items()))}

    @classmethod
    def from_dict(cls, d: dict, tag: str = "") -> "Run":
        """Inverse of ``to_dict``."""
        return cls(kind=d["kind"], task=TaskSpec(**d["task"]), net=NetSpec(**d["net"]),
                   pert=Perturbation(**d["pert"]), probe=d["probe"], seed=d["seed"],
                   train=dict(d.get("train", {})), tag=tag)

    @property
    def key(self) -> str:
        """Hex SHA-256 (first 16 digits) of the canonical JSON of ``to_dict()``: the cache key."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
