"""Experiments as data: a ``Run`` is one measurement, identified by a hash of its configuration."""

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import require, require_choice
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec

KINDS = ("theory", "nngp", "pooling", "init", "train", "deep")


@dataclass(frozen=True)
class Run:
    """One measurement of D_k, G_k, R_k.

    Attributes
    ----------
    kind : str
        ``theory`` (exact pooling-net prediction), ``nngp`` (infinite width at initialization),
        ``pooling`` (Monte Carlo on the pooling net), ``init`` (Monte Carlo on a random CNN),
        ``train`` (train a CNN, then measure it at initialization and after training),
        ``deep`` (train a standard architecture with PyTorch and measure every node; see
        ``experiments.deep``).
    task, net, pert : TaskSpec, NetSpec (None for ``deep``), Perturbation
        What is measured.
    probe : int
        Probe-set size P for Monte Carlo kinds.
    seed : int
        Seed of everything random in the run (initialization, training data, probes).
    train : dict
        ``TrainSpec`` fields for ``kind="train"``, ``DeepTrainSpec`` fields for ``deep`` (empty
        otherwise).
    tag : str
        Free label used by figures to select runs (not part of the identity).
    """

    kind: str
    task: TaskSpec
    net: NetSpec | None
    pert: Perturbation = field(default_factory=Perturbation)
    probe: int = 4096
    seed: int = 0
    train: dict = field(default_factory=dict)
    tag: str = field(default="", compare=False)

    def __post_init__(self):
        require_choice("kind", self.kind, KINDS)
        require((self.net is None) == (self.kind == "deep"), "net",
                "be None for kind=deep and a NetSpec otherwise", self.net, f"kind={self.kind}")

    def to_dict(self) -> dict:
        """Plain-JSON description (the identity of the run, without ``tag``)."""
        net = None if self.net is None else self.net.to_dict()
        return {"kind": self.kind, "task": self.task.to_dict(), "net": net,
                "pert": self.pert.to_dict(), "probe": self.probe, "seed": self.seed,
                "train": dict(sorted(self.train.items()))}

    @classmethod
    def from_dict(cls, d: dict, tag: str = "") -> "Run":
        """Inverse of ``to_dict``."""
        net = None if d["net"] is None else NetSpec(**d["net"])
        return cls(kind=d["kind"], task=TaskSpec(**d["task"]), net=net,
                   pert=Perturbation(**d["pert"]), probe=d["probe"], seed=d["seed"],
                   train=dict(d.get("train", {})), tag=tag)

    @property
    def key(self) -> str:
        """Hex SHA-256 (first 16 digits) of the canonical JSON of ``to_dict()``: the cache key."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
