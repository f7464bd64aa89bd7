"""Training a ``CNN`` on a scale-detection task.

SGD with momentum, weight decay, stopping rules, history, checkpoints, and resumption that ends
bit-identical to an uninterrupted run.

The defaults are the recipe of SPEC section 8 (batch 8, lr 0.01 * width, hinge loss, L2 weight
decay 0.01 * sum w^2 / (width K) on the conv weights, train to zero training error and then on
for 20 times as many epochs). The net itself (mean-field readout, alpha = 1, gain sqrt(F)) is the
caller's ``NetSpec``; see ``recipe_net``.
"""

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from ..errors import ScaleDetectError, require, require_choice, require_int
from ..io import load_npz, save_npz, write_json
from ..perturb.noise import corrupt
from ..tasks.spec import TaskSpec
from ..tasks.split import train_test
from .io import DTYPES, save_model
from .losses import LOSSES, make_loss
from .model import CNN, compile_backward_aside, init_cnn, param_shapes
from .spec import NetSpec

STOPS = ("interpolate", "loss", "epochs")
CHECKPOINT = "checkpoint.npz"
_CKPT_FORMAT = "scaledetect-checkpoint"
#: 2: the test set is drawn disjoint from the training set and ``train_noise`` exists; a version-1
#: checkpoint resumed now would evaluate on a different test set, so it is refused.
_CKPT_VERSION = 2


