"""Data terms of the pooling-net theory without enumerating configuration pairs (block rule).

The sums over the class-balanced distribution of the block rule reduce to sums over single
positions, because three things factorize over the position axes and are translation-covariant:

- the Gram ``G_i(P, Q) = <C_i u_P, C_i u_Q>`` of the count operator of layer i is the product
  over axes of 1D Grams (times ``fac_i = ||C_i 1||^2`` for stripes, which fill the other axis);
- the pair weight is ``w(P, Q) = w_- + delta [P, Q in the same block]`` and "same block" is a
  product over axes;
- a ``shift`` move of a feature along one axis is accepted, apart from coincidences, iff it stays
  in its block along that axis (``ib``).

So every pair sum ``sum_{P != Q} w(P, Q) <C phi(P), C psi(Q)>`` is ``w_- prod_c <M X_c, M Y_c> +
delta prod_c sum_B <M X_{c,B}, M Y_{c,B}> - w_+ prod_c sum_x <M phi_c(x), M psi_c(x)>`` with
1D sparse operators M and per-axis families of vectors (``e_x`` or ``ib(x)(e_{x+s} - e_x)``),
costing O(N) sparse work per layer. Coincidences (a move onto the other feature) only concern
pairs at offsets of at most two steps; they are added exactly, vectorized over the N^p first
positions.
"""

import numpy as np
from scipy import sparse

from ..tasks.spec import TaskSpec

__all__ = ["Axis", "band_gram", "block_data_terms", "class_weights", "is_constant", "padded_band",
           "periodic_band"]

#: Largest Gram offset looked up by the coincidence corrections (two steps plus one).
BAND = 3


