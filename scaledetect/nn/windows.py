"""The window geometry of a ``NetSpec`` and its numpy operators: window sums and count matrices.

Unit u of layer k sees the inputs ``s*u + j mod N_{k-1}``, j = 0..F-1, along every coordinate
(SPEC section 4; ``window_index``). Every other function here is built on that one table:

- ``sum_windows`` sums images over the windows of a layer (the pooling net's forward,
  ``nn.pooling.PoolingNet``; per axis with strided views, or by tiles when F = s);
- ``sum_windows_flat`` does the same on flattened representations of any leading shape by a
  gather (the theory's forward of the tanh pooling net);
- ``pool_counts`` and ``Operators`` are the sparse integer count matrices of the windows, layer by
  layer (P_k) and input -> layer k (C_k), which keep the theory's data expectations exact.

In ``dim`` dimensions each operator is the tensor power of its 1D matrix. numpy and scipy only: the
theory imports this module without the numba engine.
"""

import itertools

import numpy as np
from scipy import sparse

from .spec import NetSpec


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


# --------------------------------------------------------------------------- window sums
def sum_windows(x: np.ndarray, net: NetSpec, k: int, out: np.ndarray) -> np.ndarray:
    """Sums over the windows of layer k, ``x (n, N_{k-1}[, N_{k-1}]) -> out (n, N_k[, N_k])``.

    Added in the dtype of *out*, tap by tap in the order j = 0..F-1 (axis 1 first in 2D); with
    F = s (tiling windows) the F^dim phases of a reshaped view, without a full-size temporary.
    *x* may have another dtype (float32 images into a float64 *out* are summed exactly).
    """
    F, s, dim = net.filter, net.stride, net.dim
    n_out = net.sizes[k]
    if F == s:
        return _sum_tiles(x, F, n_out, dim, out)
    idx = window_index(net, k)
    u = x
    for ax in range(dim):
        u = _sum_axis(u, 1 + ax, idx, s, out.dtype)
    out[...] = u
    return out


def _sum_axis(x: np.ndarray, axis: int, idx: np.ndarray, s: int, dtype) -> np.ndarray:
    """Sum over the windows *idx* ``(n_out, F)`` along *axis*, added in *dtype*: a strided view
    per tap where it does not wrap around, a gather where it does.
    """
    n_in = x.shape[axis]
    n_out, F = idx.shape
    parts = []
    for j in range(F):
        if j + s * (n_out - 1) < n_in:  # no wrap: idx[:, j] = j, j + s, ...
            sl = [slice(None)] * x.ndim
            sl[axis] = slice(j, j + s * (n_out - 1) + 1, s)
            parts.append(x[tuple(sl)])
        else:
            parts.append(np.take(x, idx[:, j], axis=axis))
    if F == 1:
        return parts[0].astype(dtype)
    out = np.add(parts[0], parts[1], dtype=dtype)
    for part in parts[2:]:
        out += part
    return out


def _sum_tiles(x: np.ndarray, F: int, n_out: int, dim: int, out: np.ndarray) -> np.ndarray:
    """Window sums of tiling windows (F = s): the F^dim phases of a reshaped view of *x* added
    into *out*.
    """
    y = x.reshape((len(x),) + (n_out, F) * dim)
    phases = list(itertools.product(range(F), repeat=dim))

    def view(ph):
        return y[(slice(None),) + sum(((slice(None), j) for j in ph), ())]

    if len(phases) == 1:
        out[...] = view(phases[0])
        return out
    np.add(view(phases[0]), view(phases[1]), out=out, dtype=out.dtype)
    for ph in phases[2:]:
        out += view(ph)
    return out


def sum_windows_flat(X: np.ndarray, net: NetSpec, k: int, dim: int) -> np.ndarray:
    """Sums over the windows of layer k by a gather, ``(..., N_{k-1}^dim) -> (..., N_k^dim)``.

    Equal to ``apply(X, pool_counts(net, k), dim)`` (``theory``) at O(F) cost per output; the
    F taps of a window summed by numpy's reduction.
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


# --------------------------------------------------------------------------- count operators
def pool_counts(net: NetSpec, k: int) -> sparse.csr_matrix:
    """1D count matrix of layer k, ``(N_k, N_{k-1})`` sparse, integer entries (float64).

    ``P[u, i]`` = number of taps of unit u's window on input i (``window_index``).
    """
    n_out, n_in = net.sizes[k], net.sizes[k - 1]
    idx = window_index(net, k)
    rows = np.repeat(np.arange(n_out), idx.shape[1])
    return sparse.csr_matrix((np.ones(idx.size), (rows, idx.ravel())), shape=(n_out, n_in))


class Operators:
    """All 1D count operators of a net's windows (built once per net).

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
