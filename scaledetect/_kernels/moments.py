r"""Per-layer sums of the streamed ``mean`` estimator of D_k, G_k, R_k (``sensitivity.moments``).

One kernel, ``_layer_sums``: for a batch of rows ``a_i = f(x_i)``, ``b_i = f(tau x_i)``,
``e_i = f(x_i + eta_i)`` of one layer (float32 or float64) it adds

.. math::

    d_i = \|b_i - a_i\|^2, \quad g_i = \|e_i - a_i\|^2, \quad r_i = \|a_i - c\|^2, \quad
    q_i = (1, r_i, d_i, g_i, d^0_i) - \text{shift}, \quad
    M \mathrel{+}= \sum_i q_i q_i^T, \quad T \mathrel{+}= \sum_i q_i (a_i - c)^T

with every element converted to float64 before any arithmetic (the operations of the float64
numpy formulas, summed in another fixed order: row sums by pairwise halving, T four rows at
a time). Two passes over the rows, no float64 copy of the batch: the first computes d_i, g_i,
r_i row by row in one float64 scratch row, the second adds to T by blocks of ``_COLS`` columns
so that the block of T stays in L1 while the rows stream by. The loops are written as simple
one-store loops over contiguous memory, the form numba/LLVM turns into vector instructions
without fastmath. Results depend on the rows only (never on threads or on the batch around).
"""

import numpy as np

from ._jit import jit

_ROW = 1024  # columns of a row summed in one L1-resident scratch (8 KB)
_COLS = 256  # columns of T per block of the second pass (5 x 256 float64 = 10 KB)


@jit
def _tree_sum(s, m):
    """Sum of ``s[:m]`` by pairwise halving (overwrites *s*): a fixed order, rounding error
    O(eps log m).
    """
    while m > 8:
        h = m // 2
        for j in range(h):
            s[j] += s[j + h]
        if m % 2:
            s[0] += s[m - 1]
        m = h
    t = 0.0
    for j in range(m):
        t += s[j]
    return t


@jit
def _sq_change(a, b, out):
    """``out = (b - a)^2`` elementwise, in float64."""
    for j in range(a.shape[0]):
        u = np.float64(b[j]) - np.float64(a[j])
        out[j] = u * u


@jit
def _centred(a, c, out):
    """``out = a - c`` in float64."""
    for j in range(a.shape[0]):
        out[j] = np.float64(a[j]) - c[j]


@jit
def _centred_sq(a, c, out):
    """``out = (a - c)^2`` in float64."""
    for j in range(a.shape[0]):
        u = np.float64(a[j]) - c[j]
        out[j] = u * u


@jit
def _axpy(alpha, x, y):
    """``y += alpha x``."""
    for j in range(y.shape[0]):
        y[j] += alpha * x[j]


@jit
def _axpy4(q0, q1, q2, q3, x0, x1, x2, x3, y):
    """``y += (q0 x0 + q1 x1) + (q2 x2 + q3 x3)``."""
    for j in range(y.shape[0]):
        y[j] += (q0 * x0[j] + q1 * x1[j]) + (q2 * x2[j] + q3 * x3[j])


@jit
def _row_sums(a, b, e, c, s):
    """``(||b - a||^2, ||e - a||^2, ||a - c||^2)`` of one row, float64, by chunks of ``_ROW``
    columns (each summed by ``_tree_sum`` in the L1-resident scratch *s*, then added in order).
    """
    dim = a.shape[0]
    d = g = r = 0.0
    for j0 in range(0, dim, _ROW):
        j1 = min(dim, j0 + _ROW)
        w = j1 - j0
        sc = s[:w]
        _sq_change(a[j0:j1], b[j0:j1], sc)
        d += _tree_sum(sc, w)
        _sq_change(a[j0:j1], e[j0:j1], sc)
        g += _tree_sum(sc, w)
        _centred_sq(a[j0:j1], c[j0:j1], sc)
        r += _tree_sum(sc, w)
    return d, g, r


@jit
def _row_stats(a, b, e, c, shift, d0, M, q, d):
    """First pass: ``d_i`` into *d*, ``q_i`` into *q* ``(n, 5)``, ``M += sum_i q_i q_i^T``."""
    n = a.shape[0]
    s = np.empty(_ROW)
    for i in range(n):
        di, gi, ri = _row_sums(a[i], b[i], e[i], c, s)
        d[i] = di
        q[i, 0] = 1.0 - shift[0]
        q[i, 1] = ri - shift[1]
        q[i, 2] = di - shift[2]
        q[i, 3] = gi - shift[3]
        q[i, 4] = (di if len(d0) == 0 else d0[i]) - shift[4]
        for k in range(5):
            for m in range(5):
                M[k, m] += q[i, k] * q[i, m]


@jit
def _add_T(a, c, q, T):
    """Second pass: ``T += sum_i q_i (a_i - c)^T``, four rows at a time, by column blocks."""
    n, dim = a.shape
    xs = np.empty((4, _COLS))
    full = n - n % 4
    for j0 in range(0, dim, _COLS):
        j1 = min(dim, j0 + _COLS)
        w = j1 - j0
        x0, x1, x2, x3 = xs[0, :w], xs[1, :w], xs[2, :w], xs[3, :w]
        cb = c[j0:j1]
        for i in range(0, full, 4):
            _centred(a[i, j0:j1], cb, x0)
            _centred(a[i + 1, j0:j1], cb, x1)
            _centred(a[i + 2, j0:j1], cb, x2)
            _centred(a[i + 3, j0:j1], cb, x3)
            for k in range(5):
                _axpy4(q[i, k], q[i + 1, k], q[i + 2, k], q[i + 3, k], x0, x1, x2, x3,
                       T[k, j0:j1])
        for i in range(full, n):
            _centred(a[i, j0:j1], cb, x0)
            for k in range(5):
                _axpy(q[i, k], x0, T[k, j0:j1])


@jit
def _layer_sums(a, b, e, c, shift, d0, M, T, d):
    """Add one batch of one layer to the running sums *M*, *T*; write d_i to *d*.

    Parameters
    ----------
    a, b, e : ``(n, dim)`` float32 or float64, C-contiguous, one dtype
        Clean, deformed and noisy representations.
    c : ``(dim,)`` float64
        The centre.
    shift : ``(5,)`` float64
        Subtracted from ``(1, r_i, d_i, g_i, d0_i)``.
    d0 : ``(n,)`` float64 or ``(0,)``
        The layer-0 changes; empty: this is layer 0, ``d0_i = d_i``.
    M : ``(5, 5)`` float64, T : ``(5, dim)`` float64
        Running sums, updated in place.
    d : ``(n,)`` float64
        Output: ``d_i``.
    """
    q = np.empty((a.shape[0], 5))
    _row_stats(a, b, e, c, shift, d0, M, q, d)
    _add_T(a, c, q, T)