@dataclass(frozen=True)
class TrainSpec:
    """How to train: data set sizes, optimizer, stopping rule, bookkeeping.

    Attributes
    ----------
    n_train, n_test : int
        Training and test set sizes, both sampled class-balanced from the task, the test set
        among the configurations absent from the training set (``n_test`` may be 0: no test
        error). The recipe uses 512 + 512 training points (``n_train=1024``).
    batch_size : int
        Mini-batch size; each epoch visits a fresh seeded permutation of the training set, the
        last batch may be smaller.
    lr : float or None
        Learning rate eta; ``None`` means ``0.01 * width``.
    momentum : float
        Heavy-ball momentum mu in [0, 1): ``v <- mu v + g``, ``w <- w - eta v`` (PyTorch's form).
    loss : str
        ``hinge`` or ``logistic`` (see ``scaledetect.nn.losses``), scaled by the net's alpha.
    weight_decay : float or None
        lambda of the penalty ``lambda * sum |w|^p`` over the conv weights (not biases, not the
        readout); ``None`` means ``0.01 / (width * depth)``.
    wd_power : int
        p, 1 or 2.
    max_epochs : int
        ``stop="epochs"``: the number of epochs. Otherwise the most epochs spent waiting for the
        stopping criterion; the continuation comes on top.
    stop : str
        ``interpolate`` (zero training error), ``loss`` (mean training loss <= loss_threshold) or
        ``epochs``.
    loss_threshold : float
        Threshold of ``stop="loss"``.
    continue_factor : float
        Having met the criterion after E epochs, train on for ``ceil(continue_factor * E)``
        more epochs (ignored for ``stop="epochs"``).
    record_every : int
        Append a history record (train and test error) every this many epochs, and at epoch 0,
        at the epoch the criterion is met and at the last.
    checkpoint_every : int
        Write the checkpoint every this many epochs (when training has an output folder).
    dtype : str
        ``float32`` (fast) or ``float64``.
    bias_std : float
        Standard deviation of the initial conv biases.
    data_seed : int or None
        Seed of the training and test sets; ``None`` derives them from the training seed.
    train_noise : float
        sigma >= 0 of noise-corrupted training: every epoch trains on the training images plus
        a fresh draw of i.i.d. Gaussian noise whose norm is on average sigma times the images'
        (``scaledetect.perturb.corrupt``); the test images carry one fixed draw of the same
        relative level. 0 (the default) trains on clean images, exactly as without noise.

    Notes
    -----
    Objective per step, on a mini-batch B:
    ``L = (1/|B|) sum_{i in B} (1/alpha) l(y_i f(x_i)) + lambda sum_k sum |W_k|^p``, whose
    penalty gradient is ``lambda p |W|^(p-1) sign(W)`` (``2 lambda W`` for p = 2; the subgradient 0
    at W = 0 for p = 1). The training error is the fraction of training points with
    ``y f(x) <= 0`` (or NaN), measured on the whole training set after every epoch (with
    ``train_noise``: on that epoch's noisy images; at epoch 0 on those of epoch 1).

    """

    n_train: int = 1024
    n_test: int = 1024
    batch_size: int = 8
    lr: float | None = None
    momentum: float = 0.0
    loss: str = "hinge"
    weight_decay: float | None = None
    wd_power: int = 2
    max_epochs: int = 1000
    stop: str = "interpolate"
    loss_threshold: float = 0.01
    continue_factor: float = 20.0
    record_every: int = 5
    checkpoint_every: int = 10
    dtype: str = "float32"
    bias_std: float = 1.0
    data_seed: int | None = None
    train_noise: float = 0.0

    def __post_init__(self):
        for name in ("n_train", "batch_size", "max_epochs", "record_every", "checkpoint_every"):
            require_int(name, getattr(self, name), 1)
        require_int("n_test", self.n_test, 0)
        if self.lr is not None:
            require(_finite(self.lr) and self.lr > 0, "lr", "be a finite number > 0", self.lr)
        require(_finite(self.momentum) and 0 <= self.momentum < 1, "momentum",
                "satisfy 0 <= momentum < 1", self.momentum)
        require_choice("loss", self.loss, LOSSES)
        if self.weight_decay is not None:
            require(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
                    "be a finite number >= 0", self.weight_decay)
        require_choice("wd_power", self.wd_power, (1, 2))
        require_choice("stop", self.stop, STOPS)
        require(_finite(self.loss_threshold) and self.loss_threshold >= 0, "loss_threshold",
                "be a finite number >= 0", self.loss_threshold)
        require(_finite(self.continue_factor) and self.continue_factor >= 0, "continue_factor",
                "be a finite number >= 0", self.continue_factor)
        require_choice("dtype", self.dtype, DTYPES)
        require(_finite(self.bias_std) and self.bias_std >= 0, "bias_std",
                "be a finite number >= 0", self.bias_std)
        if self.data_seed is not None:
            require_int("data_seed", self.data_seed, 0)
        require(_finite(self.train_noise) and self.train_noise >= 0, "train_noise",
                "be a finite number >= 0", self.train_noise)

    def resolved(self, net: NetSpec) -> "TrainSpec":
        """Return a copy with ``lr`` and ``weight_decay`` filled in from the recipe for *net*."""
        lr = 0.01 * net.width if self.lr is None else float(self.lr)
        wd = 0.01 / (net.width * net.depth) if self.weight_decay is None else self.weight_decay
        return replace(self, lr=lr, weight_decay=float(wd))

    def to_dict(self) -> dict:
        """Plain-JSON description."""
        return asdict(self)


