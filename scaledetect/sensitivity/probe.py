"""The probe set and its perturbations, streamed in batches with batch-independent randomness.

The probe set is ``P`` configurations drawn once from the task's class-balanced distribution
(positions only: ``(P, 2, p)`` float64, a few MB even for P = 100,000). Images are rendered batch
by batch; the diffeomorphism and the noise of probe ``i`` use the random stream of its *block*
``i // BLOCK`` (``default_rng([seed, stream, block])``), so the perturbed images, hence every
number computed from them, do not depend on the batch size.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import perturb, tasks
from ..errors import require
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec
from .source import as_source, flatten

BLOCK = 256
"""Probes per random-stream block; batches are whole numbers of blocks."""

_POSITIONS, _DIFFEO, _NOISE = 0, 1, 2  # random-stream tags


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
    """Block-wise random streams and matched noise of the probe sets (``seed``, ``pert``)."""

    def noisy(self, lo: int, hi: int, images: np.ndarray, deformed: np.ndarray) -> np.ndarray:
        """``x + eta`` of probes ``lo .. hi-1``, eta matched to ``deformed - images``."""
        return self._blockwise(lo, hi, lambda a, b, r: perturb.matched_noise(
            images[a - lo:b - lo], deformed[a - lo:b - lo], self.pert.noise_match, r,
            sigma=self.sigma), _NOISE)

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

    """

    task: TaskSpec
    pert: Perturbation
    seed: int
    positions: np.ndarray
    labels: np.ndarray
    sigma: float | None

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

    """

    images: np.ndarray
    pert: Perturbation
    seed: int
    sigma: float | None

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


def change_sq(clean: np.ndarray, deformed: np.ndarray) -> np.ndarray:
    """``||tau x_i - x_i||^2`` per image in float64, ``(n,)``."""
    diff = np.asarray(deformed, np.float64) - np.asarray(clean, np.float64)
    diff = diff.reshape(len(diff), -1)
    return np.einsum("ij,ij->i", diff, diff)


def draw(task: TaskSpec, pert: Perturbation, probe: int, seed: int) -> ProbeSet:
    """Draw the probe set and, for batch-matched noise, its noise level (a pass over the diffeos).

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

    Returns
    -------
    ProbeSet

    Notes
    -----
    Batch matching needs ``sigma`` before the first noisy image: this first pass renders and
    deforms every block (the same streams as the measurement pass, so the same ``tau x_i``) and
    keeps only the running sum of ``||tau x_i - x_i||^2``.

    """
    positions, labels = tasks.sample_positions(task, probe, _stream(seed, _POSITIONS, 0))
    ps = ProbeSet(task, pert, seed, positions, labels, None)
    return dataclasses.replace(ps, sigma=_matched_sigma(ps, task.size**task.dim))


def _matched_sigma(ps, pixels: int) -> float | None:
    """Batch-matched sigma over the whole probe set (a pass over the diffeos); None otherwise."""
    if ps.pert.noise_match != "batch":
        return None
    probe = ps.size
    total = 0.0
    for lo in range(0, probe, BLOCK):
        hi = min(lo + BLOCK, probe)
        x = ps.clean(lo, hi)
        total += float(change_sq(x, ps.deformed(lo, hi, x)).sum())
    return float(np.sqrt(total / probe / pixels))


def draw_images(images: np.ndarray, pert: Perturbation, probe: int | None,
                seed: int) -> ImageProbeSet:
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

    Returns
    -------
    ImageProbeSet
        sigma over the ``C N^dim`` entries of an image (see ``perturb.noise_sigma``).
    """
    x = np.asarray(images)
    require(x.ndim in (3, 4) and (x.ndim == 3 or x.shape[-1] == x.shape[-2]), "images.shape",
            "be (n, C, N) or (n, C, N, N)", x.shape)
    require(x.shape[-1] >= 2 and x.shape[1] >= 1, "images.shape",
            "have at least one channel and side N >= 2", x.shape)
    require(np.issubdtype(x.dtype, np.number), "images", "be a numeric array", x.dtype)
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
    x = np.ascontiguousarray(x, dtype=np.float32)
    require(bool(np.all(np.isfinite(x))), "images", "be finite", "non-finite values")
    ps = ImageProbeSet(x, pert, seed, None)
    return dataclasses.replace(ps, sigma=_matched_sigma(ps, x[0].size))


@dataclass(frozen=True)
class ProbeBatch:
    """Probes ``start .. start + n - 1``: images and every layer's representation.

    Attributes
    ----------
    start : int
    x, x_diffeo, x_noise : float32 ``(n, C, N[, N])``
        Clean, deformed and noisy images.
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


def batches(source, ps: ProbeSet | ImageProbeSet, batch_size: int, channel_mean: bool = False):
    """Yield ``ProbeBatch`` of ``batch_size`` probes (a multiple of ``BLOCK``; the last is shorter).

    Each batch is one forward pass of the concatenated clean, deformed and noisy images.
    """
    require(batch_size % BLOCK == 0, "batch_size", f"be a multiple of {BLOCK}", batch_size)
    source = as_source(source)
    P = ps.size
    for lo in range(0, P, batch_size):
        hi = min(lo + batch_size, P)
        n = hi - lo
        x = ps.clean(lo, hi)
        xd = ps.deformed(lo, hi, x)
        xn = ps.noisy(lo, hi, x, xd)
        reps = representations(source, np.concatenate([x, xd, xn]), channel_mean)
        yield ProbeBatch(lo, x, xd, xn, [f[:n] for f in reps], [f[n:2 * n] for f in reps],
                         [f[2 * n:] for f in reps])
