"""ReLU noise moments of the pooling net: the one home of the layer-1 Gaussian tables, and the
noise numerators without enumerating pairs (points, 1D and 2D, block and distance rules).

Layer-1 pre-activations are ``z_u = m_u + g_u`` with ``m_u = a c_u / F^dim`` (``c_u`` feature
pixels in unit u's window) and ``g`` Gaussian, ``Var g_u = v = sigma^2 / F^dim``,
``Cov(g_u, g_w) = sigma^2 o(u - w) / F^(2 dim)`` (o = shared pixels). With ``d_u = relu(z_u) -
relu(m_u)`` and every deeper layer linear (``f_k = A_k f_1`` since f_1 >= 0)::

    E ||A_k d||^2 = stat_k + sum_{u,w} GA_k(u, w) [Cov_c(d_u, d_w) - c0(u - w) + dmu_u dmu_w]
                    + 2 mu0 sum_u r_k(u) dmu_u,

``GA_k = A_k^T A_k``, ``r_k`` the column sums of A_k, ``dmu_u = mu(c_u) - mu(0)``, ``c0`` the
covariance of two signal-free units and ``stat_k`` the value without features.
"""

import numpy as np
from scipy import sparse

from ..activations import Activation
from ._data import Setup
from ._translation import periodic_band

__all__ = ["ReluNoise", "block_relu_noise", "fits", "relu_noise", "relu_tables", "signed_lags"]


