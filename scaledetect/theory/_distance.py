"""Data terms of the pooling-net theory for the distance rule, as sums over pair offsets.

For points under the distance rule the label of a configuration ``(P, Q = P + o)`` depends on
the offset o only (periodic tasks: on o mod N), and a ``shift`` move is undone iff it changes the
label (a function of the new offset; coincidence and the gap band give label 0) or leaves the
image (a per-axis condition on the moving feature). The net is periodic and its Gram
``G(P, Q) = prod_c G1(P_c, Q_c)`` factorizes over the axes, so for a fixed offset o every sum
over first positions P (with P, Q inside the image and the edge conditions of the moves) is a
product over the axes of 1D sums ``S_c(o_c)``; the label conditions multiply these products as
masks on the offset grid. Every pair sum is thus ``sum_o mask(o) prod_c S_c(o_c)``, a contraction
of a ``(2N - 1)^p`` mask with per-axis vectors: cost O(N^p) per layer instead of O(N^(2p)).

The 1D sums are prefix sums of the near-diagonal Gram (one feature) or partial sums of a
non-cyclic Gram diagonal (both features): the full diagonal sums ``A0(d) = sum_{x, x+d inside}
G1(x, x + d)`` come from the autocorrelation of one row template (rows are translates; the few
rows that wrap around are corrected), and the range restrictions of the moves drop at most a few
terms at either end of a diagonal, which lie in the first or last rows of G1.
"""

import functools

import numpy as np
from scipy import sparse

from .. import perturb, tasks
from ..tasks.labels import label_codes
from ..tasks.spec import TaskSpec
from ._translation import band_gram, is_constant, padded_band

__all__ = ["distance_data_terms", "distance_fits", "distance_noise_weights", "offset_labels",
           "pool_templates"]

#: Rows of G1 kept at each end of the image for the diagonal end corrections.
EDGE = 4
#: Largest template correlated directly (exact integers); longer ones by FFT, then rounded.
DIRECT = 4096


def pool_templates(N: int, K: int, F: int, s: int) -> list | None:
    """1D count profile of unit 0 of layers 0..K (unwrapped), or None if one is longer than N.

    ``t_0 = [1]``, ``t_k(x) = sum_{j < F} t_{k-1}(x - s^(k-1) j)``; row u of ``C_k`` is ``t_k``
    shifted by ``s^k u`` (mod N) when ``len(t_k) <= N``.
    """
    t = [np.ones(1)]
    for k in range(1, K + 1):
        step = s ** (k - 1)
        prev = t[-1]
        cur = np.zeros(len(prev) + (F - 1) * step)
        for j in range(F):
            cur[j * step:j * step + len(prev)] += prev
        if len(cur) > N:
            return None
        t.append(cur)
    return t


