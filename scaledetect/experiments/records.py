"""Typed, versioned results of every run kind: written by the runner, read by figures and report.

A finished run is stored as a JSON envelope and an ``.npz`` of arrays (``Cache``)::

    {"schema": SCHEMA, "run": Run.to_dict(), "version": <code hash>, "seconds": ...,
     "record": <the kind's record as JSON>}

Each run kind (``experiments.kinds``) names its record type; every record is a frozen dataclass
with ``to_json() -> (dict, arrays)`` and ``from_json(dict, arrays)``, and ``states()``: its
measurements by name (``init``, ``trained``, ``shuffled``), which is all the tidy CSV needs.
Derived quantities (the constant-mode fraction of the filter power, the test error of the kept
model) are methods here, computed in one place.
"""

import abc
import typing
from dataclasses import dataclass, field, fields

import numpy as np

from ..diagnostics.spectrum import LayerSpectrum
from ..errors import ScaleDetectError
from ..sensitivity.result import Sensitivities
from ..training.history import TrainHistory

#: Version of the stored layout; a result written with another one is computed again.
SCHEMA = 1


@dataclass(frozen=True)
class FilterStats:
    """Filter statistics of one net (SPEC section 10).

    Attributes
    ----------
    spectra : tuple of LayerSpectrum
        Per conv layer, the mean filter power on each grid-Laplacian mode.
    conv1 : ndarray (C, 1, F[, F]) or None
        The first layer's raw weights (numba CNNs; F11's filter panel).
    uniform_share : ndarray (K,) or None
        ``nn.filters.uniform_share`` of every layer (numba CNNs).
    """

    spectra: tuple
    conv1: np.ndarray | None = None
    uniform_share: np.ndarray | None = None

    @classmethod
    def of(cls, model, first_layer: bool = True) -> "FilterStats":
        """The statistics of *model* (a numba CNN with *first_layer*, or any model
        ``diagnostics.spectrum.spectra`` reads).
        """
        from ..diagnostics.filters import uniform_share
        from ..diagnostics.spectrum import spectra

        layers = tuple(spectra(model))
        if not first_layer:
            return cls(layers)
        weights = [model.params[f"conv{k}.weight"] for k in range(1, model.spec.depth + 1)]
        return cls(layers, np.asarray(weights[0], np.float64),
                   np.array([uniform_share(w) for w in weights]))

    def power(self) -> np.ndarray:
        """``(K, modes)`` power per layer and mode (layers must share their filter size)."""
        return np.stack([s.power for s in self.spectra])

    def constant_fraction(self) -> np.ndarray:
        """``(K,)`` share of each layer's filter power on the constant (pooling) mode,
        ``power[0] / sum(power)``: 1 for average pooling, ``1/F^dim`` for random filters.
        """
        return np.array([s.power[0] / s.power.sum() for s in self.spectra])

    def to_json(self, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON part and arrays (``{prefix}.conv1.weight``) of the statistics."""
        d = {"spectra": [s.to_dict() for s in self.spectra]}
        if self.uniform_share is not None:
            d["uniform_share"] = self.uniform_share.tolist()
        arrays = {} if self.conv1 is None else {f"{prefix}.conv1.weight": self.conv1}
        return d, arrays

    @classmethod
    def from_json(cls, d: dict, arrays: dict, prefix: str) -> "FilterStats":
        """Inverse of ``to_json``."""
        spectra = tuple(LayerSpectrum(s["k"], s["name"], tuple(s["shape"]),
                                      np.asarray(s["eigenvalues"], float),
                                      np.asarray(s["power"], float), s["constant_fraction"])
                        for s in d["spectra"])
        share = d.get("uniform_share")
        return cls(spectra, arrays.get(f"{prefix}.conv1.weight"),
                   None if share is None else np.asarray(share, float))


class Record(abc.ABC):
    """Base of the run kinds' records: frozen dataclasses whose fields are ``Sensitivities``,
    a ``TrainHistory`` or ``FilterStats``, written and read field by field.
    """

    @abc.abstractmethod
    def states(self) -> dict[str, Sensitivities]:
        """Measurements by state name (the tidy CSV's ``state`` column)."""

    def to_json(self) -> tuple[dict, dict]:
        """JSON part and arrays (``FilterStats`` arrays prefixed by their field's name)."""
        body, arrays = {}, {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, FilterStats):
                body[f.name], more = value.to_json(f.name)
                arrays.update(more)
            else:
                body[f.name] = value.to_dict()
        return body, arrays

    @classmethod
    def from_json(cls, d: dict, arrays: dict):
        """Inverse of ``to_json``."""
        readers = {Sensitivities: Sensitivities.from_dict, TrainHistory: TrainHistory.from_dict}
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: FilterStats.from_json(d[f.name], arrays, f.name)
                      if hints[f.name] is FilterStats else readers[hints[f.name]](d[f.name])
                      for f in fields(cls)})


