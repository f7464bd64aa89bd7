"""Experiments as data: a ``Run`` is one measurement, identified by a hash of its configuration."""

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import require
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec


@dataclass(frozen=True)
class Run:
    """One run: a measurement (or prediction) of D_k, G_k, R_k, with training where its kind has it.

    Attributes
    ----------
    kind : str
        A registered run kind (``experiments.kinds.KINDS``: ``theory``, ``nngp``, ``pooling``,
        ``init``, ``train``, ``deep``), which says what the run computes and which record it
        produces.
    task, pert : TaskSpec, Perturbation
        What is measured.
    net : NetSpec or None
        The net, for the kinds that take one (``RunKind.takes_net``).
    probe : int
        Probe-set size P for Monte Carlo kinds.
    seed : int
        Seed of everything random in the run (initialization, training data, probes).
    train : TrainSpec, DeepTrainSpec or None
        How to train, for the training kinds: an instance of the kind's ``train_spec``.
    """

    kind: str
    task: TaskSpec
    net: NetSpec | None = None
    pert: Perturbation = field(default_factory=Perturbation)
    probe: int = 4096
    seed: int = 0
    train: object = None

    def __post_init__(self):
        from .kinds import kind_of

        kind = kind_of(self)
        require(isinstance(self.task, TaskSpec), "task", "be a TaskSpec", self.task)
        require(isinstance(self.pert, Perturbation), "pert", "be a Perturbation", self.pert)
        require((self.net is not None) == kind.takes_net, "net",
                "be a NetSpec" if kind.takes_net else "be None", self.net, f"kind={self.kind}")
        require(self.net is None or isinstance(self.net, NetSpec), "net", "be a NetSpec",
                self.net)
        spec = kind.train_spec
        require(self.train is None if spec is None else isinstance(self.train, spec), "train",
                "be None" if spec is None else f"be a {spec.__name__}", self.train,
                f"kind={self.kind}")

    def to_dict(self) -> dict:
        """Plain-JSON description: the identity of the run."""
        return {"kind": self.kind, "task": self.task.to_dict(),
                "net": None if self.net is None else self.net.to_dict(),
                "pert": self.pert.to_dict(), "probe": self.probe, "seed": self.seed,
                "train": None if self.train is None else self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Run":
        """Inverse of ``to_dict``."""
        from .kinds import KINDS

        require(d.get("kind") in KINDS, "kind", "be one of " + ", ".join(KINDS), d.get("kind"))
        spec = KINDS[d["kind"]].train_spec
        net = None if d["net"] is None else NetSpec(**d["net"])
        return cls(kind=d["kind"], task=TaskSpec(**d["task"]), net=net,
                   pert=Perturbation(**d["pert"]), probe=d["probe"], seed=d["seed"],
                   train=None if spec is None else spec(**d["train"]))

    @property
    def key(self) -> str:
        """Hex SHA-256 (first 16 digits) of the canonical JSON of ``to_dict()``: the cache key."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """A short name for progress displays (the architecture or the activation)."""
        return getattr(self.train, "arch", None) or (self.net.act if self.net else self.kind)