def signed_lags(ops, d: int) -> np.ndarray:
    """Layer-1 unit offsets with a shared input pixel, ``(L, d)`` signed ints (0 first)."""
    n1 = len(ops.overlap)
    lag1 = np.array([x if x <= n1 // 2 else x - n1 for x in ops.lags.tolist()])
    if d == 1:
        return lag1[:, None]
    return np.stack(np.meshgrid(lag1, lag1, indexing="ij"), -1).reshape(-1, 2)


def relu_tables(ops, d: int, F: int, a: float, sigma2: float, lags: np.ndarray,
                act: Activation):
    """``mu (n_c,)``: E d_u per count c; ``cov (n_c, n_c, L)``: Cov(d_u, d_w) per lag.

    Counts c = 0 .. 2 F^d; the record's Gaussian moments ``act.moments`` and bivariate
    ``act.product`` (ReLU: exact closed forms, the arc-cosine kernel between signal-free units),
    and ``E d^2 - (E d)^2`` at lag 0. ``d_u = phi(z_u) - m_u``: phi is the identity on the clean
    values ``m_u >= 0`` (the rectified noise model).
    """
    n1 = len(ops.overlap)
    ov = np.prod(ops.overlap[lags % n1], -1).astype(float)
    c = np.arange(2 * F**d + 1, dtype=float)
    m = a * c / F**d
    v = sigma2 / F**d
    e1, e2 = act.moments(m, v)
    cov = np.empty((len(c), len(c), len(lags)))
    for li, o in enumerate(ov):
        if np.all(lags[li] == 0):
            cov[:, :, li] = np.diag(e2 - e1 * e1)
        else:
            cij = sigma2 * o / F ** (2 * d)
            cov[:, :, li] = (act.product(m[:, None], m[None, :], v, v, cij)
                             - e1[:, None] * e1[None, :])
    return e1 - m, cov


class _Layer1D:
    """Per-layer 1D tables over one period T of the units: ``GA(t, t + delta mod n1)`` for the
    deltas needed and the column sums ``r(t)`` (both periodic in t with period T).
    """

    def __init__(self, A, n1: int, period: int, deltas):
        A = sparse.csr_matrix(A)
        self.T = min(period, n1)
        self.band = periodic_band(A, period, sorted({int(t) % n1 for t in deltas}), tile=False)
        self.r = np.asarray(A.sum(0)).ravel()[:self.T]
        self.rows = A.shape[0]


class _Patch:
    """Layer-1 counts of a few features on a window of units around the first one.

    Unit offsets ``lo .. hi`` per axis relative to ``u0 = P // s``; a feature at relative
    position ``x`` (``x = P - s u0`` plus its offset) is in unit ``u0 + b`` iff
    ``(x - s b) mod N < F``.
    """

    def __init__(self, N: int, F: int, s: int, d: int, lo: int, hi: int):
        self.N, self.F, self.s, self.d = N, F, s, d
        self.b = np.arange(lo, hi + 1)

    def counts(self, feats: list) -> np.ndarray:
        """Counts ``(W,)*d`` for features given as per-axis relative positions."""
        tot = 0
        for x in feats:
            mem = [((xc - self.s * self.b) % self.N < self.F).astype(np.int64) for xc in x]
            c = mem[0]
            for mc in mem[1:]:
                c = np.multiply.outer(c, mc)
            tot = tot + c
        return tot


def _terms(pt: _Patch, counts: np.ndarray, mu: np.ndarray, cov: np.ndarray,
           lags: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
    """Coefficients of ``GA(u0 + b, u0 + b')`` and of ``r(u0 + b)`` for one count patch.

    Returns ``pairs`` (list of (b (T, d), b' (T, d), coef (T,))) and singles ``(b (S, d),
    coef (S,))``.
    """
    d, W = pt.d, len(pt.b)
    grid = np.stack(np.meshgrid(*([pt.b] * d), indexing="ij"), -1).reshape(-1, d)
    c = counts.reshape(-1)
    dmu = mu[c] - mu[0]
    sig = np.flatnonzero(c > 0)
    pairs = [(np.repeat(grid[sig], len(sig), 0), np.tile(grid[sig], (len(sig), 1)),
              np.outer(dmu[sig], dmu[sig]).ravel())]
    idx = (grid - pt.b[0])
    for li, lag in enumerate(lags):
        j = idx + lag
        ok = np.all((j >= 0) & (j < W), -1)
        jf = np.ravel_multi_index(tuple(np.where(ok[:, None], j, 0).T), (W,) * d)
        val = np.where(ok, cov[c, c[jf], li] - cov[0, 0, li], 0.0)
        nz = np.flatnonzero(val)
        pairs.append((grid[nz], grid[nz] + lag, val[nz]))
    return pairs, grid[sig], 2 * mu[0] * dmu[sig]


def _weighted_table(L: _Layer1D, wvec: np.ndarray, s: int, r: int, n1: int,
                    bs: np.ndarray, deltas: np.ndarray) -> tuple[dict, np.ndarray]:
    """``T[b, delta] = sum_{u0} wvec(s u0 + r) GA(u0 + b, u0 + b + delta)`` and the same for r.

    GA is periodic with period T in u0, so wvec is first folded onto one period.
    Returns ``{delta: (n_b,)}`` over ``b`` in *bs* and ``R (n_b,)``.
    """
    w = wvec[r::s][:n1]
    wf = w.reshape(-1, L.T).sum(0)
    W = wf[(np.arange(L.T)[None, :] - bs[:, None]) % L.T]  # (n_b, T): wf((t - b) mod T)
    tab = {int(dl): np.einsum("bt,t->b", W, L.band[int(dl) % n1]) for dl in deltas}
    return tab, np.einsum("bt,t->b", W, L.r)


def patch_range(ops, d: int, F: int, s: int) -> tuple[int, int, int]:
    """Interaction reach R (pixels) and the unit offsets ``lo .. hi`` of the local patch."""
    Lm = int(np.max(np.abs(signed_lags(ops, d))))
    R = s * Lm + F - 1
    return R, (-R - F + 1) // s - Lm - 1, -(-(s - 1 + R) // s) + Lm + 1


def fits(ops, d: int, F: int, s: int, N: int) -> bool:
    """Whether the local patch has no aliased unit and local offsets are distinct mod N."""
    R, lo, hi = patch_range(ops, d, F, s)
    return hi - lo + 1 <= len(ops.overlap) and N > 2 * R + 1


def block_relu_noise(N: int, d: int, F: int, s: int, ops, a: float, sigma2: float,
                     block: np.ndarray, wp: float, wm: float, pair: np.ndarray,
                     act: Activation) -> np.ndarray:
    """Expected ReLU noise numerators, layers 1..K and out, for the block rule on points.

    Parameters
    ----------
    N, d, F, s : int
        Side, dimension, filter and stride.
    ops : Operators
    a, sigma2 : float
        Feature amplitude and noise variance per pixel.
    block : ``(N,)`` int
        Block index of each coordinate.
    wp, wm : float
        Weight of one +1 and one -1 configuration.
    pair : ``(K + 2,)``
        ``E G_i(P, Q)``, the expected input-space Gram between the two features (count units).
    act : Activation
        The record whose layer-1 moments are used (``relu_tables``).

    Notes
    -----
    The weight of a first position is ``h(P) = (w_- N^d - w_+) + delta prod_c |block(P_c)|``
    and that of a near pair at cyclic offset o is ``w_- + delta prod_c [same block]``: sums of
    products over the axes (``relu_noise``).
    """
    dl = wp - wm
    bsize = np.bincount(block)[block].astype(float)
    h_comps = [(wm * N**d - wp, [np.ones(N)] * d), (dl, [bsize] * d)]

    def near(o):
        return [(wm, [np.ones(N)] * d),
                (dl, [(block[(np.arange(N) + oc) % N] == block).astype(float) for oc in o])]

    return relu_noise(N, d, F, s, ops, a, sigma2, h_comps, near, pair, act)


def relu_noise(N: int, d: int, F: int, s: int, ops, a: float, sigma2: float, h_comps: list,
               near, pair: np.ndarray, act: Activation) -> np.ndarray:
    """Expected ReLU noise numerators, layers 1..K and out, on points, for any pair weights.

    Parameters
    ----------
    N, d, F, s, ops, a, sigma2, pair, act
        As ``block_relu_noise``.
    h_comps : list of ``(lam, weights)``
        ``h(P) = sum lam w(P)``, the total weight of the configurations holding a feature at P;
        ``weights``: per-axis ``(N,)`` vectors (``w(P) = prod_c w_c(P_c)``) or a ``(N,)*d``.
    near : callable
        ``near(o)`` for a cyclic offset o (lexicographically positive, ``|o_c| <= R``): the weight
        of the configuration ``{P, (P + o) mod N}`` as a function of P, in the same form.

    Notes
    -----
    ``E noise = stat + sum_P h(P) single(P) + 2 dmu1^2 E<A I1 e_P, A I1 e_Q> + local``: features
    whose layer-1 windows neither share nor overlap (cyclic offset > ``R = s L + F - 1`` along
    some axis, L the largest overlapping unit lag) add independently apart from the dmu cross
    term, an input-space Gram (``pair``); nearer pairs are evaluated exactly (``local``). Every
    single and local term is a coefficient times ``GA(u0 + b, u0 + b')``, summed over the first
    position P of a residue class mod s with its weight: a product of 1D sums for a product
    weight, a contraction over one period of the units otherwise.
    """
    K = len(ops.A) - 2
    n1 = len(ops.overlap)
    lags = signed_lags(ops, d)
    R, lo, hi = patch_range(ops, d, F, s)
    pt = _Patch(N, F, s, d, lo, hi)
    mu, cov = relu_tables(ops, d, F, a, sigma2, lags, act)
    bs = pt.b
    deltas = np.arange(lo - hi, hi - lo + 1)
    layers = [_Layer1D(ops.A[k], n1, s ** (min(k, K) - 1), deltas) for k in range(1, K + 2)]
    out = np.zeros(K + 1)
    # stat: no feature
    for i, L in enumerate(layers):
        T1 = {int(t): L.band[int(t) % n1].sum() * (n1 // L.T) for t in np.unique(lags)}
        out[i] = sum(cov[0, 0, li] * np.prod([T1[int(t)] for t in lag])
                     for li, lag in enumerate(lags)) + mu[0] ** 2 * L.rows**d
    jobs = []  # (coefficient sets, weight components, residue class)
    for r in np.ndindex(*(s,) * d):
        pairs, sb, sc = _terms(pt, pt.counts([r]), mu, cov, lags)
        jobs.append((pairs, sb, sc, h_comps, r))
    for o in np.ndindex(*(2 * R + 1,) * d):
        o = np.array(o) - R
        nz = o[o != 0]
        if len(nz) == 0 or nz[0] < 0:
            continue
        comps = near(o)
        for r in np.ndindex(*(s,) * d):
            q = tuple(int(rc + oc) for rc, oc in zip(r, o, strict=True))
            jobs.append(_pair_job(pt, r, q, mu, cov, lags) + (comps, r))
    for pairs, sb, sc, comps, r in jobs:
        out += _sum_job(layers, pairs, sb, sc, comps, r, s, n1, bs, deltas, d)
    scale = [float(F) ** (2 * d * (k - 1)) for k in range(1, K + 1)]
    scale.append((float(F) ** (K - 1) * ops.A[K].shape[0]) ** (2 * d))
    dmu1 = mu[1] - mu[0]
    out += 2 * dmu1**2 * pair[1:] / np.array(scale)
    return out


def _pair_job(pt: _Patch, r: tuple, q: tuple, mu, cov, lags) -> tuple:
    """Coefficients of a local pair (features at relative positions r, q) minus those of its two
    single features and of their dmu cross term (which the input-space Gram sum counts).
    """
    d = pt.d
    both = _terms(pt, pt.counts([r, q]), mu, cov, lags)
    one_p = _terms(pt, pt.counts([r]), mu, cov, lags)
    one_q = _terms(pt, pt.counts([q]), mu, cov, lags)
    cp, cq = pt.counts([r]).reshape(-1), pt.counts([q]).reshape(-1)
    grid = np.stack(np.meshgrid(*([pt.b] * d), indexing="ij"), -1).reshape(-1, d)
    dp, dq = mu[cp] - mu[0], mu[cq] - mu[0]
    ip, iq = np.flatnonzero(cp), np.flatnonzero(cq)
    cross = [(np.repeat(grid[ip], len(iq), 0), np.tile(grid[iq], (len(ip), 1)),
              -2 * np.outer(dp[ip], dq[iq]).ravel())]
    pairs = both[0] + [(b, b2, -c) for b, b2, c in one_p[0] + one_q[0]] + cross
    sb = np.concatenate([both[1], one_p[1], one_q[1]])
    sc = np.concatenate([both[2], -one_p[2], -one_q[2]])
    return pairs, sb, sc


def _sum_job(layers, pairs, sb, sc, comps, r, s, n1, bs, deltas, d) -> np.ndarray:
    """``sum_P weight(P) [sum coef GA(u0+b, u0+b') + sum coef r(u0+b)]`` per layer."""
    B = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros((0, d), int)
    B2 = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros((0, d), int)
    C = np.concatenate([p[2] for p in pairs]) if pairs else np.zeros(0)
    out = np.zeros(len(layers))
    b0 = bs[0]
    for i, L in enumerate(layers):
        for lam, vecs in comps:
            if isinstance(vecs, np.ndarray):
                out[i] += lam * _full_weight_sum(L, vecs, B, B2, C, sb, sc, r, s, n1)
                continue
            term_p = np.full(len(C), lam) * C
            term_s = np.full(len(sc), lam) * sc
            for c in range(d):
                tab, rt = _weighted_table(L, vecs[c], s, r[c], n1, bs, deltas)
                dlt = B2[:, c] - B[:, c]
                vals = np.array([tab[int(t)][int(b) - b0] for t, b in zip(dlt, B[:, c],
                                                                          strict=True)])
                term_p = term_p * (vals if len(vals) else 1.0)
                term_s = term_s * rt[sb[:, c] - b0]
            out[i] += term_p.sum() + term_s.sum()
    return out


def _full_weight_sum(L: _Layer1D, W: np.ndarray, B, B2, C, sb, sc, r, s, n1) -> float:
    """``_sum_job`` for one 2D weight array W ``(N, N)`` that is not a product over the axes.

    W is folded onto one period of the units, ``Wf[t0, t1] = sum_{u0 = t mod T}
    W(s u0 + r)``; a coefficient at ``(b, b')`` then adds ``g0^T Wf g1`` with ``g_c[t] =
    GA(t + b_c, t + b'_c)`` (and ``r(t + b_c)`` for the single-unit terms).
    """
    T = L.T
    w = W[r[0]::s, r[1]::s][:n1, :n1]
    Wf = w.reshape(n1 // T, T, n1 // T, T).sum((0, 2))
    t = np.arange(T)
    tot = 0.0
    if len(C):
        g = [np.stack([L.band[int(dl) % n1] for dl in (B2[:, c] - B[:, c])])
             [np.arange(len(C))[:, None], (t[None, :] + B[:, c][:, None]) % T]
             for c in range(2)]
        tot += float(np.einsum("j,jt,tu,ju->", C, g[0], Wf, g[1]))
    if len(sc):
        g = [L.r[(t[None, :] + sb[:, c][:, None]) % T] for c in range(2)]
        tot += float(np.einsum("j,jt,tu,ju->", sc, g[0], Wf, g[1]))
    return tot


class ReluNoise:
    """Exact ``E ||f_k(x + eta) - f_k(x)||^2`` of the ReLU pooling net, for one sigma^2.

    Notes
    -----
    Layer-1 pre-activations are ``z_u = m_u + g_u`` with ``m_u = a c_u / F^dim`` (``c_u`` = count
    of feature pixels in unit u's window) and ``g`` Gaussian, ``Var g_u = v = sigma^2 / F^dim``,
    ``Cov(g_u, g_w) = sigma^2 o(u - w) / F^(2 dim)`` (o = shared pixels). With ``d_u =
    relu(z_u) - relu(m_u)`` and every deeper layer linear (``f_k = A_k f_1`` because f_1 >= 0)::

        E ||A_k d||^2 = ||A_k mu||^2 + sum_{u,w} (A_k^T A_k)_{uw} Cov(d_u, d_w),

    mu_u, Var d_u from ``relu_moments`` and the covariances of overlapping units from
    ``relu_product`` (exact bivariate moments; arc-cosine kernel between zero-signal units).
    The covariance sum is split into the translation-invariant zero-signal part
    ``sum_l c0(l) T_k(l)`` (``T_k(l) = sum_u (A^T A)_{u,u+l}``) plus corrections on the pairs
    that touch a signal unit; operators are tensor powers of 1D matrices.
    """

    def __init__(self, st: Setup, sigma2: float):
        self.st = st
        ops, d, F, a = st.ops, st.d, st.F, st.a
        n1 = st.net.sizes[1]
        self.n1 = n1
        lag1 = ops.lags
        self.lags = signed_lags(ops, d)
        self.mu, cov = relu_tables(ops, d, F, a, sigma2, self.lags, st.net.activation)
        self.cov = cov
        self.c0 = cov[0, 0]
        self.layers = []
        mu0 = self.mu[0]
        for A in ops.A[1:]:
            GA = (A.T @ A).toarray()
            T1 = np.array([np.trace(np.roll(GA, -int(lag), axis=1)) for lag in lag1])
            T1 = dict(zip(lag1.tolist(), T1, strict=True))
            stat = sum(self.c0[li] * np.prod([T1[int(lc) % n1] for lc in self.lags[li]])
                       for li in range(len(self.lags)))
            stat += mu0 * mu0 * A.shape[0] ** d  # ||A mu0 1||^2, rows of A sum to 1
            self.layers.append((GA, np.asarray(A.sum(0)).ravel(), stat))

    def __call__(self, pos: np.ndarray) -> np.ndarray:
        """Noise numerators ``(B, K + 1)`` (layers 1..K and out) for configurations (B, 2, p)."""
        st, d, n1 = self.st, self.st.d, self.n1
        U, valid = st.signal_units(pos)  # (B, R, d), (B, R)
        cu = st.count_at(pos, U)
        dmu = (self.mu[cu] - self.mu[0]) * valid
        recs = []
        for li, lag in enumerate(self.lags):
            W = (U + lag) % n1
            cw = st.count_at(pos, W)
            delta = (self.cov[cu, cw, li] - self.c0[li]) * (1.0 + (cw == 0)) * valid
            recs.append((W, delta))
        out = np.empty((len(pos), len(self.layers)))
        mu0 = self.mu[0]
        for i, (GA, r1, stat) in enumerate(self.layers):
            tot = stat + 2 * mu0 * np.sum(dmu * np.prod(r1[U], -1), -1)
            g = np.ones(U.shape[:2] + U.shape[1:2])
            for c in range(d):
                g = g * GA[U[:, :, None, c], U[:, None, :, c]]
            tot += np.einsum("bi,bij,bj->b", dmu, g, dmu)
            for W, delta in recs:
                tot += np.sum(delta * np.prod(GA[U, W], -1), -1)
            out[:, i] = tot
        return out