def colsum(A: sparse.spmatrix, B: sparse.spmatrix) -> np.ndarray:
    """``sum_u A[u, x] B[u, x]`` for every column x, ``(N,)`` (two sparse matrices, same shape)."""
    return np.asarray(A.multiply(B).sum(0)).ravel()


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS threads (which stall on a loaded machine)."""
    return float(np.einsum("i,i->", a, b))


def periodic_band(M: sparse.spmatrix, period: int, deltas, tile: bool = True) -> dict:
    """``{delta: <M e_x, M e_{(x + delta) mod n}> for x = 0..n-1}`` of a circulant-by-blocks M.

    M ``(m, n)`` must satisfy ``M[:, x + period]`` = ``M[:, x]`` shifted by one row block (a
    periodic net: moving the input by ``period`` moves the units by one), so the Gram is
    periodic in x and only ``min(period, n)`` columns are read (``tile=False``: only those
    ``min(period, n)`` values are returned).
    """
    Mc = sparse.csc_matrix(M)
    n = Mc.shape[1]
    T = min(period, n)
    xs = np.arange(T)
    A = Mc[:, xs]
    out = {}
    for d in deltas:
        g = colsum(A, Mc[:, (xs + d) % n])
        out[int(d)] = g if not tile else np.tile(g, n // T) if n % T == 0 else np.resize(g, n)
    return out


class Axis:
    """One position axis: blocks, in-block moves, and the 1D count operators of every layer.

    Parameters
    ----------
    N : int
        Side.
    xi : float
        Block side (block index ``floor(x / xi)``; the last block may be partial).
    mats : list of sparse matrices
        1D count operators ``(n_i, N)`` of layers 0..K and the output (``Operators.C`` and the
        row of column sums of ``C[K]``).
    periods : list of int
        Input period of each operator's Gram (``s^k``; the output: ``s^K``).
    """

    def __init__(self, N: int, xi: float, mats: list, periods: list):
        self.N, self.xi = N, xi
        x = np.arange(N)
        self.block = np.floor(x / xi).astype(np.int64)
        nb = int(self.block[-1]) + 1
        self.bs = np.bincount(self.block, minlength=nb)[self.block].astype(float)  # block size
        if nb <= 64:
            self.Bind = (self.block[:, None] == np.arange(nb)[None, :]).astype(float)
        else:
            self.Bind = sparse.csr_matrix((np.ones(N), (x, self.block)), shape=(N, nb))
        self.ib, self.X = {}, {"e": np.ones(N)}
        for s in (1, -1):
            ok = (x + s >= 0) & (x + s < N)
            ok[ok] = self.block[(x + s)[ok]] == self.block[ok]
            self.ib[s] = ok.astype(float)
            self.X[s] = _at(self.ib[s], -s) - self.ib[s]  # sum_x ib(x) (e_{x+s} - e_x)
        self.layers = [_AxisLayer(M, T, self) for M, T in zip(mats, periods, strict=True)]


class _AxisLayer:
    """Per-layer sums of one axis for the families ``e`` (``e_x``) and +-1 (in-block moves).

    ``phi_e(x) = e_x``, ``phi_s(x) = ib_s(x) (e_{x+s} - e_x)``; ``X_f = sum_x phi_f(x)``.
    """

    def __init__(self, M, period: int, ax: Axis):
        M = sparse.csr_matrix(M)
        N = ax.N
        self.ax = ax
        self.MX = {k: M @ v for k, v in ax.X.items()}
        if isinstance(ax.Bind, np.ndarray):
            self.MB = {k: M @ (v[:, None] * ax.Bind) for k, v in ax.X.items()}
        else:
            self.MB = {k: (M @ sparse.diags(v) @ ax.Bind).tocsr() for k, v in ax.X.items()}
        ones = np.ones(N)
        self.M1, self.Mbs = M @ ones, M @ ax.bs
        self.fac = _dot(self.M1, self.M1)
        self.const = is_constant(M)
        self.band = padded_band(M, period)
        self._diag, self._cross, self._same = {}, {}, {}

    def diag(self, f, g) -> np.ndarray:
        """``<M phi_f(x), M phi_g(x)>`` for every x, ``(N,)``."""
        key = (f, g) if str(f) <= str(g) else (g, f)
        if key not in self._diag:
            f, g = key
            self._diag[key] = self._diag_value(f, g)
        return self._diag[key]

    def _diag_value(self, f, g) -> np.ndarray:
        ib, G = self.ax.ib, self.gram
        if f == "e" and g == "e":
            return G(0, 0)
        if g == "e":  # f a move
            return ib[f] * (G(f, 0) - G(0, 0))
        if f == "e":
            return ib[g] * (G(g, 0) - G(0, 0))
        if f == g:
            return ib[f] * (G(f, f) - 2 * G(f, 0) + G(0, 0))
        return ib[f] * ib[g] * (G(f, g) - G(f, 0) - G(0, g) + G(0, 0))

    def cross(self, f, g) -> float:
        """``<M X_f, M X_g>`` with ``X_f = sum_x phi_f(x)``."""
        key = (f, g) if str(f) <= str(g) else (g, f)
        if key not in self._cross:
            self._cross[key] = _dot(self.MX[f], self.MX[g])
        return self._cross[key]

    def same(self, f, g) -> float:
        """``sum_B <M X_{f,B}, M X_{g,B}>`` over the blocks B of the axis."""
        key = (f, g) if str(f) <= str(g) else (g, f)
        if key not in self._same:
            a, b = self.MB[f], self.MB[g]
            prod = a * b if isinstance(a, np.ndarray) else a.multiply(b)
            self._same[key] = float(prod.sum())
        return self._same[key]

    def gram(self, u: int, v: int) -> np.ndarray:
        """``<M e_{x+u}, M e_{x+v}>`` for x = 0..N-1 (0 where x+u or x+v leaves the image)."""
        return band_gram(self.band, u, v)


def is_constant(M: sparse.spmatrix) -> bool:
    """Whether every row of M is full and constant (the layer maps every image to one vector
    up to the pixel sum, which is the same for all configurations of points).
    """
    M = sparse.csr_matrix(M)
    nnz = M.getnnz(axis=1)
    return bool(np.all(nnz == M.shape[1]) and np.all(M.max(1).toarray() == M.min(1).toarray()))


def padded_band(M: sparse.spmatrix, period: int) -> np.ndarray:
    """Near-diagonal Gram ``<M e_x, M e_{x+d}>``, |d| <= BAND, zero where x + d leaves the
    image (no wrap), padded by BAND on both sides: ``(2 BAND + 1, N + 2 BAND)``.
    """
    N = M.shape[1]
    band = periodic_band(M, period, range(-BAND, BAND + 1))
    pad = np.zeros((2 * BAND + 1, N + 2 * BAND))
    x = np.arange(N)
    for d in range(-BAND, BAND + 1):
        ok = (x + d >= 0) & (x + d < N)
        pad[d + BAND, BAND:BAND + N] = np.where(ok, band[d], 0.0)
    return pad


def band_gram(band: np.ndarray, u: int, v: int) -> np.ndarray:
    """``<M e_{x+u}, M e_{x+v}>`` for x = 0..N-1 from ``padded_band`` (0 outside the image)."""
    N = band.shape[1] - 2 * BAND
    return band[v - u + BAND, BAND + u:BAND + u + N]


def _prod(vals) -> float:
    out = 1.0
    for v in vals:
        out *= v
    return out


def _steps(p: int) -> list[tuple]:
    """Unit moves as per-axis families: ``("e", s)`` moves along axis 1 by s in 2D."""
    if p == 1:
        return [(1,), (-1,)]
    return [(1, "e"), (-1, "e"), ("e", 1), ("e", -1)]


def _vec(fam: tuple) -> np.ndarray:
    return np.array([0 if f == "e" else f for f in fam])


def _outer(arrs: list) -> np.ndarray:
    """Outer product of per-axis arrays (the grid of first positions P)."""
    out = arrs[0]
    for a in arrs[1:]:
        out = np.multiply.outer(out, a)
    return out


def class_weights(task: TaskSpec, ax: Axis) -> tuple[float, float]:
    """``(w_+, w_-)``: class-balanced weight of one +1 and of one -1 configuration."""
    p = task.coords
    bsz = np.bincount(ax.block).astype(float)
    sizes = bsz if p == 1 else np.outer(bsz, bsz).ravel()
    m_plus = float(np.sum(sizes * (sizes - 1) / 2))
    total = ax.N**p * (ax.N**p - 1) / 2
    return 0.5 / m_plus, 0.5 / (total - m_plus)


def block_data_terms(task: TaskSpec, ax: Axis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """den_k, the diffeo numerators and the cross-pair Gram sums, in count units.

    Returns
    -------
    den, Dn, pair : ``(n_layers,)`` each
        ``den_i = 2 (E||C_i u||^2 - ||E C_i u||^2)`` (0 on constant layers),
        ``Dn_i = E sum_o q ||C_i (u(o) - u)||^2`` and ``pair_i = E G_i(P, Q)`` (the expected
        Gram between the two features, used by the noise terms); u the unit-amplitude image.
    """
    p = task.coords
    wp, wm = class_weights(task, ax)
    dl = wp - wm
    alpha = wm * ax.N**p - wp
    den, Dn, pair = (np.zeros(len(ax.layers)) for _ in range(3))
    for i, L in enumerate(ax.layers):
        fac = L.fac if task.shape == "stripes" else 1.0
        gd = L.diag("e", "e")
        s_gd, s_bgd = float(gd.sum()), _dot(ax.bs, gd)
        hG = alpha * s_gd**p + dl * s_bgd**p
        pairG = wm * L.cross("e", "e") ** p + dl * L.same("e", "e") ** p - wp * s_gd**p
        hh = (alpha**2 * _dot(L.M1, L.M1) ** p + 2 * alpha * dl * _dot(L.M1, L.Mbs) ** p
              + dl**2 * _dot(L.Mbs, L.Mbs) ** p)
        den[i] = 0.0 if L.const else 2 * fac * (hG + pairG - hh)
        pair[i] = fac * pairG / 2
        # integer sums per class weight, so that an exact zero stays exactly 0
        Dn[i] = fac * (wp * _diffeo_sum(ax, L, p, 1.0, 0.0)
                       + wm * _diffeo_sum(ax, L, p, 0.0, 1.0))
    return den, Dn, pair


def _diffeo_sum(ax: Axis, L: "_AxisLayer", p: int, wp: float, wm: float) -> float:
    """``sum_pairs w sum_o q ||C (u(o) - u)||^2 / fac`` for the class weights ``(wp, wm)``.

    Independent moves (``ib`` only): ``(1/m) sum_e sum_P h(P) a_e(P)`` plus
    ``q sum_{e1,e2} sum_{P != Q} w ib ib b`` as products of per-axis sums, then the coincidences.
    """
    dl, alpha = wp - wm, wm * ax.N**p - wp
    steps = _steps(p)
    m = len(steps)
    t1 = 0.0
    for st in steps:
        t1 += (alpha * _prod(float(L.diag(f, f).sum()) for f in st)
               + dl * _prod(_dot(ax.bs, L.diag(f, f)) for f in st))
    t2 = 0.0
    for s1 in steps:
        for s2 in steps:
            fams = list(zip(s1, s2, strict=True))
            t2 += (wm * _prod(L.cross(f, g) for f, g in fams)
                   + dl * _prod(L.same(f, g) for f, g in fams)
                   - wp * _prod(float(L.diag(f, g).sum()) for f, g in fams))
    corr = _coincidences(ax, L, steps, p) if wp else 0.0
    return (t1 * m + t2 + wp * corr) / m**2


def _coincidences(ax: Axis, L: _AxisLayer, steps: list, p: int) -> float:
    """Exact minus independent-move value of the pairs where a move lands on the other feature.

    For step pair (e1, e2) and a same-block pair (P, Q = P + o), o > 0 lexicographically:
    feature 0 moves iff ``acc1 = ib1 [o != e1]``, feature 1 iff ``acc2 = ib2 [Q + e2 != P + acc1
    e1]``; the difference to independent moves (``ib1``, ``ib2``) is ``(acc1 - ib1) a1 +
    (acc2 - ib2) a2 + 2 (acc1 acc2 - ib1 ib2) b`` with ``a = ||C d||^2`` of each move and ``b``
    their inner product, summed over P (the pair's weight w_+ is applied by the caller).
    """
    N = ax.N
    x = np.arange(N)
    total = 0.0
    for s1 in steps:
        e1 = _vec(s1)
        for s2 in steps:
            e2 = _vec(s2)
            offs = {tuple(o) for o in (e1, -e2, e1 - e2) if np.any(o != 0)}
            for o in map(np.array, offs):
                nz = o[o != 0]
                if nz[0] < 0:  # not canonical: feature 0 is the lexicographically smaller one
                    continue
                c1 = not np.array_equal(o, e1)
                c2_moved = not np.array_equal(o + e2, e1)  # feature 0 now at P + e1
                c2_stay = np.any(o + e2 != 0)  # feature 0 still at P
                if c1 and c2_moved and c2_stay:
                    continue
                ok = []
                for c in range(p):
                    y = x + o[c]
                    inside = (y >= 0) & (y < N)
                    ok.append(inside & (ax.block[np.clip(y, 0, N - 1)] == ax.block))
                ib1 = _outer([ax.ib[e1[c]] if e1[c] else np.ones(N) for c in range(p)])
                ib2 = _outer([_at(ax.ib[e2[c]], o[c]) if e2[c] else np.ones(N)
                              for c in range(p)])

                def G(u, v):
                    return _outer([L.gram(int(u[c]), int(v[c])) for c in range(p)])

                z = 0 * o
                a1 = G(e1, e1) - 2 * G(e1, z) + G(z, z)
                a2 = G(o + e2, o + e2) - 2 * G(o + e2, o) + G(o, o)
                b = G(e1, o + e2) - G(e1, o) - G(z, o + e2) + G(z, o)
                acc1 = ib1 * c1
                acc2 = ib2 * np.where(acc1 > 0, c2_moved, c2_stay)
                diff = (acc1 - ib1) * a1 + (acc2 - ib2) * a2 + 2 * (acc1 * acc2 - ib1 * ib2) * b
                total += float(np.sum(_outer([a.astype(float) for a in ok]) * diff))
    return total


def _at(v: np.ndarray, d: int) -> np.ndarray:
    """``v[x + d]`` for x = 0..N-1, 0 outside."""
    out = np.zeros_like(v)
    N = len(v)
    lo, hi = max(0, -d), min(N, N - d)
    out[lo:hi] = v[lo + d:hi + d]
    return out
