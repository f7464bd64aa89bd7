"""How much of a conv layer's filters is average pooling (the uniform component)."""

import numpy as np

from ..errors import require


def uniform_share(w: np.ndarray, per_filter: bool = False) -> float | np.ndarray:
    """Share of the squared filter norm in the uniform (constant, average-pooling) component.

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in, F[, F])
        Conv weights.
    per_filter : bool
        Return the share of every (out, in) filter instead of the layer's.

    Returns
    -------
    float or ndarray (C_out, C_in)
        Layer: ``sum_{o,i} F^dim mean_j(w_oij)^2 / sum_{o,i,j} w_oij^2``, the norm-weighted
        share (filters that carry more weight count more). Per filter:
        ``F^dim mean(w)^2 / sum(w^2)``. Both are 1 for average pooling, 0 for zero-mean filters
        and ``1/F^dim`` on average for random Gaussian filters.
    """
    w = np.asarray(w, float)
    require(w.ndim in (3, 4), "w.ndim", "be 3 or 4 (C_out, C_in, F[, F])", w.ndim)
    axes = tuple(range(2, w.ndim))
    taps = int(np.prod(w.shape[2:]))
    uniform = taps * w.mean(axis=axes) ** 2
    total = (w**2).sum(axis=axes)
    if per_filter:
        return uniform / np.maximum(total, 1e-300)
    return float(uniform.sum() / max(total.sum(), 1e-300))