def recipe_net(dim: int = 1, size: int = 128, depth: int = 7, filter: int = 2,  # noqa: A002
               stride: int = 2, width: int = 64, act: str = "relu") -> NetSpec:
    """Return the net of SPEC section 8: biases, mean-field readout with alpha = 1, gain sqrt(F)."""
    return NetSpec(dim=dim, size=size, depth=depth, filter=filter, stride=stride, width=width,
                   act=act, bias=True, param="mf", alpha=1.0, gain=math.sqrt(filter))


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` returns.

    Attributes
    ----------
    model : CNN
        The trained model.
    init : CNN
        The same net at initialization.
    at_stop : CNN or None
        The net when the stopping criterion was met (before the continuation), if it was.
    history : dict
        The JSON-able log also written to ``history.json``: ``config`` (task, net, resolved
        train spec, seed streams), ``records`` (list of ``{"epoch", "train_loss", "penalty",
        "train_error", "test_error", "weight_change": {"conv1", ..., "readout"}, "time"}``, with
        ``weight_change`` the relative change ``||w - w0||^2 / ||w0||^2`` of each layer's
        weights), ``epochs``, ``epochs_to_stop`` (epochs until the criterion was met, or
        ``None``), ``stop_reason`` (``interpolate``, ``loss``, ``continued``, ``max_epochs``
        or ``diverged`` when the training loss became NaN or infinite), ``final`` (the last
        record), ``wall_time``.

    """

    model: object
    init: object
    history: dict
    at_stop: object = None


def train(task: TaskSpec, net: NetSpec, spec: TrainSpec | None = None,
          rng: np.random.Generator | int | None = None, out_dir: str | os.PathLike | None = None,
          progress: bool = True, resume: bool = False, callback=None,
          threads: int | None = None) -> TrainResult:
    """Train a freshly initialized CNN for *net* on data of *task*.

    Parameters
    ----------
    task : TaskSpec
        The data distribution; its ``dim`` and ``size`` must match the net's.
    net : NetSpec
        The architecture (see ``recipe_net`` for SPEC section 8's).
    spec : TrainSpec, optional
        Training settings (default ``TrainSpec()``, the section 8 recipe).
    rng : Generator, int or None
        Seed of everything: independent streams are spawned from it, for the initial weights,
        the mini-batch order and the data (the latter replaced by ``spec.data_seed`` when
        given), and, with ``spec.train_noise > 0``, a fourth for the noise. ``None`` means 0.
    out_dir : path, optional
        If given: ``init.npz`` is written at the start, ``at_stop.npz`` when the criterion is
        met, ``checkpoint.npz`` every ``checkpoint_every`` epochs and at the end, ``model.npz``
        and ``history.json`` at the end. All writes are atomic.
    progress : bool
        Show a tqdm progress bar over epochs.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` (a finished checkpoint just returns its result);
        task, net, spec and seed must equal the checkpoint's. Without a checkpoint, start afresh.
        The result is bit-identical to an uninterrupted run.
    callback : callable, optional
        ``callback(epoch, model, record)`` after each epoch (after the checkpoint, if any);
        ``record`` is that epoch's history record or ``None``. An exception it raises stops
        training (the last checkpoint stays usable).
    threads : int, optional
        numba threads for the duration of training (restored afterwards); ``None`` keeps the
        current setting. Results do not depend on it. One thread is much faster when the cores
        are shared with other processes (small per-step kernels then wait for busy threads).

    Returns
    -------
    TrainResult
        ``model``, ``init``, ``history`` and ``at_stop``.

    Raises
    ------
    ScaleDetectError
        On inconsistent arguments, an existing checkpoint without ``resume``, or a checkpoint
        that does not match; nothing is written then.

    """
    if threads is None:
        return _train(task, net, spec, rng, out_dir, progress, resume, callback)
    require_int("threads", threads, 1)
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        return _train(task, net, spec, rng, out_dir, progress, resume, callback)
    finally:
        numba.set_num_threads(before)


def _train(task, net, spec, rng, out_dir, progress, resume, callback) -> TrainResult:
    """Body of ``train`` (same arguments): set up a ``_Run``, loop over epochs, write results."""
    spec = _checked(task, net, spec, resume, out_dir)
    compile_backward_aside(spec.dtype)  # on a cold cache: meanwhile, in a child process
    run = _start(task, net, spec, rng, out_dir, resume)
    if not run.state.finished:
        _loop(run, progress, callback)
    return _finish(run, rng)


# ---------------------------------------------------------------------------- the run's state

@dataclass
class _State:
    """The loop's bookkeeping, saved as JSON in the checkpoint (field order = the file's).

    ``end_epoch`` is None while waiting for the stopping criterion; ``elapsed`` is the wall time
    spent before the last checkpoint.
    """

    epoch: int = 0
    epochs_to_stop: int | None = None
    end_epoch: int | None = None
    stop_reason: str | None = None
    finished: bool = False
    records: list = field(default_factory=list)
    elapsed: float = 0.0


@dataclass
class _Run:
    """Everything one training run reads and updates.

    ``model.theta`` and ``velocity`` are updated in place by ``_epoch``; ``state`` holds what a
    checkpoint saves besides the arrays; ``t0`` is the wall-clock origin of the record times.
    """

    net: NetSpec
    spec: TrainSpec
    dtype: np.dtype
    config: dict
    out: Path | None
    data: "_Data"
    loss: object
    shuffle: np.random.Generator
    chunk: int
    model: CNN
    init: CNN
    velocity: np.ndarray
    state: _State
    at_stop: CNN | None = None
    t0: float = 0.0


@dataclass
class _Data:
    """Training and test images and labels in the training dtype (test ones None if n_test = 0).

    With noise (``sigma > 0``): ``x_test`` carries its fixed noise draw; the training images of
    epoch e >= 1 are ``corrupt(x_train, sigma, default_rng([noise_seed, e]))``, a function of
    (seed, epoch) only, so resuming from a checkpoint draws the same noise. ``x_epoch`` caches
    the images of epoch ``epoch`` (``x_train`` itself when sigma = 0).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    sigma: float = 0.0
    noise_seed: int = 0
    epoch: int = 0
    x_epoch: np.ndarray | None = None

    def images(self, epoch: int) -> np.ndarray:
        """Training images of *epoch* (>= 1): clean, or with that epoch's noise draw."""
        if self.sigma == 0:
            return self.x_train
        if self.x_epoch is None or self.epoch != epoch:
            rng = np.random.default_rng([self.noise_seed, epoch])
            self.x_epoch, self.epoch = corrupt(self.x_train, self.sigma, rng), epoch
        return self.x_epoch


