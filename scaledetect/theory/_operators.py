"""Linear operators of the idealized pooling net, read from ``NetSpec`` (the one net description).

Every conv layer of the pooling net averages the window ``s*u ... s*u+F-1 (mod N_{k-1})`` in every
coordinate, so in ``dim`` dimensions each operator is the tensor power of a 1D matrix. Integer
*count* matrices (entries = number of window paths) keep the data expectations exact. The windows,
their sums and count matrices come from ``scaledetect.nn.windows`` (also the pooling net's
forward); this module adds the dense operators' application and the unit images.
"""

import numpy as np

# the window geometry and its count operators have one home, shared with the pooling net's forward
from ..nn.windows import Operators, overlaps, pool_counts, window_index
from ..nn.windows import sum_windows_flat as pool

__all__ = ["Operators", "apply", "apply_cov", "overlaps", "pool", "pool_counts", "unit_images",
           "window_index"]


def apply(X: np.ndarray, M: np.ndarray, dim: int) -> np.ndarray:
    """Apply the 1D (dense) matrix M ``(n_out, n_in)`` along every spatial axis.

    X has shape ``(..., n_in**dim)`` (flattened); returns ``(..., n_out**dim)``.
    """
    if dim == 1:
        return X @ M.T
    n_in = M.shape[1]
    Y = X.reshape(X.shape[:-1] + (n_in, n_in))
    Y = np.matmul(np.matmul(M, Y), M.T)
    return Y.reshape(X.shape[:-1] + (-1,))


def apply_cov(S: np.ndarray, M: np.ndarray, dim: int) -> np.ndarray:
    """``(M^{(x)dim}) S (M^{(x)dim})^T`` for covariance matrices S ``(B, n^dim, n^dim)``."""
    if dim == 2:
        M = np.kron(M, M)
    return np.matmul(np.matmul(M, S), M.T)


def unit_images(shape: str, dim: int, size: int, pos: np.ndarray) -> np.ndarray:
    """Unit-amplitude images of configurations, ``(..., size**dim)`` float64 (features add).

    ``pos`` has shape ``(..., 2, p)`` (integer-valued positions, TaskSpec convention).
    """
    lead = pos.shape[:-2]
    idx = pos.reshape(-1, 2, pos.shape[-1]).astype(np.int64)
    n = len(idx)
    rows = np.arange(n)[:, None]
    if shape == "stripes":
        prof = np.zeros((n, size))
        np.add.at(prof, (rows, idx[:, :, 0]), 1.0)
        img = np.broadcast_to(prof[:, None, :], (n, size, size)).reshape(n, -1)
    elif dim == 1:
        img = np.zeros((n, size))
        np.add.at(img, (rows, idx[:, :, 0]), 1.0)
    else:
        img = np.zeros((n, size, size))
        np.add.at(img, (rows, idx[:, :, 0], idx[:, :, 1]), 1.0)
        img = img.reshape(n, -1)
    return img.reshape(lead + (size**dim,))
