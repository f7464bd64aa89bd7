"""The training history: one record per recorded epoch, and the run's outcome (JSON round trip).

Both trainers (the numba CNN and the PyTorch architectures) produce this one shape; the result
records of ``scaledetect.experiments`` embed ``TrainHistory.to_dict()``.
"""

import json
import math
import os
from dataclasses import asdict, dataclass, fields

from ..errors import ScaleDetectError, require, require_choice
from ..io import write_json

FORMAT = "scaledetect-train-history"
VERSION = 1
#: Why training ended: the criterion was met (``interpolate``: zero training error, ``loss``:
#: mean training loss <= threshold) and nothing followed, it was met and training continued for
#: the continuation epochs (``continued``), the epoch budget ran out (``max_epochs``), or the
#: training loss became NaN or infinite (``diverged``).
STOP_REASONS = ("interpolate", "loss", "continued", "max_epochs", "diverged")
#: Which model a run returns: the one after the last epoch, or the one of the recorded epoch
#: with the lowest test error (the earliest on ties).
SELECTIONS = ("last", "best_test")


@dataclass(frozen=True)
class EpochRecord:
    """What was measured after one epoch (epoch 0: at initialization).

    Attributes
    ----------
    epoch : int
        Epochs trained so far.
    lr : float
        Learning rate of that epoch's steps (epoch 0: the base rate).
    train_loss, train_error : float
        Mean loss and error fraction (``y f(x) <= 0`` or NaN) on the whole training set, on the
        images that epoch trained on (epoch 0: those of epoch 1).
    test_loss, test_error : float or None
        The same on the test set; None without one.
    penalty : float or None
        Weight-decay penalty ``lambda sum |W|^p`` (numba CNN); None where not defined.
    weight_change : dict or None
        ``{layer: ||w - w0||^2 / ||w0||^2}`` (numba CNN); None where not defined.
    seconds : float
        Wall time since training started (resumed runs include the earlier sessions).
    """

    epoch: int
    lr: float
    train_loss: float
    train_error: float
    test_loss: float | None = None
    test_error: float | None = None
    penalty: float | None = None
    weight_change: dict | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain JSON (NaN and infinities as the strings ``"nan"``, ``"inf"``, ``"-inf"``)."""
        return _encode(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "EpochRecord":
        """Inverse of ``to_dict``."""
        names = [f.name for f in fields(cls)]
        require(isinstance(d, dict) and set(d) <= set(names) and "epoch" in d, "record",
                "be a dict with keys among " + ", ".join(names), d)
        return cls(**_decode(d))


@dataclass(frozen=True)
class TrainHistory:
    """A training run's log and outcome.

    Attributes
    ----------
    config : dict
        The run's settings (task, net or architecture, training spec, seed).
    records : tuple of EpochRecord
        Epoch 0, every ``record_every`` epochs, the epoch the criterion was met, the last.
    epochs : int
        Epochs trained.
    epochs_to_stop : int or None
        Epochs until the stopping criterion was met (None if it never was).
    stop_reason : str
        One of ``STOP_REASONS``.
    selection : str
        ``last`` or ``best_test`` (see ``SELECTIONS``).
    best_epoch : int
        Epoch of the selected model (``epochs`` for ``last``).
    wall_time : float
        Seconds of training, all sessions together.
    format, version : str, int
        ``FORMAT`` and ``VERSION`` of this layout.
    """

    config: dict
    records: tuple
    epochs: int
    epochs_to_stop: int | None
    stop_reason: str
    selection: str
    best_epoch: int
    wall_time: float
    format: str = FORMAT
    version: int = VERSION

    def __post_init__(self):
        require(self.format == FORMAT and self.version == VERSION, "history",
                f"have format {FORMAT!r} version {VERSION}", f"{self.format!r} {self.version}")
        require(len(self.records) > 0, "records", "hold at least one record", self.records)
        require_choice("stop_reason", self.stop_reason, STOP_REASONS)
        require_choice("selection", self.selection, SELECTIONS)
        require(any(r.epoch == self.best_epoch for r in self.records), "best_epoch",
                "be the epoch of a record", self.best_epoch)

    @property
    def final(self) -> EpochRecord:
        """The last record (the model after the last epoch)."""
        return self.records[-1]

    @property
    def selected(self) -> EpochRecord:
        """The record of the selected model (epoch ``best_epoch``)."""
        return next(r for r in self.records if r.epoch == self.best_epoch)

    @property
    def test_error(self) -> float | None:
        """Test error of the selected model (None without a test set)."""
        return self.selected.test_error

    def to_dict(self) -> dict:
        """Plain JSON; also ``final`` and ``test_error``, derived, for readers of the file."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "records"}
        d["records"] = [r.to_dict() for r in self.records]
        d["final"] = self.final.to_dict()
        d["test_error"] = _encode(self.test_error)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainHistory":
        """Inverse of ``to_dict`` (the derived keys are recomputed, not read)."""
        require(isinstance(d, dict), "history", "be a dict", type(d).__name__)
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise ScaleDetectError(f"history must have format {FORMAT!r} version {VERSION}; got "
                                   f"format={d.get('format')!r} version={d.get('version')!r}")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(d))
        require(not missing, "history", "hold every field", f"missing {missing}")
        kw = {k: d[k] for k in names}
        kw["records"] = tuple(EpochRecord.from_dict(r) for r in d["records"])
        return cls(**kw)

    def write(self, path: str | os.PathLike) -> None:
        """Write ``to_dict()`` as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> "TrainHistory":
        """Read a file written by ``write``."""
        try:
            with open(path) as f:
                d = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise ScaleDetectError(f"history file {os.fspath(path)}: unreadable ({err})") from None
        return cls.from_dict(d)


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode(x):
    """Floats that are not finite as strings (standard JSON); recurses into dicts."""
    if isinstance(x, dict):
        return {k: _encode(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _decode(x):
    """Inverse of ``_encode``."""
    if isinstance(x, dict):
        return {k: _decode(v) for k, v in x.items()}
    return _NONFINITE.get(x, x) if isinstance(x, str) else x
