"""One training loop over a stepper: epochs, stopping rules, records, selection, checkpoints.

Every epoch trains on a fresh permutation of the training set (drawn from the run's shuffle
generator) in mini-batches, at the learning rate of the schedule. The training set is evaluated
after every epoch while waiting for the stopping criterion, afterwards only on record epochs;
the test set on record epochs. A record is kept at epoch 0, every ``record_every`` epochs, when
the criterion is met and at the last epoch. The loss of every mini-batch and the parameters at
the end of every epoch are watched: a NaN or infinite one (or training loss, where evaluated)
ends the run at that epoch (``diverged``), and a run with an output folder then leaves nothing
in it. Checkpoints every ``checkpoint_every`` epochs hold everything needed to
resume bit-identically (the stepper's state, the shuffle generator, the loop's state).
"""

import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ScaleDetectError, require, require_choice, require_int
from .checkpoint import read_checkpoint, write_checkpoint
from .data import TrainData
from .folder import RunFolder
from .history import SELECTIONS, EpochRecord, TrainHistory
from .stepper import Stepper

STOPS = ("interpolate", "loss", "epochs")
SCHEDULES = ("constant", "cosine")
CHECKPOINT = "checkpoint.npz"


@dataclass(frozen=True)
class LoopSpec:
    """How the loop runs (the model, loss and optimizer are the stepper's).

    Attributes
    ----------
    batch_size : int
        Mini-batch size; the last batch of an epoch may be smaller.
    lr : float
        Base learning rate eta.
    schedule : str
        ``constant``, or ``cosine``: epoch e = 0, 1, ... trains at
        ``eta (1 + cos(pi e / max_epochs)) / 2`` (needs ``stop="epochs"``).
    stop : str
        ``interpolate`` (zero training error), ``loss`` (mean training loss <=
        ``loss_threshold``) or ``epochs`` (``max_epochs`` epochs).
    max_epochs : int
        ``stop="epochs"``: the number of epochs; otherwise the most epochs spent waiting for
        the criterion (the continuation comes on top).
    loss_threshold : float
    continue_factor : float
        Having met the criterion after E epochs, train on for ``ceil(continue_factor E)``
        more.
    record_every, checkpoint_every : int
        Epochs between records, and between checkpoints (with an output folder).
    selection : str
        ``last`` or ``best_test`` (the recorded epoch of lowest test error, earliest on ties,
        epoch 0 included).
    """

    batch_size: int = 8
    lr: float = 0.01
    schedule: str = "constant"
    stop: str = "epochs"
    max_epochs: int = 100
    loss_threshold: float = 0.01
    continue_factor: float = 0.0
    record_every: int = 1
    checkpoint_every: int = 10
    selection: str = "last"

    def __post_init__(self):
        for name in ("batch_size", "max_epochs", "record_every", "checkpoint_every"):
            require_int(name, getattr(self, name), 1)
        for name, low in (("lr", None), ("loss_threshold", 0), ("continue_factor", 0)):
            v = getattr(self, name)
            ok = isinstance(v, int | float | np.number) and math.isfinite(v)
            ok = ok and (v > 0 if low is None else v >= low)
            require(ok, name, "be a finite number " + ("> 0" if low is None else ">= 0"), v)
        require_choice("schedule", self.schedule, SCHEDULES)
        require_choice("stop", self.stop, STOPS)
        require_choice("selection", self.selection, SELECTIONS)
        require(self.schedule == "constant" or self.stop == "epochs", "schedule",
                "be constant unless stop='epochs'", self.schedule)

    def lr_at(self, e: int) -> float:
        """Learning rate of the epoch that starts after *e* epochs."""
        if self.schedule == "constant":
            return self.lr
        return self.lr * (1 + math.cos(math.pi * e / self.max_epochs)) / 2


@dataclass(frozen=True)
class LoopResult:
    """What ``run_loop`` returns.

    Attributes
    ----------
    history : TrainHistory
    init, selected : dict of ndarray
        The model at initialization and the selected one (``Stepper.model_arrays`` form).
    at_stop : dict of ndarray or None
        The model when the stopping criterion was met, if it was.
    data : TrainData
        The arrays trained and tested on (test images with their noise draw).
    """

    history: TrainHistory
    init: dict
    selected: dict
    at_stop: dict | None
    data: TrainData