def _checked(task, net, spec, resume, out_dir) -> TrainSpec:
    """Validate ``train``'s arguments; return the resolved spec."""
    spec = TrainSpec() if spec is None else spec
    require(isinstance(task, TaskSpec), "task", "be a TaskSpec", type(task).__name__)
    require(isinstance(net, NetSpec), "net", "be a NetSpec", type(net).__name__)
    require(isinstance(spec, TrainSpec), "spec", "be a TrainSpec", type(spec).__name__)
    require(task.dim == net.dim, "net.dim", "equal task.dim", net.dim, f"task.dim={task.dim}")
    require(task.size == net.size, "net.size", "equal task.size", net.size,
            f"task.size={task.size}")
    require(not resume or out_dir is not None, "resume", "come with an out_dir", resume)
    return spec.resolved(net)


def _start(task, net, spec: TrainSpec, rng, out_dir, resume) -> _Run:
    """Draw the data and either initialize the net or restore it from the checkpoint."""
    dtype = np.dtype(spec.dtype)
    streams = _streams(rng, spec.data_seed, spec.train_noise > 0)
    config = {"task": task.to_dict(), "net": net.to_dict(), "train": spec.to_dict(),
              "streams": {k: r.bit_generator.state for k, r in streams.items()}}
    config = json.loads(json.dumps(config))  # the form it has after a round trip through JSON
    out = Path(out_dir) if out_dir is not None else None
    ckpt = _read_checkpoint(out / CHECKPOINT, config) if out is not None else None
    if ckpt is not None and not resume:
        raise ScaleDetectError(f"out_dir {out} already holds a run ({CHECKPOINT}); resume it or "
                               "choose another out_dir")
    data = _draw_data(task, spec, streams["data"], dtype)
    if spec.train_noise > 0:
        data.sigma = spec.train_noise
        data.noise_seed = int(streams["noise"].integers(2 ** 62))
        if data.x_test is not None:
            rng = np.random.default_rng([data.noise_seed, 0])
            data.x_test = corrupt(data.x_test, data.sigma, rng)
    shuffle = streams["shuffle"]
    at_stop = None
    if ckpt is None:
        model = init_cnn(net, streams["init"], dtype=dtype, bias_std=spec.bias_std)
        init = model.copy()
        velocity = np.zeros_like(model.theta)
        state = _State()
        if spec.stop == "epochs":
            state.end_epoch = spec.max_epochs
            state.stop_reason = "max_epochs"
        if out is not None:
            save_model(out / "init.npz", init)
    else:
        model, init, velocity, saved, shuffle_state = ckpt
        state = _State(**saved)
        shuffle.bit_generator.state = shuffle_state
        if state.epochs_to_stop is not None:
            at_stop = _read_at_stop(out / "at_stop.npz", net, dtype)
    run = _Run(net=net, spec=spec, dtype=dtype, config=config, out=out, data=data,
               loss=make_loss(spec.loss, net.alpha), shuffle=shuffle, chunk=_eval_chunk(net),
               model=model, init=init, velocity=velocity, state=state, at_stop=at_stop)
    run.t0 = time.perf_counter() - state.elapsed
    return run


