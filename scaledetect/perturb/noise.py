"""Gaussian noise matched to the norm of a diffeomorphism's change."""

import numpy as np

from .._random import as_rng
from ..errors import require, require_choice
from .spec import NOISE_MATCH


def _pair(clean: np.ndarray, deformed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(clean, np.float64)
    d = np.asarray(deformed, np.float64)
    require(c.ndim >= 2, "clean.shape", "be (n, C, N[, N])", c.shape)
    require(d.shape == c.shape, "deformed.shape", f"equal clean.shape {c.shape}", d.shape)
    return c, d


def _change_sq(c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``||tau x_i - x_i||^2`` per sample, ``(n,)``."""
    return ((d - c) ** 2).reshape(len(c), -1).sum(1)


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
    c, d = _pair(clean, deformed)
    require(len(c) > 0, "clean", "hold at least one image", len(c))
    return float(np.sqrt(_change_sq(c, d).mean() / c[0].size))


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
        ``x_i + eta_i``, eta from ``matched_eta`` (the same arguments).
    """
    c = np.asarray(clean, np.float64)
    return (c + matched_eta(c, deformed, match, rng, sigma)).astype(np.float32)


def matched_eta(clean: np.ndarray, deformed: np.ndarray, match: str = "batch",
                rng: np.random.Generator | int | None = None,
                sigma: float | None = None) -> np.ndarray:
    """The noise ``eta_i`` of ``matched_noise`` alone, float64 (arguments as there).

    Returns
    -------
    float64, the shape of *clean*
        ``eta_i``: one standard Gaussian draw ``g`` of the shape of *clean* from *rng*, scaled
        by sigma (``batch``) or by ``||tau x_i - x_i|| / ||g_i||`` (``sample``).
    """
    require_choice("match", match, NOISE_MATCH)
    c, d = _pair(clean, deformed)
    rng = as_rng(rng)
    g = rng.standard_normal(c.shape)
    if match == "batch":
        if sigma is None:
            sigma = noise_sigma(c, d)
        require(sigma >= 0, "sigma", "be >= 0", sigma)
        return sigma * g
    scale = np.sqrt(_change_sq(c, d) / _change_sq(np.zeros_like(g), g))
    return g * scale.reshape((-1,) + (1,) * (c.ndim - 1))


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
