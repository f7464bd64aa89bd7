"""Gaussian noise matched to the norm of a diffeomorphism's change."""

import numpy as np

from .._random import as_rng
from ..errors import real_array, require, require_choice, require_real
from .spec import NOISE_MATCH

_ROWS_BYTES = 1 << 20  # float64 working copy per row chunk of ``change_sq``: stays in cache


def _check_pair(clean, deformed) -> tuple[np.ndarray, np.ndarray]:
    """*clean*, *deformed* as arrays of one shape ``(n, C, N[, N])`` (dtypes kept, no copy)."""
    c, d = real_array("clean", clean), real_array("deformed", deformed)
    require(c.ndim >= 2, "clean.shape", "be (n, C, N[, N])", c.shape)
    require(d.shape == c.shape, "deformed.shape", f"equal clean.shape {c.shape}", d.shape)
    return c, d


def change_sq(clean: np.ndarray, deformed: np.ndarray | None = None) -> np.ndarray:
    """``||tau x_i - x_i||^2`` per sample in float64, ``(n,)``.

    Parameters
    ----------
    clean, deformed : ``(n, ...)``, any float dtype, one shape
        ``x_i`` and ``tau x_i``; ``deformed=None`` gives ``||x_i||^2``.

    Notes
    -----
    Rows are converted to float64 a chunk at a time (about 1 MB), so the difference is exact
    for float32 inputs and the sum is accumulated in float64, without a float64 copy of the
    whole batch.
    """
    c = np.asarray(clean)
    n = len(c)
    c = c.reshape(n, -1)
    d = None if deformed is None else np.asarray(deformed).reshape(n, -1)
    out = np.empty(n)
    step = max(1, _ROWS_BYTES // (8 * max(c.shape[1], 1)))
    for lo in range(0, n, step):
        rows = slice(lo, lo + step)
        diff = c[rows].astype(np.float64)
        if d is not None:
            diff -= d[rows].astype(np.float64)  # x - tau x: the same squares
        out[rows] = np.einsum("ij,ij->i", diff, diff)
    return out


def noise_sigma(clean: np.ndarray, deformed: np.ndarray) -> float:
    """Batch-matched noise level.

    Parameters
    ----------
    clean, deformed : ``(n, C, N[, N])``
        Images ``x_i`` and ``tau x_i``.

    Returns
    -------
    float
        ``sigma = sqrt(mean_i ||tau x_i - x_i||^2 / (C N^dim))``, so that ``eta ~ N(0, sigma^2 I)``
        has ``E||eta||^2 = mean_i ||tau x_i - x_i||^2`` (C = 1 for task images).
    """
    c, d = _check_pair(clean, deformed)
    require(len(c) > 0, "clean", "hold at least one image", len(c))
    return float(np.sqrt(change_sq(c, d).mean() / c[0].size))


def matched_noise(clean: np.ndarray, deformed: np.ndarray, match: str = "batch",
                  rng: np.random.Generator | int | None = None,
                  sigma: float | None = None) -> np.ndarray:
    """Noisy images ``x_i + eta_i`` whose noise norm matches the diffeo's change.

    Parameters
    ----------
    clean, deformed : ``(n, C, N[, N])``
    match : str
        ``batch``: ``eta_i ~ N(0, sigma^2 I)`` i.i.d., sigma given (e.g. computed once on a whole
        probe set) or ``noise_sigma(clean, deformed)``. ``sample``: ``eta_i = g_i ||tau x_i - x_i||
        / ||g_i||`` with g_i standard Gaussian (uniform direction, exact norm); *sigma* is unused.
    rng : Generator, int or None
    sigma : float or None
        ``batch`` only.

    Returns
    -------
    float32, the shape of *clean*
        ``x_i + eta_i``, eta from ``matched_eta`` (the same arguments), the sum rounded once
        (float32 images: a float32 sum; float64 images: a float64 sum).
    """
    eta = matched_eta(clean, deformed, match, rng, sigma)
    return (np.asarray(clean) + eta).astype(np.float32, copy=False)


def matched_eta(clean: np.ndarray, deformed: np.ndarray, match: str = "batch",
                rng: np.random.Generator | int | None = None,
                sigma: float | None = None) -> np.ndarray:
    """The noise ``eta_i`` of ``matched_noise`` alone, float32 (arguments as there).

    Returns
    -------
    float32, the shape of *clean*
        ``eta_i``: one standard Gaussian draw ``g`` of the shape of *clean* from *rng*
        (``standard_normal(dtype=float32)``), scaled by sigma (``batch``, a float32 product) or
        by ``||tau x_i - x_i|| / ||g_i||`` (``sample``, norms in float64, the product rounded
        once to float32).

    Notes
    -----
    The draws are float32 because the images are: a float64 draw rounded to float32 has the same
    distribution up to that rounding, at a higher cost (the noise is the largest random draw of
    a measurement).
    """
    require_choice("match", match, NOISE_MATCH)
    c, d = _check_pair(clean, deformed)
    g = as_rng(rng).standard_normal(c.shape, dtype=np.float32)
    if match == "batch":
        if sigma is None:
            sigma = noise_sigma(c, d)
        require_real("sigma", sigma, "or None")
        require(sigma >= 0, "sigma", "be >= 0", sigma)
        g *= np.float32(sigma)
        return g
    scale = np.sqrt(change_sq(c, d) / change_sq(g))
    np.multiply(g, scale.reshape((-1,) + (1,) * (c.ndim - 1)), out=g, casting="same_kind")
    return g


def corrupt(images: np.ndarray, sigma: float,
            rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Images plus i.i.d. Gaussian noise of relative size *sigma* (noise-corrupted training).

    Parameters
    ----------
    images : ``(n, C, N[, N])``
        Clean images ``x_i`` (n >= 1).
    sigma : float
        Relative noise level, ``>= 0``.
    rng : Generator, int or None

    Returns
    -------
    ``(n, C, N[, N])``, the dtype of *images* (float32 for task images)
        ``x_i + eta_i`` with ``eta_i ~ N(0, s^2 I)`` i.i.d., per-pixel std
        ``s = sigma * sqrt(mean_i ||x_i||^2 / D)`` over the D = C N^dim pixels of an image, so that
        ``E||eta_i||^2 = sigma^2 mean_i ||x_i||^2``: the noise norm is sigma times the images'
        (root-mean-square) norm. ``sigma = 0`` returns *images* unchanged (the same values, a
        copy; no random number is drawn).
    """
    x = np.asarray(images)
    require(x.ndim >= 3 and len(x) > 0, "images.shape", "be (n, C, N[, N]) with n >= 1", x.shape)
    require(np.issubdtype(x.dtype, np.floating), "images.dtype", "be a float type", x.dtype)
    require(isinstance(sigma, (int, float, np.floating, np.integer)) and sigma >= 0, "sigma",
            "be a number >= 0", sigma)
    if sigma == 0:
        return x.copy()
    x64 = x.astype(np.float64)
    s = corruption_std(sigma, (x64.reshape(len(x), -1) ** 2).sum(1).mean(), x[0].size)
    return (x64 + s * as_rng(rng).standard_normal(x.shape)).astype(x.dtype)


def corruption_std(sigma: float, mean_sq_norm: float, pixels: int) -> float:
    """Per-pixel std of relative Gaussian noise *sigma* (the level of ``corrupt``).

    Parameters
    ----------
    sigma : float
        Relative noise level, ``>= 0``.
    mean_sq_norm : float
        ``mean_i ||x_i||^2`` over the clean images the noise is relative to, ``>= 0``.
    pixels : int
        D, the number of entries ``C N^dim`` of one image.

    Returns
    -------
    float
        ``s = sigma sqrt(mean_i ||x_i||^2 / D)``: i.i.d. ``N(0, s^2)`` entries give
        ``E||eta||^2 = sigma^2 mean_i ||x_i||^2``.
    """
    require(isinstance(sigma, (int, float, np.floating, np.integer)) and sigma >= 0, "sigma",
            "be a number >= 0", sigma)
    require(mean_sq_norm >= 0, "mean_sq_norm", "be >= 0", mean_sq_norm)
    require(isinstance(pixels, (int, np.integer)) and pixels >= 1, "pixels", "be an integer >= 1",
            pixels)
    return float(sigma * np.sqrt(mean_sq_norm / pixels))