def _draw_data(task: TaskSpec, spec: TrainSpec, rng: np.random.Generator, dtype) -> _Data:
    """Disjoint training and test sets (``tasks.train_test``) from the data stream *rng*."""
    train_set, test_set = train_test(task, spec.n_train, spec.n_test, rng)
    x_train = np.ascontiguousarray(train_set.images, dtype=dtype)
    y_train = np.asarray(train_set.labels).astype(dtype)
    if spec.n_test > 0:
        x_test = np.ascontiguousarray(test_set.images, dtype=dtype)
        y_test = np.asarray(test_set.labels).astype(dtype)
    else:
        x_test = y_test = None
    return _Data(x_train, y_train, x_test, y_test)


# ---------------------------------------------------------------------------- the loop

def _loop(run: _Run, progress: bool, callback) -> None:
    """Train epoch after epoch until ``_done``; then mark the run finished and checkpoint it."""
    state = run.state
    if state.epoch == 0 and not state.records:
        rec = _record(run, 0, True)
        state.records.append(rec)
        _update_stop(run, rec)
    bar = _progress_bar(progress, state, run.spec)
    try:
        while not _done(run, state.epoch):
            x = run.data.images(state.epoch + 1)
            _epoch(run.model, run.velocity, x, run.data.y_train, run.loss, run.spec, run.shuffle,
                   run.dtype)
            state.epoch += 1
            rec = _after_epoch(run, state.epoch)
            bar.total = state.end_epoch or run.spec.max_epochs
            bar.update(1)
            if rec is not None:
                bar.set_postfix(train_err=f"{rec['train_error']:.3g}",
                                loss=f"{rec['train_loss']:.3g}")
            if callback is not None:
                callback(state.epoch, run.model, rec)
    finally:
        bar.close()
    state.finished = True
    _checkpoint(run)


def _after_epoch(run: _Run, epoch: int) -> dict | None:
    """Evaluate, apply the stopping rule, record and checkpoint after *epoch*; the record or None.

    The training set is evaluated after every epoch while waiting for the criterion, afterwards
    only when recording (every ``record_every`` epochs, when the criterion is met, at the end).
    """
    spec, state = run.spec, run.state
    rec = None
    if state.end_epoch is None or epoch % spec.record_every == 0 or _done(run, epoch):
        rec = _record(run, epoch, False)
        now = _update_stop(run, rec)
        if epoch % spec.record_every == 0 or now or _done(run, epoch):
            if run.data.x_test is not None:
                rec["test_error"] = _test_error(run)
            state.records.append(rec)
        else:
            rec = None
    if epoch % spec.checkpoint_every == 0 and not _done(run, epoch):
        _checkpoint(run)
    return rec