@dataclass
class _State:
    """The loop's bookkeeping, saved in the checkpoint; ``end_epoch`` is None while waiting
    for the criterion, ``elapsed`` the wall time before the last checkpoint.
    """

    epoch: int = 0
    epochs_to_stop: int | None = None
    end_epoch: int | None = None
    stop_reason: str | None = None
    finished: bool = False
    best_epoch: int = 0
    records: list = field(default_factory=list)
    elapsed: float = 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "records": [r.to_dict() for r in self.records]}

    @classmethod
    def from_json(cls, d: dict) -> "_State":
        return cls(**{**d, "records": [EpochRecord.from_dict(r) for r in d["records"]]})


@dataclass
class _Run:
    """Everything one run reads and updates (``best``, ``at_stop``: model arrays)."""

    stepper: Stepper
    data: TrainData
    spec: LoopSpec
    shuffle: np.random.Generator
    config: dict
    identity: dict
    folder: RunFolder | None
    state: _State = field(default_factory=_State)
    best: dict | None = None
    at_stop: dict | None = None
    t0: float = 0.0


def run_loop(stepper: Stepper, data: TrainData, spec: LoopSpec, shuffle: np.random.Generator,
             *, config: dict, identity: dict | None = None,
             out_dir: str | os.PathLike | None = None, resume: bool = False,
             progress: bool = True, callback=None, desc: str = "train") -> LoopResult:
    """Train *stepper* on *data* as *spec* says.

    Parameters
    ----------
    stepper : Stepper
        The model at initialization (or any state ``load_state`` overwrites on resume).
    data : TrainData
    spec : LoopSpec
    shuffle : Generator
        Draws each epoch's permutation of the training set.
    config : dict
        The run's settings, stored in the history.
    identity : dict, optional
        What a checkpoint must match to be resumed (default *config*).
    out_dir : path, optional
        Locked while training; receives ``init.npz`` at the start, ``at_stop.npz`` when the
        criterion is met, ``checkpoint.npz`` every ``checkpoint_every`` epochs and at the end,
        ``model.npz`` (the selected model), ``final.npz`` (the last, with ``best_test``) and
        ``history.json`` at the end; all atomic. A diverged run deletes them.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` if there is one (a finished one just returns
        its result); bit-identical to an uninterrupted run.
    progress : bool
        tqdm bar over epochs, labelled *desc*.
    callback : callable, optional
        ``callback(epoch, record)`` after each epoch (after its checkpoint); *record* is the
        epoch's ``EpochRecord`` or None. An exception it raises stops training; the last
        checkpoint stays usable.

    Returns
    -------
    LoopResult

    Raises
    ------
    ScaleDetectError
        Inconsistent data, a folder in use or holding a run without *resume*, a checkpoint that
        does not match.
    """
    _check(data, spec, resume, out_dir)
    identity = config if identity is None else identity
    if out_dir is None:
        return _train(_Run(stepper, data, spec, shuffle, config, identity, None), False,
                      progress, callback, desc)
    with RunFolder(out_dir) as folder:
        run = _Run(stepper, data, spec, shuffle, config, identity, folder)
        return _train(run, resume, progress, callback, desc)


def _check(data: TrainData, spec: LoopSpec, resume: bool, out_dir) -> None:
    """Validate ``run_loop``'s data and arguments."""
    require(isinstance(data, TrainData), "data", "be a TrainData", type(data).__name__)
    require(isinstance(spec, LoopSpec), "spec", "be a LoopSpec", type(spec).__name__)
    n = len(data.x_train)
    require(n >= 1 and len(data.y_train) == n, "y_train", f"have length len(x_train) = {n} >= 1",
            len(data.y_train))
    if data.x_test is not None:
        require(data.y_test is not None and len(data.y_test) == len(data.x_test), "y_test",
                "have length len(x_test)", None if data.y_test is None else len(data.y_test))
    require(spec.selection != "best_test" or data.has_test, "selection",
            "be 'last' without a test set", spec.selection)
    require(not resume or out_dir is not None, "resume", "come with an out_dir", resume)


def _train(run: _Run, resume: bool, progress: bool, callback, desc: str) -> LoopResult:
    """Start or restore *run*, loop over epochs unless it finished, then finish it."""
    _start(run, resume)
    if not run.state.finished:
        _epochs(run, progress, callback, desc)
    return _finish(run)


