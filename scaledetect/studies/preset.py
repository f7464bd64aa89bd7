"""Presets: how big every study runs (``tiny`` for tests, ``quick`` for a laptop, ``paper``).

``quick`` fits in 10 minutes on 2 cores (JIT included); ``paper`` is the full set (more seeds,
larger probe sets, dim-2 training). The studies read these knobs and the run builders below, so
that runs shared between figures are built once, identically (the same ``Run.key``).
"""

from dataclasses import dataclass, replace

from ..errors import require_choice
from ..experiments.config import Run
from ..nn.spec import NetSpec
from ..nn.train import TrainSpec, recipe_net
from ..tasks.spec import TaskSpec

PRESETS = ("tiny", "quick", "paper")

#: The trained-network setting (SPEC section 8): 1D block task, N = 128, xi = 32, K = 7, F = s = 2.
TRAIN_TASK = TaskSpec(dim=1, size=128, rule="block", xi=32)


@dataclass(frozen=True)
class Preset:
    """The knobs of one preset (see the module docstring).

    Attributes
    ----------
    name : str
        ``tiny``, ``quick`` or ``paper``.
    """

    name: str

    def __post_init__(self):
        require_choice("preset", self.name, PRESETS)

    @property
    def tiny(self) -> bool:
        """The preset of the tests (seconds, not minutes)."""
        return self.name == "tiny"

    @property
    def paper(self) -> bool:
        """The full preset."""
        return self.name == "paper"

    @property
    def seeds(self) -> range:
        """Seeds of the trained nets."""
        return range(2 if self.tiny else 10 if self.paper else 5)

    @property
    def probe_mc(self) -> int:
        """Probes of a pooling-net Monte Carlo."""
        return 2000 if self.tiny else 200_000 if self.paper else 40_000

    @property
    def probe_trained(self) -> int:
        """Probes of a trained net's measurement."""
        return 512 if self.tiny else 8192 if self.paper else 2048

    @property
    def width(self) -> int:
        """Channels of the trained nets."""
        return 16 if self.tiny else 64

    @property
    def train_task(self) -> TaskSpec:
        """The trained nets' task: tiny trains the tour's net (N = 32, xi = 8, K = 5), which
        learns in a fraction of a second.
        """
        return TaskSpec(dim=1, size=32, rule="block", xi=8) if self.tiny else TRAIN_TASK

    @property
    def train_depth(self) -> int:
        """Depth K of the trained nets."""
        return 5 if self.tiny else 7

    @property
    def train(self) -> TrainSpec:
        """Training of the recipe nets (SPEC section 8; tiny continues 2x, not 20x)."""
        n = 256 if self.tiny else 1024
        return TrainSpec(n_train=n, n_test=n, continue_factor=2.0 if self.tiny else 20.0,
                         max_epochs=100 if self.tiny else 2000)


def pooling_spec(dim: int, size: int, depth: int, filter: int, stride: int,  # noqa: A002
                 act: str = "relu") -> NetSpec:
    """The idealized pooling net: one channel, no bias."""
    return NetSpec(dim=dim, size=size, depth=depth, filter=filter, stride=stride, width=1,
                   act=act, bias=False)


def theory_and_mc(task: TaskSpec, net: NetSpec, probe: int, seed: int = 1) -> tuple[Run, Run]:
    """The exact prediction and the Monte Carlo measurement of one pooling net."""
    return Run("theory", task, net), Run("pooling", task, net, probe=probe, seed=seed)


def trained(p: Preset, act: str = "relu", task: TaskSpec | None = None, **net_kw) -> tuple:
    """The recipe net with activation *act* trained on *task* (default the preset's), one run
    per seed.

    tanh nets draw their conv biases with std 0.1, not 1: with 1, seed 1 sits at train error
    0.5 past epoch 2000 (seed 0 fits at 176); with 0.1 seeds 0-9 of the quick net interpolate at
    epochs 36 30 38 30 34 35 30 40 25 30 (measured). quick then trains 1x more, paper 10x (not
    ReLU's 20x: 10x took 15 CPU-minutes for its 10 seeds, measured).
    """
    task = task or p.train_task
    net = recipe_net(act=act, size=task.size, **{"depth": p.train_depth, "width": p.width,
                                                 **net_kw})
    spec = p.train
    if act == "tanh":
        spec = replace(spec, max_epochs=4000 if p.paper else 400 if p.tiny else 300,
                       continue_factor=10.0 if p.paper else 1.0, bias_std=0.1)
    return tuple(Run("train", task, net, probe=p.probe_trained, seed=s, train=spec)
                 for s in p.seeds)


def nngp_of(p: Preset, act: str = "relu") -> Run:
    """The infinite-width prediction at initialization for the recipe net (ReLU only: the tanh
    NNGP, a Gauss-Hermite product rule per position pair, takes minutes even at N = 128).
    """
    return Run("nngp", p.train_task, trained(p, act)[0].net)


def temperatures(size: int, n: int, cutoff: float = 3.0) -> list[float]:
    """``n`` temperatures log-spaced across ``temperature_range(size, cutoff)``."""
    from ..perturb import temperature_range

    lo, hi = temperature_range(size, cutoff)
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