def _record(run: _Run, epoch: int, with_test: bool) -> dict:
    """A history record of the current model: losses, errors, weight changes, time."""
    d, spec = run.data, run.spec
    x = d.images(max(epoch, 1))
    tr_loss, tr_err = _evaluate(run.model, x, d.y_train, run.loss, run.chunk)
    rec = {"epoch": epoch, "train_loss": tr_loss,
           "penalty": _penalty(run.model.params, spec.weight_decay, spec.wd_power),
           "train_error": tr_err, "test_error": None,
           "weight_change": _weight_change(run.model.params, run.init.params, run.net.depth),
           "time": time.perf_counter() - run.t0}
    if with_test and d.x_test is not None:
        rec["test_error"] = _test_error(run)
    return rec


def _test_error(run: _Run) -> float:
    return _evaluate(run.model, run.data.x_test, run.data.y_test, run.loss, run.chunk)[1]


def _met(spec: TrainSpec, rec: dict) -> bool:
    """Whether *rec* meets the stopping criterion of *spec*."""
    if spec.stop == "interpolate":
        return rec["train_error"] == 0.0
    return spec.stop == "loss" and rec["train_loss"] <= spec.loss_threshold


def _update_stop(run: _Run, rec: dict) -> bool:
    """Apply the stopping rule to *rec*; True if the criterion is met right now.

    A non-finite loss ends the run (``diverged``). Meeting the criterion at epoch E sets the end
    to ``E + ceil(continue_factor E)`` and saves the net as ``at_stop``.
    """
    state, spec = run.state, run.spec
    if not np.isfinite(rec["train_loss"]):
        state.end_epoch = rec["epoch"]
        state.stop_reason = "diverged"
    elif state.end_epoch is None and _met(spec, rec):
        e = rec["epoch"]
        state.epochs_to_stop = e
        state.end_epoch = e + math.ceil(spec.continue_factor * e - 1e-9)
        state.stop_reason = spec.stop if state.end_epoch == e else "continued"
        run.at_stop = run.model.copy()
        if run.out is not None:
            save_model(run.out / "at_stop.npz", run.at_stop)
        return True
    return False


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
    if run.out is not None:
        run.state.elapsed = time.perf_counter() - run.t0
        _write_checkpoint(run.out / CHECKPOINT, run.config, run.model, run.init, run.velocity,
                          asdict(run.state), run.shuffle)


def _finish(run: _Run, rng) -> TrainResult:
    """Assemble the history and write ``model.npz``, ``init.npz`` and ``history.json``."""
    state, out = run.state, run.out
    public = {k: v for k, v in run.config.items() if k != "streams"}
    public["seed"] = int(rng) if isinstance(rng, int | np.integer) else None
    history = {"config": public, "records": state.records, "epochs": state.epoch,
               "epochs_to_stop": state.epochs_to_stop, "stop_reason": state.stop_reason,
               "final": state.records[-1], "wall_time": state.elapsed
               if out is not None else time.perf_counter() - run.t0}
    if out is not None:
        save_model(out / "model.npz", run.model)
        if not (out / "init.npz").exists():
            save_model(out / "init.npz", run.init)
        write_json(out / "history.json", history)
    return TrainResult(model=run.model, init=run.init, history=history, at_stop=run.at_stop)


# ---------------------------------------------------------------------------- the SGD epoch

