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
so that the block of T stays in L1 while the rows stream by. The inner loops are simple
one-store loops over contiguous memory, the form numba/LLVM turns into vector instructions
without fastmath. Results depend on the rows only (never on threads or on the batch around).
"""

import numpy as np

from ._jit import ijit, jit

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


@ijit
def _row_stats(a, b, e, c, shift, d0, M, q, d):
    """First pass: ``d_i`` into *d*, ``q_i`` into *q* ``(n, 5)``, ``M += sum_i q_i q_i^T``.

    ``(||b_i - a_i||^2, ||e_i - a_i||^2, ||a_i - c||^2)`` by chunks of ``_ROW`` columns: each
    chunk's squares go to the L1-resident scratch *s* and are summed by ``_tree_sum``, the
    chunks added in order.
    """
    n, dim = a.shape
    s = np.empty(_ROW)
    for i in range(n):
        di = gi = ri = 0.0
        for j0 in range(0, dim, _ROW):
            w = min(dim, j0 + _ROW) - j0
            ai, bi, ei, ci = a[i, j0:j0 + w], b[i, j0:j0 + w], e[i, j0:j0 + w], c[j0:j0 + w]
            for j in range(w):
                u = np.float64(bi[j]) - np.float64(ai[j])
                s[j] = u * u
            di += _tree_sum(s, w)
            for j in range(w):
                u = np.float64(ei[j]) - np.float64(ai[j])
                s[j] = u * u
            gi += _tree_sum(s, w)
            for j in range(w):
                u = np.float64(ai[j]) - ci[j]
                s[j] = u * u
            ri += _tree_sum(s, w)
        d[i] = di
        q[i, 0] = 1.0 - shift[0]
        q[i, 1] = ri - shift[1]
        q[i, 2] = di - shift[2]
        q[i, 3] = gi - shift[3]
        q[i, 4] = (di if len(d0) == 0 else d0[i]) - shift[4]
        for k in range(5):
            for m in range(5):
                M[k, m] += q[i, k] * q[i, m]


@ijit
def _add_T(a, c, q, T):
    """Second pass: ``T += sum_i q_i (a_i - c)^T``, four rows at a time, by column blocks.

    *q* ``(n + 3, 5)`` has zero rows past n: the last group of four adds exact zeros for them.
    """
    n, dim = a.shape
    xs = np.zeros((4, _COLS))
    for j0 in range(0, dim, _COLS):
        w = min(dim, j0 + _COLS) - j0
        cb = c[j0:j0 + w]
        x0, x1, x2, x3 = xs[0, :w], xs[1, :w], xs[2, :w], xs[3, :w]
        for i in range(0, n, 4):
            for r in range(4):
                xr = xs[r, :w]
                if i + r < n:
                    ar = a[i + r, j0:j0 + w]
                    for j in range(w):
                        xr[j] = np.float64(ar[j]) - cb[j]
                else:
                    xr[:] = 0.0
            for k in range(5):
                q0, q1, q2, q3 = q[i, k], q[i + 1, k], q[i + 2, k], q[i + 3, k]
                y = T[k, j0:j0 + w]
                for j in range(w):
                    y[j] += (q0 * x0[j] + q1 * x1[j]) + (q2 * x2[j] + q3 * x3[j])


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
    q = np.zeros((a.shape[0] + 3, 5))  # see _add_T
    _row_stats(a, b, e, c, shift, d0, M, q, d)
    _add_T(a, c, q, T)
