"""Rendering feature positions to images, and the ``sample`` convenience."""

from dataclasses import dataclass

import numpy as np

from .._random import as_rng
from ..errors import require
from .configs import sample_positions
from .labels import check_positions
from .spec import TaskSpec


@dataclass(frozen=True)
class Batch:
    """A sample of a task.

    Attributes
    ----------
    images : float32 ``(n, 1, N)`` or ``(n, 1, N, N)``
    labels : int8 ``(n,)`` in {+1, -1}
    positions : float64 ``(n, 2, p)``, canonical order (see ``TaskSpec``)
    """

    images: np.ndarray
    labels: np.ndarray
    positions: np.ndarray


def _blob_profiles(task: TaskSpec, pos: np.ndarray) -> np.ndarray:
    """Gaussian profiles ``(n, 2, p, N)``: unit sum of squares (or unit sum, ``mean``).

    Notes
    -----
    ``g(x) = exp(-(x - c)^2 / (2 w^2))`` (w = ``blob_width``), cut off at the image edges; on a
    periodic task (``task.periodic``) the sum over the periodic images
    ``sum_m exp(-(x - c + m N)^2 / (2 w^2))`` with ``|m| <= ceil(6 w / N) + 1``, so a blob near
    an edge wraps around it, as the torus distance of the labels and the wrapping maxent
    deformation do. Computed relative to the largest term so that narrow blobs between pixels
    do not underflow.
    """
    N, w = task.size, task.blob_width
    K = int(np.ceil(6 * w / N)) + 1 if task.periodic else 0
    shifts = N * np.arange(-K, K + 1)
    x = np.arange(N)
    e = -((x[:, None] - pos[..., None, None] + shifts) ** 2) / (2 * w**2)  # (n,2,p,N,images)
    e -= e.max(axis=(-2, -1), keepdims=True)
    g = np.exp(e).sum(-1)
    if task.amplitude == "mean":
        return g / g.sum(-1, keepdims=True)
    return g / np.sqrt((g**2).sum(-1, keepdims=True))


def amplitude(task: TaskSpec) -> float:
    """Value of a point's pixel (stripes: of each pixel of the column; blobs: the bump's scale).

    Returns
    -------
    float
        ``rms``: ``sqrt(N^dim / 2)`` (points, blobs) or ``sqrt(N / 2)`` (stripes), so that the mean
        of x^2 over the N^dim pixels is 1; ``mean``: ``N^dim / 2`` (points, blobs) or ``N / 2``
        (stripes), so that the mean of x over the pixels is 1. Non-overlapping features.
    """
    cells = task.size if task.shape == "stripes" else task.size**task.dim
    return cells / 2 if task.amplitude == "mean" else float(np.sqrt(cells / 2))


def render(task: TaskSpec, positions: np.ndarray) -> np.ndarray:
    """Images of the configurations.

    Parameters
    ----------
    task : TaskSpec
    positions : ``(n, 2, p)``
        Integer-valued positions inside the image for points and stripes; real centres for blobs.

    Returns
    -------
    float32 ``(n, 1, N)`` (dim 1) or ``(n, 1, N, N)`` (dim 2)

    Notes
    -----
    Amplitudes (``amplitude="rms"``, the default) make the mean of x^2 over pixels equal to 1
    when the features do not overlap: points ``a = sqrt(N^dim / 2)`` at their pixel; stripes
    ``a = sqrt(N / 2)`` on the N pixels of their column (last image axis); blobs a Gaussian
    bump, separable in 2D, scaled so that each bump's sum of squares is ``N^dim / 2``; it wraps
    around the edges iff ``task.periodic`` (the one boundary convention of the task: labels and
    diffeos follow it). With ``amplitude="mean"`` the mean of x over pixels is 1 instead:
    points ``a = N^dim / 2``, stripes ``a = N / 2``, each bump sums to ``N^dim / 2``.
    See ``amplitude``. Overlapping features add.
    """
    pos = check_positions(task, positions)
    n, N, d = len(pos), task.size, task.dim
    if task.shape == "blobs":
        g = _blob_profiles(task, pos)
        img = g[:, :, 0] if d == 1 else g[:, :, 0, :, None] * g[:, :, 1, None, :]
        return (amplitude(task) * img.sum(1))[:, None].astype(np.float32)
    require(np.all(pos == np.round(pos)) and np.all((pos >= 0) & (pos < N)), "positions",
            f"be integers in [0, size) for shape={task.shape}", "non-integer or outside",
            f"size={N}")
    idx = pos.astype(np.int64)
    rows = np.arange(n)[:, None]
    if task.shape == "stripes":
        prof = np.zeros((n, N), np.float32)
        np.add.at(prof, (rows, idx[:, :, 0]), amplitude(task))
        return np.ascontiguousarray(np.broadcast_to(prof[:, None, None, :], (n, 1, N, N)))
    img = np.zeros((n,) + (N,) * d, np.float32)
    np.add.at(img, (rows,) + tuple(idx[:, :, c] for c in range(d)), amplitude(task))
    return img[:, None]


def sample(task: TaskSpec, n: int, rng: np.random.Generator | int | None = None) -> Batch:
    """Draw ``n`` rendered samples of the class-balanced distribution (see ``sample_positions``)."""
    pos, y = sample_positions(task, n, as_rng(rng))
    return Batch(render(task, pos), y, pos)