def _epoch(model, velocity, x, y, loss, spec: TrainSpec, shuffle, dtype) -> None:
    """One pass over a fresh permutation of the training set, updating ``model.theta`` in place.

    *velocity* is the flat momentum buffer, laid out like ``model.theta``.
    """
    order = shuffle.permutation(len(x))
    if spec.momentum == 0 and (spec.weight_decay == 0 or spec.wd_power == 2):
        for start in range(0, len(x), spec.batch_size):  # the engine steps in its backward pass
            idx = order[start:start + spec.batch_size]
            model.sgd_step(x[idx], y[idx], loss, spec.lr, spec.weight_decay)
        return
    lr = dtype.type(spec.lr)
    mu = dtype.type(spec.momentum)
    theta = model.theta
    decay = _decay_mask(model) if spec.weight_decay > 0 else None
    wd2 = dtype.type(2 * spec.weight_decay)
    wd1 = dtype.type(spec.weight_decay)
    for start in range(0, len(x), spec.batch_size):
        idx = order[start:start + spec.batch_size]
        g = model.value_and_grad(x[idx], y[idx], loss, flat=True)[2]
        if decay is not None:
            if spec.wd_power == 2:
                g += wd2 * (decay * theta)
            else:
                g += wd1 * (decay * np.sign(theta))
        if spec.momentum > 0:
            velocity *= mu
            velocity += g
            g = velocity
        theta -= lr * g


def _decay_mask(model) -> np.ndarray:
    """1 on the conv weights of ``model.theta``, 0 elsewhere (biases, readout)."""
    mask = model.copy()
    mask.theta[:] = 0
    for k, v in mask.params.items():
        if k.startswith("conv") and k.endswith(".weight"):
            v[...] = 1
    return mask.theta


# ---------------------------------------------------------------------------- measurements

def _evaluate(model, x, y, loss, chunk: int) -> tuple[float, float]:
    """Mean loss and error fraction (``y out <= 0``) of *model* on ``(x, y)``."""
    total, wrong = 0.0, 0
    for s in range(0, len(x), chunk):
        out = model.forward(x[s:s + chunk])
        values, _ = loss(out, y[s:s + chunk])
        total += float(np.sum(values, dtype=np.float64))
        wrong += int(np.count_nonzero(~(y[s:s + chunk] * out > 0)))  # NaN counts as wrong
    return total / len(x), wrong / len(x)


