"""The probe set and its perturbations, streamed in batches with batch-independent randomness.

The probe set is ``P`` configurations drawn once from the task's class-balanced distribution
(positions only: ``(P, 2, p)`` float64, a few MB even for P = 100,000). Images are rendered batch
by batch; the diffeomorphism, the matched noise and the corruption of probe ``i`` use the random
stream of its *block* ``i // BLOCK`` (``default_rng([seed, stream, block])``), so the perturbed
images, hence every number computed from them, do not depend on the batch size.
"""

import dataclasses
import itertools
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import engine, perturb, tasks
from ..errors import real_array, require
from ..perturb.noise import change_sq
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec
from .source import as_source, flatten

BLOCK = 256
"""Probes per random-stream block; batches are whole numbers of blocks."""

_POSITIONS, _DIFFEO, _NOISE, _CORRUPT = 0, 1, 2, 3  # random-stream tags
WORKERS = 2  # threads of the passes over the probes (numpy and the kernels release the GIL)


def root_seed(rng: np.random.Generator | int | None) -> int:
    """Return the integer seed of a measurement: *rng*, 0 for None, or 63 bits drawn from it."""
    if rng is None:
        return 0
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**63))
    require(isinstance(rng, (int, np.integer)) and rng >= 0, "rng",
            "be a numpy Generator, an integer seed >= 0 or None", rng)
    return int(rng)


def _stream(seed: int, tag: int, block: int) -> np.random.Generator:
    return np.random.default_rng([seed, tag, block])


