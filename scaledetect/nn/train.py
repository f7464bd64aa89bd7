"""Training a ``CNN`` on a scale-detection task.

SGD with momentum, weight decay, stopping rules, history, checkpoints, and resumption that ends
bit-identical to an uninterrupted run: the loop of ``scaledetect.training`` over the numba
stepper ``nn.stepper.CNNStepper``; this module draws the data and the initial net from the seed
and translates ``TrainSpec`` into the loop's settings.

The defaults are the recipe of SPEC section 8 (batch 8, lr 0.01 * width, hinge loss, L2 weight
decay 0.01 * sum w^2 / (width K) on the conv weights, train to zero training error and then on
for 20 times as many epochs). The net itself (mean-field readout, alpha = 1, gain sqrt(F)) is the
caller's ``NetSpec``; see ``recipe_net``.
"""

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..engine import Engine
from ..errors import require, require_choice, require_int
from ..tasks.spec import TaskSpec
from ..tasks.split import train_test
from ..training import CHECKPOINT, STOPS, LoopSpec, TrainData, TrainHistory, noise_seed, run_loop
from .io import DTYPES
from .losses import LOSSES, make_loss
from .model import CNN, compile_backward_aside, init_cnn
from .spec import NetSpec
from .stepper import CNNStepper

__all__ = ["CHECKPOINT", "STOPS", "TrainResult", "TrainSpec", "recipe_net", "train",
           "train_spec_fields"]


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
        The trained model (after the last epoch).
    init : CNN
        The same net at initialization.
    history : TrainHistory
        The log also written to ``history.json`` (``TrainHistory.to_dict()``): ``config``
        (task, net, resolved train spec, seed), ``records`` (``EpochRecord``: epoch, lr, train
        loss and error, test loss and error, ``penalty``, ``weight_change`` = the relative change
        ``||w - w0||^2 / ||w0||^2`` of each layer's weights, ``seconds``), ``epochs``,
        ``epochs_to_stop`` (None if the criterion was never met), ``stop_reason``
        (``interpolate``, ``loss``, ``continued``, ``max_epochs`` or ``diverged`` when a
        training loss became NaN or infinite), ``selection`` (``last``), ``wall_time``.
    at_stop : CNN or None
        The net when the stopping criterion was met (before the continuation), if it was.
    data : TrainData or None
        The training and test arrays (test images with their noise draw, if any).

    """

    model: object
    init: object
    history: TrainHistory
    at_stop: object = None
    data: TrainData | None = None


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
        If given (locked while training: a second run into it is refused): ``init.npz`` is
        written at the start, ``at_stop.npz`` when the criterion is met, ``checkpoint.npz``
        every ``checkpoint_every`` epochs and at the end, ``model.npz`` and ``history.json`` at
        the end. All writes are atomic. A run that diverges deletes them.
    progress : bool
        Show a tqdm progress bar over epochs.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` (a finished checkpoint just returns its result);
        task, net, spec and seed must equal the checkpoint's. Without a checkpoint, start afresh.
        The result is bit-identical to an uninterrupted run.
    callback : callable, optional
        ``callback(epoch, model, record)`` after each epoch (after the checkpoint, if any);
        ``record`` is that epoch's ``EpochRecord`` or ``None``. An exception it raises stops
        training (the last checkpoint stays usable).
    threads : int, optional
        engine threads for the duration of training (``Engine(threads=...)``, restored
        afterwards); ``None`` keeps the current policy. Results do not depend on it. One thread
        is much faster when the cores are shared with other processes (small per-step kernels
        then wait for busy threads).

    Returns
    -------
    TrainResult
        ``model``, ``init``, ``history``, ``at_stop`` and ``data``. A run whose training loss
        became NaN or infinite returns with ``history.stop_reason == "diverged"`` at that epoch.

    Raises
    ------
    ScaleDetectError
        On inconsistent arguments, an existing checkpoint without ``resume``, a checkpoint
        that does not match, or an ``out_dir`` in use by another run; nothing is written then.

    """
    spec = _checked(task, net, spec, resume, out_dir)
    with Engine(threads=threads):  # None keeps the enclosing policy
        compile_backward_aside(spec.dtype)  # on a cold cache: meanwhile, in a child process
        return _train(task, net, spec, rng, out_dir, progress, resume, callback)


def _train(task, net, spec: TrainSpec, rng, out_dir, progress, resume, callback) -> TrainResult:
    """Draw the streams, data and initial net; run the loop; wrap its result."""
    dtype = np.dtype(spec.dtype)
    streams = _streams(rng, spec.data_seed, spec.train_noise > 0)
    identity = json.loads(json.dumps({  # the form it has after a round trip through JSON
        "task": task.to_dict(), "net": net.to_dict(), "train": spec.to_dict(),
        "streams": {k: r.bit_generator.state for k, r in streams.items()}}))
    config = {k: v for k, v in identity.items() if k != "streams"}
    config["seed"] = int(rng) if isinstance(rng, int | np.integer) else None
    data = _draw_data(task, spec, streams["data"], dtype)
    if spec.train_noise > 0:
        data = data.with_noise(spec.train_noise, noise_seed(streams["noise"]))
    model = init_cnn(net, streams["init"], dtype=dtype, bias_std=spec.bias_std)
    stepper = CNNStepper(model, make_loss(spec.loss, net.alpha), spec.momentum,
                         spec.weight_decay, spec.wd_power, _eval_chunk(net))
    each = None if callback is None else (lambda e, rec: callback(e, stepper.model, rec))
    out = run_loop(stepper, data, _loop_spec(spec), streams["shuffle"], config=config,
                   identity=identity, out_dir=out_dir, resume=resume, progress=progress,
                   callback=each, desc="train")
    at_stop = None if out.at_stop is None else CNN(net, out.at_stop, dtype=dtype)
    return TrainResult(model=stepper.model, init=stepper.init, history=out.history,
                       at_stop=at_stop, data=out.data)


def _loop_spec(spec: TrainSpec) -> LoopSpec:
    """The loop's settings of a resolved ``TrainSpec``: constant lr, the last model."""
    return LoopSpec(batch_size=spec.batch_size, lr=spec.lr, schedule="constant", stop=spec.stop,
                    max_epochs=spec.max_epochs, loss_threshold=spec.loss_threshold,
                    continue_factor=spec.continue_factor, record_every=spec.record_every,
                    checkpoint_every=spec.checkpoint_every, selection="last")


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


def _draw_data(task: TaskSpec, spec: TrainSpec, rng: np.random.Generator, dtype) -> TrainData:
    """Disjoint training and test sets (``tasks.train_test``) from the data stream *rng*."""
    train_set, test_set = train_test(task, spec.n_train, spec.n_test, rng)
    x_train = np.ascontiguousarray(train_set.images, dtype=dtype)
    y_train = np.asarray(train_set.labels).astype(dtype)
    if spec.n_test > 0:
        x_test = np.ascontiguousarray(test_set.images, dtype=dtype)
        y_test = np.asarray(test_set.labels).astype(dtype)
    else:
        x_test = y_test = None
    return TrainData(x_train, y_train, x_test, y_test)


#: The training data with its noise schedule (the name the tests of the noise schedule use).
_Data = TrainData


def _epoch(model, velocity, x, y, loss, spec: TrainSpec, shuffle, dtype) -> None:
    """One pass over a fresh permutation of ``(x, y)`` with *spec*'s optimizer, in place.

    *velocity* is the flat momentum buffer, laid out like ``model.theta``. (The loop does the
    same with ``CNNStepper``; this is the update rule on its own, for checking it by hand.)
    """
    stepper = CNNStepper(model, loss, spec.momentum, spec.weight_decay, spec.wd_power,
                         velocity=velocity, dtype=dtype)
    order = shuffle.permutation(len(x))
    for start in range(0, len(x), spec.batch_size):
        idx = order[start:start + spec.batch_size]
        stepper.step(x[idx], y[idx], spec.lr)


def _eval_chunk(net: NetSpec) -> int:
    """Return the samples per evaluation forward pass: about 4M floats in the first layer."""
    return max(1, min(4096, (1 << 22) // (net.width * net.size ** net.dim)))


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


def _finite(x) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def train_spec_fields() -> tuple[str, ...]:
    """Names of the ``TrainSpec`` fields (for command-line flags)."""
    return tuple(f.name for f in fields(TrainSpec))
