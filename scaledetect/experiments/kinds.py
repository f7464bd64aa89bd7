"""The run-kind registry: what each kind of run computes, produces, costs and depends on.

Every other module asks a run's kind (``kind_of(run)``) instead of comparing kind names: a new
kind of run is one ``register`` call, with its execute function, record type, cost model and
code roots, and nothing else changes.
"""

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import require
from . import cost
from .records import DeepTrained, Profile, RandomNet, Trained
from .version import code_version, source_files


@dataclass(frozen=True)
class RunKind:
    """One kind of run.

    Attributes
    ----------
    name : str
        The ``Run.kind`` value.
    computes : str
        One sentence: what a run of this kind does.
    record : type
        Its result record (``experiments.records``).
    execute : str
        ``"module:function"`` computing the record: ``function(run, workdir, on_epoch)``
        (imported when a run executes, so that optional backends load only then).
    roots : tuple of str
        Modules whose source, with everything they import, is the code version of the kind's
        results (``experiments.version``).
    cost : callable
        ``cost(run)``: expected single-thread seconds (the progress bar's weights).
    priority : int
        Scheduling rank, smallest first (runs of one rank start by decreasing cost, so that the
        pool drains evenly).
    takes_net : bool
        Whether ``Run.net`` is a NetSpec (else None).
    train_spec_path : str or None
        ``"module:class"`` of ``Run.train`` for the training kinds (``train_spec``: the class).
    epochs : callable or None
        ``epochs(run)``: expected training epochs (progress within a run), training kinds only.
    backend : str
        ``numba`` or ``torch`` (the optional PyTorch extra).
    """

    name: str
    computes: str
    record: type
    execute: str
    roots: tuple
    cost: Callable
    priority: int
    takes_net: bool = True
    train_spec_path: str | None = None
    epochs: Callable | None = None
    backend: str = "numba"

    @property
    def train_spec(self) -> type | None:
        """The class of ``Run.train`` (None for kinds without training)."""
        return None if self.train_spec_path is None else _load(self.train_spec_path)

    @property
    def trains(self) -> bool:
        """Whether runs of this kind train (and so checkpoint into a work folder)."""
        return self.train_spec_path is not None

    def run(self, run, workdir=None, on_epoch=None):
        """Compute the record of *run*."""
        return _load(self.execute)(run, workdir, on_epoch)

    def version(self) -> str:
        """Hash of the code this kind's results depend on (``version.code_version``)."""
        return code_version(self.roots)

    def source_files(self) -> set:
        """The source files that code is (``version.source_files``)."""
        return source_files(self.roots)


@functools.cache
def _load(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


KINDS: dict[str, RunKind] = {}


def register(kind: RunKind) -> RunKind:
    """Add *kind* to ``KINDS`` (its name must be new)."""
    require(kind.name not in KINDS, "kind.name", "be new", kind.name)
    KINDS[kind.name] = kind
    return kind


def kind_of(run) -> RunKind:
    """The registered kind of *run* (a one-line error naming the known kinds otherwise)."""
    require(run.kind in KINDS, "kind", "be one of " + ", ".join(KINDS), run.kind)
    return KINDS[run.kind]


_EXEC = "scaledetect.experiments.compute"
# the diagnostics a numba run computes (spectra, the channel sum) and the CNN's weights backend;
# not the diagnostics package as a whole, whose shuffling only PyTorch runs use
_MEASURE = ("scaledetect.sensitivity", "scaledetect.nn.model", "scaledetect.nn.pooling",
            "scaledetect.nn.filters",
            "scaledetect.diagnostics.spectrum", "scaledetect.diagnostics.channel_sum",
            "scaledetect.nn.weights")

# priorities: training first (the longest runs), then the NNGP, Monte Carlo and theory
register(RunKind(
    "theory", "exact D_k, G_k, R_k of the idealized pooling net (theory.predict)", Profile,
    f"{_EXEC}:run_theory", ("scaledetect.theory",), cost.theory_seconds, 3))
register(RunKind(
    "nngp", "the infinite-width prediction at initialization (theory.nngp)", Profile,
    f"{_EXEC}:run_nngp", ("scaledetect.theory",), cost.nngp_seconds, 1))
register(RunKind(
    "pooling", "Monte Carlo measurement of the idealized pooling net", Profile,
    f"{_EXEC}:run_pooling", _MEASURE, cost.measure_seconds, 2))
register(RunKind(
    "init", "Monte Carlo measurement of a randomly initialized CNN", RandomNet,
    f"{_EXEC}:run_init", _MEASURE, cost.measure_seconds, 2))
register(RunKind(
    "train", "train a numba CNN, then measure it at initialization and trained", Trained,
    f"{_EXEC}:run_train", (*_MEASURE, "scaledetect.nn.train"), cost.train_seconds, 0,
    train_spec_path="scaledetect.nn.train:TrainSpec", epochs=cost.train_epochs))
register(RunKind(
    "deep", "train a standard architecture (PyTorch) and measure every node of its forward "
    "pass: initialization, trained, channels shuffled", DeepTrained,
    "scaledetect.experiments.deep:run_deep",
    (*_MEASURE, "scaledetect.diagnostics.shuffle", "scaledetect.experiments.deep",
     "scaledetect.deep"), cost.deep_seconds, 0,
    takes_net=False, train_spec_path="scaledetect.deep.spec:DeepTrainSpec",
    epochs=cost.deep_epochs, backend="torch"))