class _Streams:
    """Block-wise random streams, matched noise and corruption of the probe sets (``seed``,
    ``pert``, ``sigma``, ``corrupt_std``).
    """

    def noisy(self, lo: int, hi: int, images: np.ndarray, deformed: np.ndarray) -> np.ndarray:
        """``x + eta`` of probes ``lo .. hi-1`` (float32), eta matched to ``deformed - images``:
        the images of ``perturb.matched_noise`` on the same stream.
        """
        eta = self.eta(lo, hi, images, deformed)
        return (np.asarray(images) + eta).astype(np.float32, copy=False)

    def eta(self, lo: int, hi: int, images: np.ndarray, deformed: np.ndarray) -> np.ndarray:
        """Matched noise ``eta_i`` of probes ``lo .. hi-1``, float32 (``perturb.matched_eta``)."""
        return self._blockwise(lo, hi, lambda a, b, r: perturb.matched_eta(
            images[a - lo:b - lo], deformed[a - lo:b - lo], self.pert.noise_match, r,
            sigma=self.sigma), _NOISE)

    def corruption(self, lo: int, hi: int, shape: tuple) -> np.ndarray:
        """Corruption ``n_i ~ N(0, corrupt_std^2 I)`` of probes ``lo .. hi-1``, float64
        ``(hi - lo,) + shape``.
        """
        return self._blockwise(lo, hi, lambda a, b, r: self.corrupt_std * r.standard_normal(
            (b - a,) + tuple(shape)), _CORRUPT)

    def perturbed(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Clean, deformed and noisy images of probes ``lo .. hi-1`` (lo on a block edge).

        Returns
        -------
        x, x_diffeo, x_noise : float32 ``(hi - lo, C, N[, N])``
            ``x_i + n_i``, ``tau x_i + n_i`` and ``x_i + n_i + eta_i`` (eta_i float32), matched
            to the clean change ``tau x_i - x_i``. ``corrupt_std = 0``: no draw of n_i, and
            ``x_i + eta_i`` is one float32 sum (``perturb.matched_noise``); otherwise each image
            is rounded once from float64.
        """
        x = self.clean(lo, hi)
        xd = self.deformed(lo, hi, x)
        eta = self.eta(lo, hi, x, xd)
        if self.corrupt_std > 0:
            n = self.corruption(lo, hi, x.shape[1:])
            x64 = x.astype(np.float64) + n
            xd = (xd.astype(np.float64) + n).astype(np.float32)
            return x64.astype(np.float32), xd, (x64 + eta).astype(np.float32)
        eta += x
        return x, xd, eta

    def _blockwise(self, lo: int, hi: int, fn, tag: int) -> np.ndarray:
        parts = []
        for a in range(lo, hi, BLOCK):
            b = min(a + BLOCK, hi)
            parts.append(fn(a, b, _stream(self.seed, tag, a // BLOCK)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


@dataclass(frozen=True)
class ProbeSet(_Streams):
    """``P`` probe configurations of a task and the matched-noise level.

    Attributes
    ----------
    task : TaskSpec
    pert : Perturbation
    seed : int
        Root seed of every random stream of the measurement.
    positions : float64 ``(P, 2, p)``
        Canonical positions (see ``TaskSpec``).
    labels : int8 ``(P,)``
    sigma : float or None
        Batch-matched noise level, ``sigma^2 = mean_i ||tau x_i - x_i||^2 / N^dim`` over the whole
        probe set; None for sample-matched noise.
    probe_noise : float
        Relative level of the corruption ``n_i`` added to every probe (0: none).
    corrupt_std : float
        Its per-pixel std, ``perturb.corruption_std(probe_noise, mean_i ||x_i||^2, N^dim)`` over
        the clean probe set.

    """

    task: TaskSpec
    pert: Perturbation
    seed: int
    positions: np.ndarray
    labels: np.ndarray
    sigma: float | None
    probe_noise: float = 0.0
    corrupt_std: float = 0.0

    @property
    def size(self) -> int:
        """Number of probes P."""
        return len(self.positions)

    def clean(self, lo: int, hi: int) -> np.ndarray:
        """Images of probes ``lo .. hi-1``, float32 ``(hi - lo, 1, N[, N])``."""
        return tasks.render(self.task, self.positions[lo:hi])

    def deformed(self, lo: int, hi: int, images: np.ndarray) -> np.ndarray:
        """``tau x`` of probes ``lo .. hi-1`` (*images*: their clean images; lo on a block edge)."""
        return self._blockwise(lo, hi, lambda a, b, r: perturb.diffeo(
            self.task, self.pert, images[a - lo:b - lo], self.positions[a:b], r), _DIFFEO)


@dataclass(frozen=True)
class ImageProbeSet(_Streams):
    """A user's images as the probe set: max-entropy diffeos and matched noise.

    Attributes
    ----------
    images : float32 ``(P, C, N[, N])``
    pert : Perturbation
        ``pert.diffeo`` must be ``maxent`` (user images carry no feature positions to shift).
    seed : int
    sigma : float or None
        Batch-matched noise level, ``sigma^2 = mean_i ||tau x_i - x_i||^2 / (C N^dim)``.
    probe_noise, corrupt_std : float
        As in ``ProbeSet`` (pixels ``C N^dim``).

    """

    images: np.ndarray
    pert: Perturbation
    seed: int
    sigma: float | None
    probe_noise: float = 0.0
    corrupt_std: float = 0.0

    @property
    def size(self) -> int:
        """Number of probes P."""
        return len(self.images)

    def clean(self, lo: int, hi: int) -> np.ndarray:
        """Images ``lo .. hi-1``."""
        return self.images[lo:hi]

    def deformed(self, lo: int, hi: int, images: np.ndarray) -> np.ndarray:
        """``tau x`` of images ``lo .. hi-1``: one max-entropy field per image, all channels."""
        return self._blockwise(lo, hi, lambda a, b, r: perturb.maxent_deform(
            images[a - lo:b - lo], self.pert, r), _DIFFEO)


def draw(task: TaskSpec, pert: Perturbation, probe: int, seed: int,
         probe_noise: float = 0.0) -> ProbeSet:
    """Draw the probe set, its matched-noise level and its corruption level (one pass).

    Parameters
    ----------
    task : TaskSpec
        The task whose class-balanced distribution is sampled.
    pert : Perturbation
        Diffeomorphism and noise matching.
    probe : int
        P, the number of probes.
    seed : int
        Root seed (see ``root_seed``).
    probe_noise : float
        Relative corruption level (``>= 0``; see ``ProbeSet``).

    Returns
    -------
    ProbeSet

    Notes
    -----
    Batch matching needs ``sigma`` before the first noisy image, and the corruption needs the
    probes' mean ``||x_i||^2``: this first pass renders (and, for batch matching, deforms) every
    block (the same streams as the measurement pass, so the same ``tau x_i``) and keeps only the
    running sums of ``||tau x_i - x_i||^2`` and of ``||x_i||^2``.

    """
    positions, labels = tasks.sample_positions(task, probe, _stream(seed, _POSITIONS, 0))
    ps = ProbeSet(task, pert, seed, positions, labels, None)
    return _levels(ps, task.size**task.dim, probe_noise)


def _block_sums(ps, lo: int, hi: int, change: bool, norm: bool) -> tuple[float, float]:
    """``sum ||tau x_i - x_i||^2`` (if *change*) and ``sum ||x_i||^2`` (if *norm*) over probes
    ``lo .. hi-1`` (one block), else 0.
    """
    x = ps.clean(lo, hi)
    c = float(change_sq(x, ps.deformed(lo, hi, x)).sum()) if change else 0.0
    return c, float(change_sq(x).sum()) if norm else 0.0


def _levels(ps, pixels: int, probe_noise: float):
    """*ps* with the batch-matched sigma (None unless batch matching) and the corruption level,
    both over the whole probe set (one pass).
    """
    require(isinstance(probe_noise, (int, float, np.floating, np.integer))
            and not isinstance(probe_noise, bool) and bool(np.isfinite(probe_noise))
            and probe_noise >= 0, "probe_noise", "be a finite number >= 0", probe_noise)
    batch = ps.pert.noise_match == "batch"
    if not batch and probe_noise == 0:
        return ps
    probe, change, norm = ps.size, 0.0, 0.0
    spans = [(ps, lo, min(lo + BLOCK, probe), batch, probe_noise > 0)
             for lo in range(0, probe, BLOCK)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # summed in block order
        for c, q in pool.map(_block_sums, *zip(*spans, strict=True)):
            change += c
            norm += q
    sigma = float(np.sqrt(change / probe / pixels)) if batch else None
    std = perturb.corruption_std(probe_noise, norm / probe, pixels) if probe_noise > 0 else 0.0
    return dataclasses.replace(ps, sigma=sigma, probe_noise=float(probe_noise), corrupt_std=std)


def draw_images(images: np.ndarray, pert: Perturbation, probe: int | None,
                seed: int, probe_noise: float = 0.0) -> ImageProbeSet:
    """The probe set of a user's images (all, or *probe* of them drawn without replacement).

    Parameters
    ----------
    images : ``(n, C, N)`` or ``(n, C, N, N)``, finite
    pert : Perturbation
        Must use the ``maxent`` diffeo.
    probe : int or None
        Number of images used; None: all of them, in their order.
    seed : int
        Root seed: the subset, the fields and the noise.
    probe_noise : float
        Relative corruption level (``>= 0``; see ``ProbeSet``).

    Returns
    -------
    ImageProbeSet
        sigma and corrupt_std over the ``C N^dim`` entries of an image (see
        ``perturb.noise_sigma``, ``perturb.corruption_std``).
    """
    x = real_array("images", images, finite=False)  # finite: checked below, as float32
    require(x.ndim in (3, 4) and (x.ndim == 3 or x.shape[-1] == x.shape[-2]), "images.shape",
            "be (n, C, N) or (n, C, N, N)", x.shape)
    require(x.shape[-1] >= 2 and x.shape[1] >= 1, "images.shape",
            "have at least one channel and side N >= 2", x.shape)
    require(pert.diffeo == "maxent", "diffeo",
            "be maxent for a user's images (they carry no feature positions to shift)",
            pert.diffeo)
    n = len(x)
    if probe is not None:
        require(isinstance(probe, (int, np.integer)) and 2 <= probe <= n, "probe",
                f"be an integer between 2 and the number of images ({n}) or None", probe)
        idx = np.sort(_stream(seed, _POSITIONS, 0).choice(n, int(probe), replace=False))
        x = x[idx]
    require(len(x) >= 2, "images", "hold at least 2 images", len(x))
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        x = np.ascontiguousarray(x, dtype=np.float32)
    require(bool(np.all(np.isfinite(x))), "images", "be finite as float32 (|x| <= 3.4e38)",
            "non-finite values")
    ps = ImageProbeSet(x, pert, seed, None)
    return _levels(ps, x[0].size, probe_noise)


@dataclass(frozen=True)
class ProbeBatch:
    """Probes ``start .. start + n - 1``: images and every layer's representation.

    Attributes
    ----------
    start : int
    x, x_diffeo, x_noise : float32 ``(n, C, N[, N])``
        Clean, deformed and noisy images (``x_i + n_i``, ``tau x_i + n_i``, ``x_i + n_i + eta_i``
        when the probes are corrupted; see ``_Streams.perturbed``).
    clean, diffeo, noise : list of ndarray ``(n, d_k)``
        Flattened representations f_0 .. f_K and the output (d = 1), model dtype.

    """

    start: int
    x: np.ndarray
    x_diffeo: np.ndarray
    x_noise: np.ndarray
    clean: list
    diffeo: list
    noise: list


def representations(source, x: np.ndarray, channel_mean: bool = False) -> list:
    """Every layer of *source* on *x*, flattened: each ``(n, d_k)``.

    *source*: a ``LayerSource`` or anything ``as_source`` wraps (a CNN, a function).

    ``channel_mean=True`` averages arrays ``(n, C, ...)`` over their channel axis (axis 1)
    first; ``(n,)`` and ``(n, d)`` arrays (the output) have no channel axis.
    """
    return flatten(as_source(source).representations(x), len(x), channel_mean)


def _images(ps: ProbeSet | ImageProbeSet, lo: int, hi: int) -> np.ndarray:
    """Clean, deformed and noisy images of probes ``lo .. hi-1`` stacked, ``(3 (hi - lo), ...)``."""
    return np.concatenate(ps.perturbed(lo, hi))


class _Locked:
    """A source whose ``representations`` one thread at a time may call (sources without
    ``fork``: a user's function, a PyTorch module with hooks).
    """

    def __init__(self, source):
        self.source = source
        self.lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.source, name)

    def representations(self, x: np.ndarray) -> list:
        with self.lock:
            return self.source.representations(x)


def _thread_sources(source, workers: int) -> list:
    """One source per worker thread: the source and copies (``fork``), else one locked source."""
    fork = getattr(source, "fork", None)
    copies = [fork() for _ in range(workers - 1)] if callable(fork) else [None]
    if any(c is None for c in copies):
        return [_Locked(source)] * workers
    return [source, *copies]


def _make_batch(src, ps: ProbeSet | ImageProbeSet, lo: int, hi: int,
                channel_mean: bool) -> ProbeBatch:
    """Probes ``lo .. hi-1``: their images and one forward pass of all three kinds on *src*."""
    xs = _images(ps, lo, hi)
    n = hi - lo
    reps = representations(src, xs, channel_mean)
    return ProbeBatch(lo, xs[:n], xs[n:2 * n], xs[2 * n:], [f[:n] for f in reps],
                      [f[n:2 * n] for f in reps], [f[2 * n:] for f in reps])


class _BatchWorker:
    """What a worker thread of ``map_batches`` does with a span of probes: take a free source,
    make the batch under the engine's worker policy, let batch 0 run ``first`` before any other
    batch goes on to ``fn``, give the source back.
    """

    def __init__(self, source, ps, fn, first, channel_mean: bool, workers: int):
        self.ps, self.fn, self.first, self.channel_mean = ps, fn, first, channel_mean
        self.free = queue.SimpleQueue()
        for src in _thread_sources(source, workers):
            self.free.put(src)
        self.ready, self.first_ok = threading.Event(), False
        self.policy = engine.worker_policy()  # the caller's policy, one thread per worker

    def __call__(self, lo: int, hi: int):
        src = self.free.get()
        try:
            with self.policy:  # this batch's forward chunks run in turn on this thread
                return self.fn(src, self._batch(src, lo, hi))
        finally:
            self.free.put(src)

    def _batch(self, src, lo: int, hi: int) -> ProbeBatch:
        if lo != 0:
            b = _make_batch(src, self.ps, lo, hi, self.channel_mean)
            self.ready.wait()
            if not self.first_ok:  # batch 0 failed: its error is the one the caller sees
                raise RuntimeError("the first batch of probes failed")
            return b
        try:
            b = _make_batch(src, self.ps, lo, hi, self.channel_mean)
            if self.first is not None:
                self.first(b)
            self.first_ok = True
            return b
        finally:
            self.ready.set()


def map_batches(source, ps: ProbeSet | ImageProbeSet, batch_size: int, fn, first=None,
                channel_mean: bool = False, workers: int = WORKERS):
    """Yield ``fn(src, batch)`` for every ``ProbeBatch`` of *ps*, in batch order.

    Batches of ``batch_size`` probes (a multiple of ``BLOCK``; the last is shorter), each made
    (images, one forward pass of its clean, deformed and noisy images) and handed to *fn* in
    one of *workers* threads, at most ``workers + 1`` batches ahead of the consumer. *src* is
    that thread's source (its own copy of the model when the source can ``fork``; otherwise
    forward passes take turns). ``first(batch)``, if given, runs on batch 0 before *fn* runs on
    any batch (the other batches make their images and forward passes meanwhile). The engine's
    kernels and numpy release the GIL. The workers run under the caller's engine policy with one
    thread each (``engine.worker_policy``); its BLAS rule is applied here, once, before they
    start. Every batch is computed by the same operations whichever thread runs it: the values,
    and what *fn* returns, do not depend on *workers*. An error in any batch is raised here,
    batch 0's first.
    """
    require(batch_size % BLOCK == 0, "batch_size", f"be a multiple of {BLOCK}", batch_size)
    work = _BatchWorker(as_source(source), ps, fn, first, channel_mean, workers)
    P = ps.size
    spans = iter([(lo, min(lo + batch_size, P)) for lo in range(0, P, batch_size)])
    engine.set_blas()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque(pool.submit(work, *span) for span in itertools.islice(spans, workers + 1))
        try:
            while pending:
                done = pending.popleft().result()
                span = next(spans, None)
                if span is not None:
                    pending.append(pool.submit(work, *span))
                yield done
        finally:
            for f in pending:
                f.cancel()


def batches(source, ps: ProbeSet | ImageProbeSet, batch_size: int, channel_mean: bool = False):
    """Yield every ``ProbeBatch`` in order (see ``map_batches``; at most three in memory)."""
    yield from map_batches(source, ps, batch_size, lambda src, b: b,
                           channel_mean=channel_mean)