def _start(run: _Run, resume: bool) -> None:
    """Restore the run from its checkpoint, or start it (``init.npz``, epoch 0's record)."""
    folder, stepper, spec = run.folder, run.stepper, run.spec
    path = folder.file(CHECKPOINT) if folder is not None else None
    if path is not None and path.exists():
        if not resume:
            raise ScaleDetectError(f"out_dir {folder.path} already holds a run ({CHECKPOINT}); "
                                   "resume it or choose another out_dir")
        meta, groups = read_checkpoint(path, stepper.name, run.identity)
        stepper.load_state(groups["stepper"])
        run.shuffle.bit_generator.state = meta["shuffle"]
        run.state = _State.from_json(meta["loop"])
        run.best, run.at_stop = groups["best"], groups["at_stop"]
        run.t0 = time.perf_counter() - run.state.elapsed
        return
    run.t0 = time.perf_counter()
    if spec.stop == "epochs":
        run.state.end_epoch, run.state.stop_reason = spec.max_epochs, "max_epochs"
    if folder is not None:
        stepper.write_model(folder.file("init.npz"), stepper.init_arrays())
    if spec.selection == "best_test":
        run.best = stepper.model_arrays()
    loss, err = stepper.evaluate(run.data.images(1), run.data.y_train)
    _keep(run, _record(run, 0, spec.lr, loss, err))
    _update_stop(run, 0, loss, err, True)


def _epochs(run: _Run, progress: bool, callback, desc: str) -> None:
    """Train epoch after epoch until ``_done``; then mark the run finished and checkpoint it."""
    state, spec, data = run.state, run.spec, run.data
    bar = _bar(progress, state, spec, desc)
    try:
        while not _done(run, state.epoch):
            lr = spec.lr_at(state.epoch)
            _train_epoch(run.stepper, data.images(state.epoch + 1), data.y_train,
                         spec.batch_size, lr, run.shuffle)
            state.epoch += 1
            rec = _after_epoch(run, state.epoch, lr, run.stepper.epoch_finite())
            _show(bar, state, spec, rec)
            if callback is not None:
                callback(state.epoch, rec)
    finally:
        bar.close()
    state.finished = True
    state.elapsed = time.perf_counter() - run.t0
    if state.stop_reason != "diverged":
        _checkpoint(run)