@dataclass(frozen=True)
class Profile(Record):
    """Kinds ``theory``, ``nngp`` and ``pooling``: one layer profile (a prediction or a Monte
    Carlo measurement of a fixed net).
    """

    sens: Sensitivities

    def states(self) -> dict[str, Sensitivities]:
        """Measurements by state name."""
        return {"init": self.sens}


@dataclass(frozen=True)
class RandomNet(Record):
    """Kind ``init``: a randomly initialized CNN, measured, with its filter statistics."""

    sens: Sensitivities
    filters: FilterStats

    def states(self) -> dict[str, Sensitivities]:
        """Measurements by state name."""
        return {"init": self.sens}


@dataclass(frozen=True)
class Trained(Record):
    """Kind ``train``: a numba CNN trained, measured before and after.

    Attributes
    ----------
    init, trained : Sensitivities
        At initialization and after training (probes corrupted at the training noise level).
    channel_mean : Sensitivities
        The trained net averaged over channels first (spatial pooling alone).
    channel_sum : Sensitivities
        The channel-summed trained net (``diagnostics.channel_sum``).
    history : TrainHistory
    filters_init, filters_trained : FilterStats
    """

    init: Sensitivities
    trained: Sensitivities
    channel_mean: Sensitivities
    channel_sum: Sensitivities
    history: TrainHistory
    filters_init: FilterStats
    filters_trained: FilterStats

    @property
    def test_error(self) -> float:
        """Test error of the kept (final) model."""
        return self.history.test_error

    def states(self) -> dict[str, Sensitivities]:
        """Measurements by state name."""
        return {"init": self.init, "trained": self.trained}


@dataclass(frozen=True)
class DeepTrained(Record):
    """Kind ``deep``: a standard architecture trained with PyTorch, every node measured at
    initialization, trained (the best-test model) and trained with channels shuffled (mode 1).
    """

    init: Sensitivities
    trained: Sensitivities
    shuffled: Sensitivities
    history: TrainHistory
    filters_init: FilterStats
    filters_trained: FilterStats

    @property
    def test_error(self) -> float:
        """Test error of the kept (best-test) model."""
        return self.history.test_error

    def states(self) -> dict[str, Sensitivities]:
        """Measurements by state name."""
        return {"init": self.init, "trained": self.trained, "shuffled": self.shuffled}


@dataclass(frozen=True)
class RunResult:
    """A finished run: what ran, with which code, how long it took, and its record."""

    run: object
    version: str
    seconds: float
    record: object = field(repr=False)

    def to_json(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The stored envelope (see the module docstring) and the record's arrays."""
        body, arrays = self.record.to_json()
        return {"schema": SCHEMA, "run": self.run.to_dict(), "version": self.version,
                "seconds": self.seconds, "record": body}, arrays

    @classmethod
    def from_json(cls, d: dict, arrays: dict, run, record_type: type) -> "RunResult":
        """Inverse of ``to_json``, given the run (``Run.from_dict(d["run"])``) and its kind's
        record type; a ``ScaleDetectError`` for another schema.
        """
        if d.get("schema") != SCHEMA:
            raise ScaleDetectError(f"result schema must be {SCHEMA}; got "
                                   f"schema={d.get('schema')!r}")
        return cls(run, d["version"], float(d["seconds"]), record_type.from_json(d["record"],
                                                                                arrays))