def distance_fits(task: TaskSpec, net) -> bool:
    """Whether the offset sums apply: points, no template longer than N, N large enough for
    the end corrections (N >= 2 EDGE + 4).
    """
    return (task.rule == "distance" and task.shape == "points" and net.size >= 2 * EDGE + 4
            and pool_templates(net.size, net.depth, net.filter, net.stride) is not None)


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c[k] = sum_i a[i] b[i + k - len(a) + 1]`` (full correlation), exact for integers."""
    if len(a) * len(b) <= DIRECT * DIRECT // 4:
        return np.correlate(b, a, "full")
    from scipy.signal import fftconvolve  # lazily: scipy.signal takes ~0.8 s to import

    return np.rint(fftconvolve(b, a[::-1]))


def diagonal_sums(t: np.ndarray, n_rows: int, shift: int, N: int) -> np.ndarray:
    """``A0[d + N - 1] = sum_{x, x + d in [0, N)} G1(x, x + d)``, ``G1 = M^T M``, ``(2 N - 1,)``.

    M has ``n_rows`` rows, row u the template t at ``shift * u`` mod N. Non-wrapping rows add
    the autocorrelation of t; a row that wraps (``m = N - shift u < len(t)`` entries fit) moves
    the products of ``t[:m]`` with ``t[m:]`` from template lag D to lag ``D - N`` (and -D to
    ``N - D``).
    """
    W = len(t)
    out = np.zeros(2 * N - 1)
    ac = _corr(t, t)  # lags -(W-1)..W-1
    out[N - W:N + W - 1] += n_rows * ac
    for u in range(n_rows):
        m = N - shift * u
        if m >= W:
            continue
        cr = _corr(t[:m], t[m:])  # lags D = 1..W-1 (t[m + j] t[i], D = m + j - i)
        D = np.arange(1, W)
        for sgn in (1, -1):
            np.add.at(out, sgn * D + N - 1, -cr)
            np.add.at(out, sgn * (D - N) + N - 1, cr)
    return out


def offset_labels(task: TaskSpec, ext: int) -> np.ndarray:
    """Label of a pair at offset o for ``o_c = -(N - 1 + ext) .. N - 1 + ext``, ``(2 N - 1 +
    2 ext,)*p`` int8 (0: coincident, in the gap, or no pair inside the image has this offset).

    Evaluated by ``tasks.labels.label_codes`` (0 outside the image) on the pair
    ``(max(0, -o), max(0, o))``.
    """
    N, p = task.size, task.coords
    o = np.arange(-(N - 1 + ext), N + ext)
    grid = np.stack(np.meshgrid(*([o] * p), indexing="ij"), -1).reshape(-1, p)
    pos = np.stack([np.maximum(0, -grid), np.maximum(0, grid)], 1).astype(np.float64)
    return label_codes(task, pos).reshape((len(o),) * p)


@functools.lru_cache(maxsize=16)
def offset_range(N: int, c1: int, c2: int) -> tuple[np.ndarray, np.ndarray]:
    """First positions x of a pair at offset d (``d = -(N - 1) .. N - 1``): ``lo <= x < hi``.

    x and x + d inside the image; if c1 != 0 also ``x + c1`` (the first feature's move stays
    inside), if c2 != 0 ``x + d + c2`` (the second's). Empty ranges have ``hi = lo``.
    """
    d = np.arange(-(N - 1), N)
    lo = np.maximum(np.maximum(0, -d), np.maximum(-c1, -d - c2))
    hi = np.minimum(np.minimum(N, N - d), np.minimum(N - c1, N - d - c2))
    lo.setflags(write=False)
    hi = np.maximum(hi, lo)
    hi.setflags(write=False)
    return lo, hi


class _OffsetLayer:
    """1D sums of one layer over the offsets ``d = -(N - 1) .. N - 1`` (one axis).

    Families: ``phi_0(x) = e_x``, ``phi_s(x) = e_{x+s} - e_x`` (s = +-1, a move). A range
    ``(c1, c2)`` keeps the x with x, x + d inside and, if c1 != 0, ``x + c1`` inside (the first
    feature's move stays in the image), if c2 != 0, ``x + d + c2`` inside (the second's).
    """

    def __init__(self, M: sparse.spmatrix, period: int, A0: np.ndarray):
        M = sparse.csr_matrix(M)
        self.N = N = M.shape[1]
        self.band = padded_band(M, period)
        self.A0 = A0
        self.const = is_constant(M)
        J = np.r_[np.arange(EDGE), np.arange(N - EDGE, N)]
        Mc = sparse.csc_matrix(M)
        self.rows = (M.T @ Mc[:, J]).toarray().T  # (2 EDGE, N): G1[j, :]
        self.d = np.arange(-(N - 1), N)
        self._cache = {}

    @staticmethod
    def fam(f: int) -> list:
        return [(0, 1.0)] if f == 0 else [(f, 1.0), (0, -1.0)]

    def _range(self, c1: int, c2: int):
        return offset_range(self.N, c1, c2)

    def point(self, f: int, at_q: bool, c1: int, c2: int) -> np.ndarray:
        """``sum_x ||M phi_f(y)||^2`` over the range, y = x (first feature) or x + d."""
        key = ("p", f, at_q, c1, c2)
        if key not in self._cache:
            v = sum(ca * cb * band_gram(self.band, a, b)
                    for a, ca in self.fam(f) for b, cb in self.fam(f))
            cs = np.concatenate([[0.0], np.cumsum(v)])
            lo, hi = self._range(c1, c2)
            sh = self.d if at_q else 0
            self._cache[key] = cs[hi + sh] - cs[lo + sh]
        return self._cache[key]

    def cross(self, f: int, g: int, c1: int, c2: int) -> np.ndarray:
        """``sum_x <M phi_f(x), M phi_g(x + d)>`` over the range."""
        key = ("c", f, g, c1, c2)
        if key not in self._cache:
            lo, hi = self._range(c1, c2)
            self._cache[key] = sum(ca * cb * self._diag_part(a, b, lo, hi)
                                   for a, ca in self.fam(f) for b, cb in self.fam(g))
        return self._cache[key]

    def _diag_part(self, a: int, b: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``sum_{x = lo}^{hi - 1} G1(x + a, x + d + b)``: the diagonal ``d' = d + b - a`` minus
        the terms of its non-cyclic range ``[max(0, -d'), min(N, N - d'))`` left out at the ends
        (at most ``EDGE - 1`` per end: ``ends``).
        """
        N = self.N
        dp = self.d + b - a
        ok = hi > lo
        idx = np.clip(dp + N - 1, 0, 2 * N - 2)
        n_lo = np.where(ok, lo + a - np.maximum(0, -dp), 0)
        n_hi = np.where(ok, np.minimum(N, N - dp) - hi - a, 0)
        assert min(n_lo.min(), n_hi.min()) >= 0 and max(n_lo.max(), n_hi.max()) < EDGE
        start, end = self.ends()
        val = self.A0[idx] - start[n_lo, idx] - end[n_hi, idx]
        return np.where(ok, val, 0.0)

    def ends(self) -> tuple[np.ndarray, np.ndarray]:
        """Sums of the first and of the last n terms of every diagonal, ``(EDGE, 2 N - 1)`` each.

        The j-th term from the start of diagonal d is ``G1(j, j + |d|)`` (symmetry), the j-th
        from the end ``G1(N - 1 - j, N - 1 - j - |d|)``: both read from the kept end rows.
        """
        if "ends" not in self._cache:
            N = self.N
            ad = np.abs(self.d)
            start, end = np.zeros((EDGE, 2 * N - 1)), np.zeros((EDGE, 2 * N - 1))
            for j in range(EDGE - 1):
                ok = j + ad < N
                col = np.clip(j + ad, 0, N - 1)
                start[j + 1] = start[j] + np.where(ok, self.rows[j, col], 0.0)
                col = np.clip(N - 1 - j - ad, 0, N - 1)
                end[j + 1] = end[j] + np.where(ok, self.rows[2 * EDGE - 1 - j, col], 0.0)
            self._cache["ends"] = (start, end)
        return self._cache["ends"]


def _contract(W: np.ndarray, vecs: list) -> float:
    """``sum_o W(o) prod_c v_c(o_c)``."""
    if len(vecs) == 1:
        return float(np.einsum("i,i->", W, vecs[0]))
    return float(np.einsum("i,i->", vecs[0], W @ vecs[1]))


def _layers(net, ops) -> list:
    """``_OffsetLayer`` of layers 0..K and the output (row of column sums of C_K)."""
    N, K, s = net.size, net.depth, net.stride
    temps = pool_templates(N, K, net.filter, s)
    out = []
    for k in range(K + 1):
        A0 = diagonal_sums(temps[k], ops.C[k].shape[0], s**k, N)
        out.append(_OffsetLayer(ops.C[k], s**k, A0))
    r = np.asarray(ops.C[K].sum(0)).ravel()
    A0 = np.zeros(2 * N - 1)
    A0[:] = _corr(r, r)
    out.append(_OffsetLayer(sparse.csr_matrix(r), s**K, A0))
    return out


def _partner_counts(lab: np.ndarray, N: int, p: int, y: int) -> np.ndarray:
    """``h_y(P)``: number of partners Q inside the image with label y, ``(N,)*p`` integers."""
    kern = (lab == y).astype(float)  # offsets -(N-1)..N-1
    ones = np.ones((N,) * p)
    from scipy.signal import fftconvolve

    return np.rint(fftconvolve(ones, kern[(slice(None, None, -1),) * p], mode="same"))


def _hist_norms(M: sparse.spmatrix, hs: list, p: int) -> np.ndarray:
    """Gram ``<C h_a, C h_b>`` of the histograms under ``C = M^(x)p``, ``(2, 2)``."""
    M = sparse.csr_matrix(M)
    imgs = []
    for h in hs:
        img = M @ h if p == 1 else (M @ (M @ h).T).T
        imgs.append(np.ravel(img))
    return np.array([[float(np.einsum("i,i->", a, b)) for b in imgs] for a in imgs])


def distance_data_terms(task: TaskSpec, net, ops) -> tuple:
    """den_k, the diffeo numerators and the pair Grams of the distance rule, in count units.

    Returns ``(den, Dn, pair)``, each ``(K + 2,)``, as ``_translation.block_data_terms``.

    Notes
    -----
    Configurations are ``(P, Q = P + o)`` with o lexicographically positive (feature 0 is the
    smaller one and moves first, as in ``tasks.enumerate_configs``), weight ``w_y(o)``:
    ``E ||C u||^2 = sum_o w sum_P [G(P, P) + G(Q, Q) + 2 G(P, Q)]``, ``E C u = sum_P h(P) C e_P``
    with ``h_y(P)`` the number of partners of label y, and the diffeo numerator ``_diffeo_sums``.
    """
    N, p = task.size, task.coords
    mp, mm = tasks.class_counts(task)
    wts = {1: 0.5 / mp, -1: 0.5 / mm}
    lab_x = offset_labels(task, 2)
    y0 = lab_x[(slice(2, 2 * N + 1),) * p]
    o = np.arange(-(N - 1), N)
    grid = np.meshgrid(*([o] * p), indexing="ij")
    lex = grid[0] > 0 if p == 1 else (grid[0] > 0) | ((grid[0] == 0) & (grid[1] > 0))
    cls = {y: (lex & (y0 == y)).astype(float) for y in (1, -1)}
    hs = [_partner_counts(y0, N, p, y) for y in (1, -1)]
    wv = np.array([wts[1], wts[-1]])
    layers = _layers(net, ops)
    nl = len(layers)
    den, pair = np.zeros(nl), np.zeros(nl)
    for i, L in enumerate(layers):
        pp, qq = [L.point(0, False, 0, 0)] * p, [L.point(0, True, 0, 0)] * p
        pq = [L.cross(0, 0, 0, 0)] * p
        s1 = sum(wts[y] * (_contract(cls[y], pp) + _contract(cls[y], qq)
                           + 2 * _contract(cls[y], pq)) for y in (1, -1))
        M = ops.C[i] if i < nl - 1 else sparse.csr_matrix(ops.C[nl - 2].sum(0))
        hh = float(wv @ _hist_norms(M, hs, p) @ wv)
        den[i] = 0.0 if L.const else max(2 * (s1 - hh), 0.0)
        pair[i] = sum(wts[y] * _contract(cls[y], pq) for y in (1, -1))
    return den, _diffeo_sums(task, layers, lab_x, cls, wts), pair


def _diffeo_sums(task: TaskSpec, layers: list, lab_x: np.ndarray, cls: dict,
                 wts: dict) -> np.ndarray:
    """``E sum_moves q ||C (u(tau x) - u(x))||^2`` per layer (count units).

    For steps (e1, e2) and offset o: feature 0 moves iff ``acc1 = in1(P) L1(o)`` (``in1``: P + e1
    inside; ``L1 = [y(o - e1) = y(o)]``), then feature 1 iff ``acc2 = in2(Q) [L2s + acc1 (L2m -
    L2s)]`` (``L2s = [y(o + e2) = y(o)]``, ``L2m = [y(o - e1 + e2) = y(o)]``; coincidence and
    the gap have label 0). The change is ``acc1 a1(P) + acc2 a2(Q) + 2 acc1 acc2 b(P, Q)``;
    for fixed o each sum over P is a product of per-axis 1D sums (``_OffsetLayer``) and the
    label factors are masks on the offset grid.
    """
    N, p = task.size, task.coords
    moves, prob = perturb.steps(task, "auto")
    moves = moves.astype(int)
    y0 = lab_x[(slice(2, 2 * N + 1),) * p]
    Dn = np.zeros(len(layers))

    def lab(v):
        return lab_x[tuple(slice(2 + int(vc), 2 + int(vc) + 2 * N - 1) for vc in v)]

    for k1, e1 in enumerate(moves):
        for k2, e2 in enumerate(moves):
            L1 = lab(-e1) == y0
            L2s, L2m = lab(e2) == y0, lab(e2 - e1) == y0
            terms = [L1.astype(float), L2s.astype(float),
                     L1 * (L2m.astype(float) - L2s), 2.0 * (L1 & L2m)]
            q = prob[k1] * prob[k2]
            for y in (1, -1):
                Ws = [cls[y] * t for t in terms]
                for i, L in enumerate(layers):
                    vecs = [[L.point(e1[c], False, e1[c], 0) for c in range(p)],
                            [L.point(e2[c], True, 0, e2[c]) for c in range(p)],
                            [L.point(e2[c], True, e1[c], e2[c]) for c in range(p)],
                            [L.cross(e1[c], e2[c], e1[c], e2[c]) for c in range(p)]]
                    Dn[i] += q * wts[y] * sum(_contract(W, v)
                                              for W, v in zip(Ws, vecs, strict=True))
    return Dn


def distance_noise_weights(task: TaskSpec) -> tuple[list, object]:
    """Weights of the ReLU noise sums (``_relu.relu_noise``) for the distance rule.

    Returns
    -------
    h_comps : list
        ``h(P) = w_+ h_+(P) + w_- h_-(P)``, ``h_y(P)`` the number of partners with label y
        (a vector in 1D, one ``(N, N)`` array in 2D: not a product over the axes).
    near : callable
        ``near(o)``: weight of ``{P, (P + o) mod N}`` for a small cyclic offset o. Along an axis
        with ``o_c != 0`` the pair is either unwrapped (actual offset o_c, ``0 <= x + o_c <
        N``) or wraps around (actual offset ``o_c -+ N``); each pattern is a product of per-axis
        indicators times the weight of the label of its actual offset.
    """
    N, p = task.size, task.coords
    mp, mm = tasks.class_counts(task)
    wts = {1: 0.5 / mp, -1: 0.5 / mm, 0: 0.0}
    y0 = offset_labels(task, 0)
    h = sum(wts[y] * _partner_counts(y0, N, p, y) for y in (1, -1))
    h_comps = [(1.0, [h] if p == 1 else h)]
    x = np.arange(N)

    def near(o):
        per_axis = []
        for oc in o:
            inside = (x + oc >= 0) & (x + oc < N)
            opts = [(int(oc), inside.astype(float))]
            if oc != 0:
                opts.append((int(oc - np.sign(oc) * N), (~inside).astype(float)))
            per_axis.append(opts)
        comps = []
        for combo in np.ndindex(*(len(a) for a in per_axis)):
            act = [per_axis[c][j] for c, j in enumerate(combo)]
            w = wts[int(y0[tuple(oc + N - 1 for oc, _ in act)])]
            if w:
                comps.append((w, [ind for _, ind in act]))
        return comps

    return h_comps, near
