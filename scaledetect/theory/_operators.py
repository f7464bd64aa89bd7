"""Linear operators of the idealized pooling net, read from ``NetSpec`` (the one net description).

Every conv layer of the pooling net averages the window ``s*u ... s*u+F-1 (mod N_{k-1})`` in every
coordinate, so in ``dim`` dimensions each operator is the tensor power of a 1D matrix. Integer
*count* matrices (entries = number of window paths) keep the data expectations exact.
"""

import numpy as np
from scipy import sparse

from ..nn.spec import NetSpec


def window_index(net: NetSpec, k: int) -> np.ndarray:
    """Input indices of every unit of layer k, ``(N_k, F)`` int: ``s*u + j mod N_{k-1}``.

    The one home of the window geometry (``NetSpec.windows`` for all units at once).
    """
    n_in, n_out = net.sizes[k - 1], net.sizes[k]
    return (net.stride * np.arange(n_out)[:, None] + np.arange(net.filter)[None, :]) % n_in


def overlaps(net: NetSpec) -> np.ndarray:
    """``|window(0) & window(l)|`` of layer-1 units at lag l = 0..N_1-1 (1D), int."""
    idx = window_index(net, 1)
    return np.sum(idx < net.filter, axis=1)


def pool_counts(net: NetSpec, k: int) -> sparse.csr_matrix:
    """1D count matrix of layer k, ``(N_k, N_{k-1})`` sparse, integer entries (float64).

    ``P[u, i]`` = number of taps of unit u's window on input i (``NetSpec.windows``).
    """
    n_out, n_in = net.sizes[k], net.sizes[k - 1]
    idx = window_index(net, k)
    rows = np.repeat(np.arange(n_out), idx.shape[1])
    return sparse.csr_matrix((np.ones(idx.size), (rows, idx.ravel())), shape=(n_out, n_in))


class Operators:
    """All 1D operators the exact theory needs (built once per net).

    Attributes
    ----------
    P : list of scipy.sparse.csr_matrix
        ``P[k]`` for k = 1..K (``P[0]`` is None): count matrices ``(N_k, N_{k-1})``.
    C : list of csr_matrix
        ``C[k] = P[k] ... P[1]``, input -> layer k counts ``(N_k, N_0)``; ``C[0] = I``.
    A : list of csr_matrix
        Layer 1 -> layer k averaging ``(P[k] ... P[2]) / F^(k-1)``, ``(N_k, N_1)``; then the
        output row ``A[K+1] = mean over positions of A[K]``, ``(1, N_1)``.
    overlap : ndarray (N_1,)
        ``|window(0) & window(l)|`` of layer-1 units at lag l (1D).
    lags : ndarray (L,)
        1D lags with positive overlap (including 0).
    """

    def __init__(self, net: NetSpec):
        self.net = net
        K, F = net.depth, net.filter
        self.P = [None] + [pool_counts(net, k) for k in range(1, K + 1)]
        self.C = [sparse.identity(net.size, format="csr")]
        for k in range(1, K + 1):
            self.C.append((self.P[k] @ self.C[-1]).tocsr())
        n1 = net.sizes[1]
        self.A = [None, sparse.identity(n1, format="csr")]
        for k in range(2, K + 1):
            self.A.append((self.P[k] @ self.A[-1] / F).tocsr())
        self.A.append(sparse.csr_matrix(np.asarray(self.A[K].mean(0))))
        self.overlap = overlaps(net)
        self.lags = np.flatnonzero(self.overlap > 0)


def pool(X: np.ndarray, net: NetSpec, k: int, dim: int) -> np.ndarray:
    """Sum over the windows of layer k (sparse gather), ``(..., N_{k-1}^dim) -> (..., N_k^dim)``.

    Equal to ``apply(X, pool_counts(net, k), dim)`` at O(F) cost per output.
    """
    n_in, n_out = net.sizes[k - 1], net.sizes[k]
    idx = window_index(net, k)  # (n_out, F)
    lead = X.shape[:-1]
    if dim == 1:
        return X[..., idx].sum(-1)
    Y = X.reshape(lead + (n_in, n_in))
    Y = Y[..., idx, :].sum(-2)  # (..., n_out, n_in)
    Y = Y[..., idx].sum(-1)  # (..., n_out, n_out)
    return Y.reshape(lead + (n_out * n_out,))


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
