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
    """
    require_choice("match", match, NOISE_MATCH)
    c, d = _pair(clean, deformed)
    rng = as_rng(rng)
    g = rng.standard_normal(c.shape)
    if match == "batch":
        if sigma is None:
            sigma = noise_sigma(c, d)
        require(sigma >= 0, "sigma", "be >= 0", sigma)
        eta = sigma * g
    else:
        scale = np.sqrt(_change_sq(c, d) / _change_sq(np.zeros_like(g), g))
        eta = g * scale.reshape((-1,) + (1,) * (c.ndim - 1))
    return (c + eta).astype(np.float32)