def _train_epoch(stepper, x, y, batch_size: int, lr: float, shuffle) -> None:
    """One pass over a fresh permutation of ``(x, y)`` in mini-batches."""
    order = shuffle.permutation(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        stepper.step(x[idx], y[idx], lr)


def _after_epoch(run: _Run, epoch: int, lr: float, finite: bool) -> EpochRecord | None:
    """Evaluate, apply the stopping rule, record and checkpoint after *epoch*.

    The training set is evaluated while waiting for the criterion, on record epochs, at the end
    and when a mini-batch loss was not finite; the record (or None) is returned.
    """
    spec = run.spec
    rec = None
    if run.state.end_epoch is None or epoch % spec.record_every == 0 or _done(run, epoch) \
            or not finite:
        loss, err = run.stepper.evaluate(run.data.images(epoch), run.data.y_train)
        now = _update_stop(run, epoch, loss, err, finite)
        if epoch % spec.record_every == 0 or now or _done(run, epoch):
            rec = _record(run, epoch, lr, loss, err)
            _keep(run, rec)
    if epoch % spec.checkpoint_every == 0 and not _done(run, epoch):
        _checkpoint(run)
    return rec


def _record(run: _Run, epoch: int, lr: float, loss: float, err: float) -> EpochRecord:
    """The record of the current model: training loss and error, test ones, the extras."""
    test_loss = test_err = None
    if run.data.has_test:
        test_loss, test_err = run.stepper.evaluate(run.data.x_test, run.data.y_test)
    extras = run.stepper.extras()
    return EpochRecord(epoch=epoch, lr=lr, train_loss=loss, train_error=err, test_loss=test_loss,
                       test_error=test_err, penalty=extras.get("penalty"),
                       weight_change=extras.get("weight_change"),
                       seconds=time.perf_counter() - run.t0)


def _keep(run: _Run, rec: EpochRecord) -> None:
    """Append *rec*; with ``best_test``, select the model if its test error is the lowest."""
    state = run.state
    state.records.append(rec)
    if run.spec.selection != "best_test" or rec.test_error is None or math.isnan(rec.test_error):
        return
    best = next(r for r in state.records if r.epoch == state.best_epoch)
    if rec.test_error < best.test_error:
        state.best_epoch, run.best = rec.epoch, run.stepper.model_arrays()


def _update_stop(run: _Run, epoch: int, loss: float, err: float, finite: bool) -> bool:
    """Apply the stopping rule after *epoch*; True if the criterion is met right now.

    A non-finite loss ends the run (``diverged``). Meeting the criterion at epoch E sets the end
    to ``E + ceil(continue_factor E)`` and keeps the model as ``at_stop``.
    """
    state, spec = run.state, run.spec
    if not finite or not np.isfinite(loss):
        state.end_epoch, state.stop_reason = epoch, "diverged"
        return False
    met = (spec.stop == "interpolate" and err == 0.0) or \
        (spec.stop == "loss" and loss <= spec.loss_threshold)
    if state.end_epoch is not None or not met:
        return False
    state.epochs_to_stop = epoch
    state.end_epoch = epoch + math.ceil(spec.continue_factor * epoch - 1e-9)
    state.stop_reason = spec.stop if state.end_epoch == epoch else "continued"
    run.at_stop = run.stepper.model_arrays()
    if run.folder is not None:
        run.stepper.write_model(run.folder.file("at_stop.npz"), run.at_stop)
    return True


def _done(run: _Run, epoch: int) -> bool:
    """Whether training ends after *epoch* (sets ``stop_reason`` when max_epochs ends it)."""
    state = run.state
    if state.end_epoch is not None:
        return epoch >= state.end_epoch
    if epoch >= run.spec.max_epochs:
        state.stop_reason = "max_epochs"
        return True
    return False


def _checkpoint(run: _Run) -> None:
    """Write the checkpoint (if the run has an output folder), with the elapsed time."""
    if run.folder is None:
        return
    run.state.elapsed = time.perf_counter() - run.t0
    meta = {"stepper": run.stepper.name, "config": run.identity, "loop": run.state.to_json(),
            "shuffle": run.shuffle.bit_generator.state}
    write_checkpoint(run.folder.file(CHECKPOINT), meta,
                     {"stepper": run.stepper.state_arrays(), "best": run.best,
                      "at_stop": run.at_stop})


def _finish(run: _Run) -> LoopResult:
    """Assemble the history; write the model files and ``history.json`` (or, diverged, delete
    the run's files).
    """
    state, spec, stepper, folder = run.state, run.spec, run.stepper, run.folder
    last = spec.selection == "last"
    history = TrainHistory(
        config=run.config, records=tuple(state.records), epochs=state.epoch,
        epochs_to_stop=state.epochs_to_stop, stop_reason=state.stop_reason,
        selection=spec.selection, best_epoch=state.epoch if last else state.best_epoch,
        wall_time=state.elapsed)
    selected = stepper.model_arrays() if last else run.best
    if folder is not None and state.stop_reason == "diverged":
        folder.discard()
    elif folder is not None:
        stepper.write_model(folder.file("model.npz"), selected)
        if not last:
            stepper.write_model(folder.file("final.npz"), stepper.model_arrays())
        if not folder.file("init.npz").exists():
            stepper.write_model(folder.file("init.npz"), stepper.init_arrays())
        history.write(folder.file("history.json"))
    return LoopResult(history=history, init=stepper.init_arrays(), selected=selected,
                      at_stop=run.at_stop, data=run.data)


def _bar(progress: bool, state: _State, spec: LoopSpec, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=state.end_epoch or spec.max_epochs, initial=state.epoch,
                disable=not progress, unit="epoch", desc=desc, dynamic_ncols=True)


def _show(bar, state: _State, spec: LoopSpec, rec: EpochRecord | None) -> None:
    """Advance the progress bar; show the record's losses and errors."""
    bar.total = state.end_epoch or spec.max_epochs
    bar.update(1)
    if rec is not None:
        shown = {"loss": rec.train_loss, "train_err": rec.train_error,
                 "test_err": rec.test_error}
        bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items() if v is not None})
