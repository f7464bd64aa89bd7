"""How to train a standard architecture: ``DeepTrainSpec`` and the per-architecture defaults.

Importable without PyTorch (a run of the ``deep`` kind carries a ``DeepTrainSpec``; reading its
cached result needs no torch). The measurements behind ``ARCH_DEFAULTS`` are in
``scaledetect.deep.train``'s documentation.
"""

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..errors import require, require_choice, require_int

#: The architectures of ``deep.archs.build`` (CIFAR-style forms, one input channel).
ARCHS = ("vgg11", "vgg11bn", "vgg13bn", "vgg16bn", "vgg19bn", "resnet18", "resnet34",
         "resnet50", "alexnet", "lenet", "efficientnetb0")

#: Per-architecture defaults (see the module docstring for the measurements behind them).
ARCH_DEFAULTS = {a: {"lr": 0.05, "epochs": 30, "init": "default"} for a in ARCHS}
ARCH_DEFAULTS["lenet"] = {"lr": 0.01, "epochs": 20, "init": "default"}
ARCH_DEFAULTS["vgg11"] = {"lr": 0.01, "epochs": 20, "init": "kaiming"}
ARCH_DEFAULTS["alexnet"] = {"lr": 0.01, "epochs": 30, "init": "kaiming"}
for _a in ("resnet18", "resnet34", "resnet50"):
    ARCH_DEFAULTS[_a] = {"lr": 0.05, "epochs": 20, "init": "default"}
INITS = ("default", "kaiming")
SCHEDULES = ("cosine", "constant")
DEVICES = ("cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeepTrainSpec:
    """How to train an architecture.

    Attributes
    ----------
    arch : str
        One of ``ARCHS``.
    width_factor : float
        Channel multiplier (> 0).
    n_train, n_test : int
        Sizes of the disjoint training and test sets (``n_test`` >= 1: it selects the model).
    batch_size : int
        Mini-batch size (128); a fresh seeded permutation each epoch, the last batch smaller.
    lr, epochs, init : None or value
        ``None``: the architecture's default (``ARCH_DEFAULTS``). ``init`` is ``default``
        (PyTorch's) or ``kaiming`` (conv weights N(0, 2 / (C_out k^2)), i.e. Kaiming fan-out for
        ReLU, and zero conv biases).
    momentum, weight_decay : float
        SGD heavy-ball momentum (0.9) and L2 weight decay on every parameter (5e-4).
    schedule : str
        ``cosine`` (``lr_e = lr (1 + cos(pi e / epochs)) / 2`` in epoch e = 0..epochs-1) or
        ``constant``.
    train_noise : float
        Relative Gaussian noise sigma (``perturb.corrupt``): a fresh draw on the training images
        every epoch, one fixed draw on the test images; 0 = clean.
    checkpoint_every : int
        Epochs between checkpoints (when training has an output folder).
    data_seed : int or None
        Seed of the data sets; ``None`` derives it from the training seed.
    """

    arch: str = "lenet"
    width_factor: float = 1.0
    n_train: int = 1024
    n_test: int = 1024
    batch_size: int = 128
    lr: float | None = None
    epochs: int | None = None
    init: str | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    train_noise: float = 0.0
    checkpoint_every: int = 5
    data_seed: int | None = None

    def __post_init__(self):
        require_choice("arch", self.arch, ARCHS)
        require(_num(self.width_factor) and self.width_factor > 0, "width_factor",
                "be a number > 0", self.width_factor)
        for name, low in (("n_train", 1), ("n_test", 1), ("batch_size", 1),
                          ("checkpoint_every", 1)):
            require_int(name, getattr(self, name), low)
        if self.epochs is not None:
            require_int("epochs", self.epochs, 1)
        if self.lr is not None:
            require(_num(self.lr) and self.lr > 0, "lr", "be a finite number > 0", self.lr)
        if self.init is not None:
            require_choice("init", self.init, INITS)
        require(_num(self.momentum) and 0 <= self.momentum < 1, "momentum",
                "satisfy 0 <= momentum < 1", self.momentum)
        require(_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
                "be a finite number >= 0", self.weight_decay)
        require_choice("schedule", self.schedule, SCHEDULES)
        require(_num(self.train_noise) and self.train_noise >= 0, "train_noise",
                "be a finite number >= 0", self.train_noise)
        if self.data_seed is not None:
            require_int("data_seed", self.data_seed, 0)

    def resolved(self) -> "DeepTrainSpec":
        """A copy with ``lr``, ``epochs`` and ``init`` filled in from ``ARCH_DEFAULTS``."""
        d = ARCH_DEFAULTS[self.arch]
        return replace(self, lr=d["lr"] if self.lr is None else float(self.lr),
                       epochs=d["epochs"] if self.epochs is None else self.epochs,
                       init=d["init"] if self.init is None else self.init)

    def to_dict(self) -> dict:
        """Plain-JSON description."""
        return asdict(self)




def _num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(v)