def _eval_chunk(net: NetSpec) -> int:
    """Return the samples per evaluation forward pass: about 4M floats in the first layer."""
    return max(1, min(4096, (1 << 22) // (net.width * net.size ** net.dim)))


def _penalty(params: dict, wd: float, p: int) -> float:
    """``wd * sum_k sum |W_k|^p`` over the conv weights."""
    s = sum(float(np.sum(np.abs(v.astype(np.float64)) ** p))
            for k, v in params.items() if k.startswith("conv") and k.endswith(".weight"))
    return wd * s


def _weight_change(params: dict, params0: dict, depth: int) -> dict[str, float]:
    """``||w - w0||^2 / ||w0||^2`` of ``conv1.weight`` ... ``readout.weight``."""
    out = {}
    for name in [f"conv{k}" for k in range(1, depth + 1)] + ["readout"]:
        w = params[f"{name}.weight"].astype(np.float64)
        w0 = params0[f"{name}.weight"].astype(np.float64)
        den = float(np.sum(w0 ** 2))
        out[name] = float(np.sum((w - w0) ** 2)) / den if den > 0 else float("nan")
    return out


def _progress_bar(progress: bool, state: _State, spec: TrainSpec):
    from tqdm.auto import tqdm

    return tqdm(total=state.end_epoch or spec.max_epochs, initial=state.epoch,
                disable=not progress, unit="epoch", desc="train", dynamic_ncols=True)


# ---------------------------------------------------------------------------- randomness

def _streams(rng, data_seed: int | None, noise: bool = False) -> dict[str, np.random.Generator]:
    """Independent generators ``init``, ``shuffle``, ``data`` (and ``noise``) spawned from *rng*.

    The ``noise`` stream is the fourth child, so the first three do not depend on *noise*.
    """
    parent = rng if isinstance(rng, np.random.Generator) else \
        np.random.default_rng(0 if rng is None else rng)
    init, shuffle, data = parent.spawn(3)
    if data_seed is not None:
        data = np.random.default_rng(data_seed)
    out = {"init": init, "shuffle": shuffle, "data": data}
    if noise:
        out["noise"] = parent.spawn(1)[0]
    return out


# ---------------------------------------------------------------------------- checkpoints

def _write_checkpoint(path: Path, config, model, init, velocity, state, shuffle) -> None:
    """One atomic ``.npz``: parameters, initial parameters, momentum, and a JSON ``state``."""
    arrays = {}
    vel = model.copy()
    vel.theta[...] = velocity
    for prefix, d in (("model", model.params), ("init", init.params), ("velocity", vel.params)):
        for k, v in d.items():
            arrays[f"{prefix}/{k}"] = v
    meta = {"format": _CKPT_FORMAT, "version": _CKPT_VERSION, "config": config,
            "state": state, "shuffle": shuffle.bit_generator.state}
    save_npz(path, state=np.array(json.dumps(meta)), **arrays)


def _read_checkpoint(path: Path, config: dict):
    """Load the checkpoint at *path* if any, checking it belongs to the run described by *config*.

    Returns
    -------
    None or (model, init, velocity, state, shuffle_state)

    """
    if not path.exists():
        return None
    where = f"checkpoint {path}"
    try:
        arrays = load_npz(path)
        meta = json.loads(str(arrays.pop("state")))
    except Exception as err:
        raise ScaleDetectError(f"{where}: unreadable ({err}); delete it to start afresh") from None
    if meta.get("format") != _CKPT_FORMAT or meta.get("version") != _CKPT_VERSION:
        raise ScaleDetectError(f"{where}: not a scaledetect checkpoint version {_CKPT_VERSION} "
                               "(older versions drew another test set); delete it to start "
                               "afresh")
    old = meta["config"]
    for part in ("task", "net", "train"):
        diff = {k: (old[part].get(k), v) for k, v in config[part].items()
                if old[part].get(k) != v}
        if diff:
            detail = ", ".join(f"{k}={a!r} in the checkpoint but {b!r} now"
                               for k, (a, b) in diff.items())
            raise ScaleDetectError(f"{where}: {part} differs from the checkpoint's ({detail})")
    if old["streams"] != config["streams"]:
        raise ScaleDetectError(f"{where}: the seed differs from the checkpoint's")
    net = NetSpec(**config["net"])
    dtype = np.dtype(config["train"]["dtype"])
    shapes = param_shapes(net)
    parts = {}
    for prefix in ("model", "init", "velocity"):
        d = {}
        for k, shape in shapes.items():
            a = arrays.get(f"{prefix}/{k}")
            if a is None or a.shape != shape or a.dtype != dtype:
                raise ScaleDetectError(f"{where}: array {prefix}/{k} missing or malformed")
            d[k] = np.ascontiguousarray(a)
        parts[prefix] = d
    model = CNN(net, parts["model"], dtype=dtype)
    init = CNN(net, parts["init"], dtype=dtype)
    velocity = CNN(net, parts["velocity"], dtype=dtype).theta
    return model, init, velocity, meta["state"], meta["shuffle"]


def _read_at_stop(path: Path, net: NetSpec, dtype: np.dtype):
    """The model saved when the criterion was met, checked against the run's net and dtype."""
    from .io import load_model

    if not path.exists():
        raise ScaleDetectError(f"{path} is missing although the checkpoint says the criterion "
                               "was met; delete the checkpoint to start afresh")
    m = load_model(path)
    require(m.spec == net and m.dtype == dtype, "at_stop.npz", "match the run's net and dtype",
            path)
    return m


# ---------------------------------------------------------------------------- helpers

def _finite(x) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def train_spec_fields() -> tuple[str, ...]:
    """Names of the ``TrainSpec`` fields (for command-line flags)."""
    return tuple(f.name for f in fields(TrainSpec))
