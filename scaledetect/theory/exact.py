"""Exact finite-size D_k, G_k, R_k of the idealized pooling net (SPEC sections 5 and 6).

The pooling net (``nn.pooling_net``): one channel, every filter weight ``1/F^dim``, zero bias,
activation at every layer, global average and readout. ``predict`` returns the *expectations* that
the Monte Carlo estimators of ``sensitivity.measure`` converge to (ratios of expectations):

    den_k = E_{x, x' iid} ||f_k(x) - f_k(x')||^2 = 2 (E ||f_k||^2 - ||E f_k||^2)
    D_k   = E ||f_k(tau x) - f_k(x)||^2 / den_k
    G_k   = E ||f_k(x + eta) - f_k(x)||^2 / den_k,     R_k = D_k / G_k,

x drawn from the class-balanced distribution (weight ``1/(2 M_+)`` on each valid +1 configuration,
``1/(2 M_-)`` on each -1 one), tau the ``shift`` diffeomorphism (every move outcome enumerated
with its probability, ``perturb.shift_outcomes``), eta Gaussian with the noise matching of
``Perturbation.noise_match``.
"""

import numpy as np
from scipy import sparse

from .. import perturb, tasks
from ..errors import ScaleDetectError, require
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..sensitivity.result import Sensitivities
from ..tasks.spec import TaskSpec
from . import gaussian as gs
from ._operators import Operators, apply, apply_cov, overlaps, pool, unit_images
from ._relu import block_relu_noise, fits, relu_tables, signed_lags
from ._translation import Axis, block_data_terms, class_weights

__all__ = ["predict"]

#: Terms of the Hermite (Mehler) series kept for the tanh cross-covariances of deeper layers.
HERMITE_ORDER = 2
#: Floats held by one chunk of rendered unit images (bounds the memory of ``predict``).
CHUNK_FLOATS = 1 << 22


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Num / den with 0/0 -> nan, x/0 -> inf (degenerate layers: a translation-invariant out)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0),
                        np.where(num > 0, np.inf, np.nan))


def _check(task: TaskSpec, net: NetSpec, pert: Perturbation) -> None:
    require(net.dim == task.dim, "dim", "be the same for task and net", net.dim,
            f"task dim={task.dim}")
    require(net.size == task.size, "size", "be the same for task and net", net.size,
            f"task size={task.size}")
    require(net.width == 1 and not net.bias, "net", "be the idealized pooling net (width 1, no "
            "bias; use net_from_args(a, pooling=True))", f"width={net.width}, bias={net.bias}")
    require(task.shape != "blobs", "shape", "be points or stripes for the exact theory (blob "
            "centres are continuous; measure blobs with `scaledetect sensitivity --pooling`)",
            task.shape)
    require(pert.diffeo == "shift", "diffeo", "be shift for the exact theory (maxent fields are "
            "continuous; measure them with `scaledetect sensitivity --pooling`)", pert.diffeo)
    if net.act in ("relu", "tanh"):
        ov = overlaps(net)[1:]
        require(np.all(ov < net.filter), "filter", "be < size for the layer-1 noise moments "
                "(two distinct units would see the same window)", net.filter, f"size={net.size}")


class _Setup:
    """Everything that does not depend on the configuration chunk."""

    def __init__(self, task: TaskSpec, net: NetSpec, pert: Perturbation):
        self.task, self.net, self.pert = task, net, pert
        self.d, self.F, self.K = net.dim, net.filter, net.depth
        self.p = task.coords
        self.ops = Operators(net)
        pos, y = tasks.enumerate_configs(task)
        keep = y != 0
        self.pos, self.y = pos[keep].astype(np.int64), y[keep]
        mp, mm = int(np.sum(self.y > 0)), int(np.sum(self.y < 0))
        self.w = np.where(self.y > 0, 0.5 / mp, 0.5 / mm)
        self.M = len(self.y)
        probe = self.pos[: min(64, self.M)].astype(np.float64)
        img = tasks.render(task, probe).reshape(len(probe), -1).astype(np.float64)
        unit = unit_images(task.shape, self.d, task.size, probe)
        self.a = float(img.max())
        if not np.allclose(img, self.a * unit, rtol=1e-6, atol=1e-6 * self.a):
            raise ScaleDetectError("tasks.render does not match unit features times one amplitude "
                                   f"(shape={task.shape}); the exact theory needs additive "
                                   "features")
        self.n_out = len(perturb.shift_outcomes(task, probe[:1], pert.shift_rule)[1][0])
        per = (self.n_out + 1) * task.size**self.d if net.act == "tanh" else \
            16 * self.n_out + 4 * net.sizes[1] ** self.d
        self.chunk = max(1, CHUNK_FLOATS // per)
        self.I1T = np.ascontiguousarray(self.ops.P[1].toarray().T)  # layer-1 incidence (N, n1)
        # layer-1 units containing each input coordinate (padded with 0, mask)
        lists = [np.flatnonzero(row) for row in self.I1T]
        r = max(len(x) for x in lists)
        self.units_of = np.zeros((task.size, r), np.int64)
        self.units_mask = np.zeros((task.size, r), bool)
        for i, x in enumerate(lists):
            self.units_of[i, :len(x)] = x
            self.units_mask[i, :len(x)] = True
        # 1D Gram matrices of the count profiles, layers 0..K and out: gram = fac * prod G1[.,.]
        C = self.ops.C
        rows = [C[k].toarray() for k in range(self.K + 1)]
        rows.append(rows[-1].sum(0, keepdims=True))
        self.grams = []
        for Ck in rows:
            G1 = Ck.T @ Ck
            fac = float(G1.sum()) if task.shape == "stripes" else 1.0
            self.grams.append((G1, fac))
        self.const = np.array([bool(np.all(Ck == Ck[:, :1])) for Ck in rows])

    def gram(self, i: int, P: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """<profile(P), profile(Q)> at layer i for integer feature positions P, Q ``(..., p)``."""
        G1, fac = self.grams[i]
        out = G1[P[..., 0], Q[..., 0]]
        for c in range(1, self.p):
            out = out * G1[P[..., c], Q[..., c]]
        return fac * out

    def hist_norm(self, i: int, h: np.ndarray) -> float:
        """``||sum_p h(p) profile(p)||^2`` for a feature histogram h ``(N,)*p``."""
        G1, fac = self.grams[i]
        if self.p == 1:
            return fac * float(h @ G1 @ h)
        return fac * float(np.sum(h * (G1 @ h @ G1.T)))

    def chunks(self):
        """Yield (slice, positions (B, 2, p), outcomes (B, m, 2, p), probs (B, m)).

        Outcomes are computed once and kept when they fit in ``CHUNK_FLOATS`` (two passes).
        """
        keep = self.M * self.n_out * 2 * self.p <= 4 * CHUNK_FLOATS
        if keep and not hasattr(self, "_outc"):
            o, q = perturb.shift_outcomes(self.task, self.pos.astype(np.float64),
                                            self.pert.shift_rule)
            self._outc, self._q = o.astype(np.int64), q
        for start in range(0, self.M, self.chunk):
            sl = slice(start, min(self.M, start + self.chunk))
            pos = self.pos[sl]
            if keep:
                yield sl, pos, self._outc[sl], self._q[sl]
            else:
                outc, probs = perturb.shift_outcomes(self.task, pos.astype(np.float64),
                                                       self.pert.shift_rule)
                yield sl, pos, outc.astype(np.int64), probs

    def count_at(self, pos: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Feature pixels in the layer-1 windows of units W ``(B, R, d)``: int ``(B, R)``."""
        I1 = self.I1T.T
        cnt = 0
        for f in range(2):
            if self.task.shape == "stripes":
                c = self.F * I1[W[..., 1], pos[:, f, 0][:, None]]
            else:
                c = I1[W[..., 0], pos[:, f, 0][:, None]]
                for ax in range(1, self.d):
                    c = c * I1[W[..., ax], pos[:, f, ax][:, None]]
            cnt = cnt + c
        return np.rint(cnt).astype(np.int64)

    def signal_units(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer-1 units whose window holds a feature pixel, each once per configuration.

        Returns ``U`` int ``(B, R, d)`` (padding: unit 0) and ``valid`` float ``(B, R)``.
        """
        B, d, n1 = len(pos), self.d, self.net.sizes[1]
        Ul, Um = self.units_of, self.units_mask
        parts, masks = [], []
        for f in range(2):
            if self.task.shape == "stripes":
                cols = Ul[pos[:, f, 0]]  # (B, r)
                rows = np.arange(n1)
                u = np.stack(np.broadcast_arrays(rows[None, :, None], cols[:, None, :]), -1)
                mk = np.broadcast_to(Um[pos[:, f, 0]][:, None, :], (B, n1, cols.shape[1]))
            elif d == 1:
                u = Ul[pos[:, f, 0]][..., None]
                mk = Um[pos[:, f, 0]]
            else:
                a, b = Ul[pos[:, f, 0]], Ul[pos[:, f, 1]]
                u = np.stack(np.broadcast_arrays(a[:, :, None], b[:, None, :]), -1)
                mk = Um[pos[:, f, 0]][:, :, None] & Um[pos[:, f, 1]][:, None, :]
            u = u.reshape(B, -1, d)
            mk = mk.reshape(B, -1).copy()
            if f == 1:  # units already listed for the first feature
                first = pos[:, :1]
                mk &= self.count_at(np.concatenate([first, first], 1), u) == 0
            parts.append(u)
            masks.append(mk)
        return np.concatenate(parts, 1), np.concatenate(masks, 1).astype(float)

    def layer1_counts(self, pos: np.ndarray) -> np.ndarray:
        """Feature pixels in every layer-1 window ``(B, n1^d)`` (integer-valued float64)."""
        I1T = self.I1T
        cnt = 0.0
        for f in range(2):
            if self.task.shape == "stripes":
                c = I1T.sum(0)[None, :, None] * I1T[pos[:, f, 0]][:, None, :]
            elif self.d == 1:
                c = I1T[pos[:, f, 0]]
            else:
                c = I1T[pos[:, f, 0]][:, :, None] * I1T[pos[:, f, 1]][:, None, :]
            cnt = cnt + c.reshape(len(pos), -1)
        return cnt

    def images(self, pos: np.ndarray) -> np.ndarray:
        """Unit-amplitude images ``(..., N^d)``."""
        return unit_images(self.task.shape, self.d, self.task.size, pos)


# --------------------------------------------------------------------------- data expectations
_SIGNS = np.array([1.0, -1.0, 1.0, -1.0])


def _diff_norms(st: _Setup, i: int, pos: np.ndarray, outc: np.ndarray) -> np.ndarray:
    """``||f_i(tau x) - f_i(x)||^2`` in count units per outcome ``(B, m)``, integer-exact.

    The change is ``profile(o1) - profile(p1) + profile(o2) - profile(p2)``: 16 Gram lookups.
    """
    p1, p2 = pos[:, 0], pos[:, 1]
    shp = outc[:, :, 0].shape
    Y = np.stack([outc[:, :, 0], np.broadcast_to(p1[:, None], shp),
                  outc[:, :, 1], np.broadcast_to(p2[:, None], shp)], 2)
    dn = np.zeros(outc.shape[:2])
    for a in range(4):
        dn += st.gram(i, Y[:, :, a], Y[:, :, a])
        for b in range(a + 1, 4):
            dn += 2 * _SIGNS[a] * _SIGNS[b] * st.gram(i, Y[:, :, a], Y[:, :, b])
    return dn


def _data_counts(st: _Setup, i: int, pos, outc, w, q) -> tuple[float, float]:
    """``sum w ||f||^2`` and the diffeo numerator ``sum w sum_o q ||f(o) - f||^2`` at layer i
    (count units, Gram lookups).
    """
    p1, p2 = pos[:, 0], pos[:, 1]
    norm2 = st.gram(i, p1, p1) + st.gram(i, p2, p2) + 2 * st.gram(i, p1, p2)
    return float(w @ norm2), float(w @ np.sum(q * _diff_norms(st, i, pos, outc), -1))


class _DataStats:
    """Accumulates den_k and the diffeo numerators over chunks from explicit representations."""

    def __init__(self, n_layers: int):
        self.S1 = np.zeros(n_layers)
        self.V = [None] * n_layers
        self.first = [None] * n_layers
        self.const = np.ones(n_layers, bool)
        self.Dn = np.zeros(n_layers)

    def add(self, i: int, f: np.ndarray, fo: np.ndarray, w: np.ndarray, q: np.ndarray) -> None:
        self.S1[i] += np.sum(w * np.sum(f * f, -1))
        v = w @ f
        self.V[i] = v if self.V[i] is None else self.V[i] + v
        if self.first[i] is None:
            self.first[i] = f[0].copy()
        self.const[i] &= bool(np.all(f == self.first[i]))
        diff = fo - f[:, None, :]
        self.Dn[i] += np.sum(w * np.sum(q * np.sum(diff * diff, -1), -1))

    def den(self) -> np.ndarray:
        out = np.array([2.0 * (s - v @ v) for s, v in zip(self.S1, self.V, strict=True)])
        out[self.const] = 0.0
        return np.maximum(out, 0.0)


def _forward_tanh(st: _Setup, X: np.ndarray) -> list[np.ndarray]:
    """Layer 0..K representations and out (mean of f_K) of the tanh pooling net, float64."""
    g, F, d = st.net.gain, st.F, st.d
    fs = [st.a * X]
    for k in range(1, st.K + 1):
        fs.append(g * np.tanh(pool(fs[-1], st.net, k, d) / F**d))
    fs.append(fs[-1].mean(-1, keepdims=True))
    return fs


def _count_scales(a: float, net: NetSpec) -> np.ndarray:
    """Squared scale turning count norms into representation norms, layers 0..K and out."""
    F, d, K = net.filter, net.dim, net.depth
    nK = net.sizes[K]
    s = [a**2 * float(F) ** (-2 * d * k) for k in range(K + 1)]
    s.append(a**2 * float(F) ** (-2 * d * K) * float(nK) ** (-2 * d))
    return np.array(s)


def _r2(st: _Setup, pos, outc) -> np.ndarray:
    """``||u(tau x) - u(x)||^2`` of the unit-amplitude images per outcome ``(B, m)`` (integers)."""
    return _diff_norms(st, 0, pos, outc)


# --------------------------------------------------------------------------- noise: linear
def _noise_linear(ops: Operators, net: NetSpec, sigma2: float) -> np.ndarray:
    """``sigma^2 ||B_k||_F^2`` for layers 0..K and out (config independent), B_k input -> k."""
    F, d, K = net.filter, net.dim, net.depth
    fro = [float(ops.C[k].power(2).sum()) * float(F) ** (-2 * k) for k in range(K + 1)]
    out_row = np.asarray(ops.C[K].mean(0)).ravel() / float(F) ** K
    fro.append(float(out_row @ out_row))
    return sigma2 * np.array(fro) ** d


# --------------------------------------------------------------------------- noise: relu
class _ReluNoise:
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

    def __init__(self, st: _Setup, sigma2: float):
        self.st = st
        ops, d, F, a = st.ops, st.d, st.F, st.a
        n1 = st.net.sizes[1]
        self.n1 = n1
        lag1 = ops.lags
        self.lags = signed_lags(ops, d)
        self.mu, cov = relu_tables(ops, d, F, a, sigma2, self.lags)
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


# --------------------------------------------------------------------------- noise: tanh
class _TanhNoise:
    """``E ||f_k(x + eta) - f_k(x)||^2`` of the tanh pooling net (layer 1 exact, deeper layers
    by Gaussian moment propagation).

    Notes
    -----
    Layer 1 is exact: ``d_u = gain (tanh(m_u + g_u) - tanh(m_u))`` with means, variances and the
    covariances of overlapping units by Gauss-Hermite quadrature (``expect``, ``expect2``);
    non-overlapping units are independent. Deeper layers (approximation): the pre-activation
    change ``delta_k = P_k d_{k-1} / F^dim`` is treated as Gaussian with the propagated mean and
    covariance; each unit's mean and variance of ``d_k = gain (tanh(z_k + delta_k) - tanh(z_k))``
    (z_k the clean pre-activation) are computed exactly under that Gaussian, and the
    cross-covariances by the Mehler (Hermite) series of jointly Gaussian variables,
    ``Cov(f(X), f(Y)) = sum_n C^n / n! E f^(n)(X) E f^(n)(Y)``, truncated after
    ``HERMITE_ORDER`` terms (n = 1 is statistical linearisation). The error is dominated by the
    non-Gaussian shape of delta_k (a few averaged bounded tanh outputs are platykurtic, so the
    Gaussian underestimates E tanh(delta)^2): measured against Monte Carlo, deeper-layer G_k are
    low by 1-6% (strided, F = s = 2, 3, dim 1 and 2) and by 9-21% (1D unstrided, k = 2..5); D_k
    and G_0, G_1 are exact. The measurement is repeated in ``tests/test_theory.py``
    (strided 1D, asserted within 8%).
    """

    diagonal_fast_path = True  # s >= F: covariances stay diagonal (see ``_diagonal``)

    def __init__(self, st: _Setup, sigma2: float):
        self.st = st
        ops, d, F, a, g = st.ops, st.d, st.F, st.a, st.net.gain
        n1 = st.net.sizes[1]
        self.n1 = n1
        cmax = 2 * F**d
        c = np.arange(cmax + 1, dtype=float)
        m = a * c / F**d
        v = sigma2 / F**d
        tm = np.tanh(m)
        self.mu = g * (gs.expect(np.tanh, m, v) - tm)
        e2 = g * g * gs.expect(lambda x: np.tanh(x) ** 2, m, v) - 2 * g * tm * (self.mu + g * tm) \
            + (g * tm) ** 2
        # lag index matrix between layer-1 units (flattened)
        grid = np.stack(np.unravel_index(np.arange(n1**d), (n1,) * d), -1)
        diff = (grid[None, :, :] - grid[:, None, :]) % n1
        ov = np.prod(ops.overlap[diff], -1)
        lag_keys, inv = np.unique(diff.reshape(-1, d), axis=0, return_inverse=True)
        lag_ov = np.prod(ops.overlap[lag_keys], -1)
        self.lag_index = np.where(ov > 0, inv.reshape(n1**d, n1**d), -1)
        cov = np.zeros((cmax + 1, cmax + 1, len(lag_keys)))
        for li, o in enumerate(lag_ov):
            if o == 0:
                continue
            if np.all(lag_keys[li] == 0):
                cov[:, :, li] = np.diag(e2 - self.mu**2)
            else:
                cij = sigma2 * o / F ** (2 * d)
                eft = gs.expect2(np.tanh, np.tanh, m[:, None], m[None, :], v, v, cij)
                cov[:, :, li] = g * g * (eft - (self.mu[:, None] / g + tm[:, None])
                                         * (self.mu[None, :] / g + tm[None, :]))
        self.cov = cov

    def __call__(self, cnt: np.ndarray) -> np.ndarray:
        """Noise numerators ``(B, K + 1)`` (layers 1..K, out) for layer-1 count maps (B, n1^d)."""
        st = self.st
        d, F, g, K = st.d, st.F, st.net.gain, st.K
        ci = np.rint(cnt).astype(np.int64)
        if self.diagonal_fast_path and st.net.stride >= F and len(st.ops.lags) == 1:
            return self._diagonal(cnt, ci)
        B = len(ci)
        mu = self.mu[ci]
        li = self.lag_index
        S = np.where(li >= 0, self.cov[ci[:, :, None], ci[:, None, :], np.maximum(li, 0)], 0.0)
        f = g * np.tanh(st.a * cnt / F**d)
        out = np.empty((B, K + 1))
        out[:, 0] = np.sum(mu * mu, -1) + np.trace(S, axis1=1, axis2=2)
        x, wq = gs._hermite(48)
        for k in range(2, K + 1):
            P = st.ops.P[k].toarray() / F
            z = apply(f, P, d)
            m = apply(mu, P, d)
            C = apply_cov(S, P, d)
            s = np.sqrt(np.maximum(np.diagonal(C, axis1=1, axis2=2), 0.0))
            t = np.tanh(z[..., None] + m[..., None] + s[..., None] * x)
            tz = np.tanh(z)
            mu = g * (np.sum(t * wq, -1) - tz)
            e2 = g * g * np.sum((t - tz[..., None]) ** 2 * wq, -1)
            sech2 = 1 - t * t
            S = np.zeros_like(C)
            Cn = np.ones_like(C)
            for n, deriv in enumerate((sech2, -2 * t * sech2, -2 * sech2 * (1 - 3 * t * t),
                                       8 * t * sech2 * (2 - 3 * t * t))[:HERMITE_ORDER], 1):
                gam = g * np.sum(deriv * wq, -1)
                Cn = Cn * C / n
                S += gam[:, :, None] * gam[:, None, :] * Cn
            idx = np.arange(S.shape[1])
            S[:, idx, idx] = e2 - mu * mu
            f = g * tz
            out[:, k - 1] = np.sum(mu * mu, -1) + np.trace(S, axis1=1, axis2=2)
        nK = S.shape[1]
        out[:, K] = (np.sum(mu, -1) ** 2 + np.sum(S, (1, 2))) / nK**2
        return out

    def _diagonal(self, cnt: np.ndarray, ci: np.ndarray) -> np.ndarray:
        """The same propagation when no two units of any layer share an input (s >= F): the
        covariances stay diagonal (every Mehler cross term carries an off-diagonal C = 0), so only
        per-unit variances are tracked, O(n) instead of O(n^2) per configuration.
        """
        st = self.st
        d, F, g, K = st.d, st.F, st.net.gain, st.K
        mu = self.mu[ci]
        var = self.cov[ci, ci, self.lag_index[0, 0]]  # lag 0: each unit with itself
        f = g * np.tanh(st.a * cnt / F**d)
        out = np.empty((len(ci), K + 1))
        out[:, 0] = np.sum(mu * mu + var, -1)
        x, wq = gs._hermite(48)
        for k in range(2, K + 1):
            P = st.ops.P[k].toarray() / F
            z = apply(f, P, d)
            m = apply(mu, P, d)
            s = np.sqrt(np.maximum(apply(var, P * P, d), 0.0))
            t = np.tanh(z[..., None] + m[..., None] + s[..., None] * x)
            tz = np.tanh(z)
            mu = g * (np.sum(t * wq, -1) - tz)
            var = g * g * np.sum((t - tz[..., None]) ** 2 * wq, -1) - mu * mu
            f = g * tz
            out[:, k - 1] = np.sum(mu * mu + var, -1)
        nK = mu.shape[1]
        out[:, K] = (np.sum(mu, -1) ** 2 + np.sum(var, -1)) / nK**2
        return out


# --------------------------------------------------------------------------- driver
def _translation_applies(task: TaskSpec, net: NetSpec, pert: Perturbation,
                         ops: Operators) -> bool:
    """Whether ``_predict_block`` (no pair enumeration) covers this case."""
    if task.rule != "block" or pert.shift_rule != "auto" or pert.noise_match != "batch":
        return False
    if net.act == "linear":
        return True
    return (net.act == "relu" and task.shape == "points"
            and fits(ops, net.dim, net.filter, net.stride, net.size))


def _amplitude(task: TaskSpec) -> float:
    """Pixel value of a feature (``tasks.render`` of one configuration)."""
    pos = np.zeros((1, 2, task.coords))
    pos[0, 1, -1] = 1.0
    return float(np.max(tasks.render(task, pos)))


def _predict_block(task: TaskSpec, net: NetSpec, pert: Perturbation,
                   ops: Operators) -> Sensitivities:
    """``predict`` for the block rule by sums over single positions (``_translation``,
    ``_relu``): cost O(N^dim) per layer instead of O(N^(2 dim)), same values.
    """
    d, K, N = net.dim, net.depth, net.size
    mats = [ops.C[k] for k in range(K + 1)] + [sparse.csr_matrix(ops.C[K].sum(0))]
    st = net.stride
    ax = Axis(N, task.xi, mats, [st**k for k in range(K + 1)] + [st**K])
    den, Dn, pair = block_data_terms(task, ax)
    a = _amplitude(task)
    sigma2 = a**2 * Dn[0] / N**d
    sc = _count_scales(a, net)
    den, Dn = den * sc, Dn * sc
    if net.act == "linear":
        Gn = _noise_linear(ops, net, sigma2)
    else:
        wp, wm = class_weights(task, ax)
        Gn = np.zeros(K + 2)
        Gn[1:] = block_relu_noise(N, d, net.filter, net.stride, ops, a, sigma2, ax.block, wp,
                                  wm, pair)
    Gn[0] = sigma2 * N**d
    return _result(task, net, pert, den, Dn, Gn, sigma2, sum(tasks.class_counts(task)))


def _result(task, net, pert, den, Dn, Gn, sigma2, n_configs) -> Sensitivities:
    """``Sensitivities`` from the numerators and denominators (layers 0..K and out)."""
    D, G = _ratio(Dn, den), _ratio(Gn, den)
    R = _ratio(Dn, Gn)
    config = {"source": "theory.predict", "task": task.to_dict(), "net": net.to_dict(),
              "perturbation": pert.to_dict(), "sigma": float(np.sqrt(sigma2)),
              "configs": int(n_configs), "den": den.tolist(),
              "method": _method(net.act, pert.noise_match)}
    layers = tuple(range(net.depth + 1)) + ("out",)
    return Sensitivities(layers=layers, D=D, G=G, R=R, config=config)


def _method(act: str, noise_match: str) -> str:
    """How exact the prediction is: ``exact`` or ``approximate: <what>``."""
    if act == "tanh":
        return "approximate: layer 1 exact, deeper layers Gaussian moment propagation"
    if act == "relu" and noise_match == "sample":
        return ("approximate: sample-matched noise replaced by a Gaussian of per-sample variance "
                "||tau x - x||^2 / N^dim (exact in the zero-signal units)")
    return "exact"


def predict(task: TaskSpec, net: NetSpec, pert: Perturbation | None = None) -> Sensitivities:
    """Exact D_k, G_k, R_k of the idealized pooling net (layers 0..K and ``"out"``).

    Parameters
    ----------
    task : TaskSpec
        Points or stripes, any rule (every valid configuration is enumerated).
    net : NetSpec
        The pooling net (``width = 1``, ``bias = False``); any F, s with s dividing every side,
        dim 1 or 2, act ``relu``, ``linear`` (exact) or ``tanh`` (layer 1 exact, deeper layers by
        Gaussian moment propagation, see ``_TanhNoise``).
    pert : Perturbation
        ``diffeo = "shift"``; ``noise_match`` ``batch`` (sigma^2 = E||tau x - x||^2 / N^dim, exact)
        or ``sample`` (see Notes).

    Returns
    -------
    Sensitivities
        ``D, G, R`` of shape ``(K + 2,)``; ``*_se`` None; ``config`` records the inputs, sigma,
        the number of configurations and the method.

    Raises
    ------
    ScaleDetectError
        For blobs, maxent diffeos, a net that is not the pooling net, mismatched dim/size.

    Notes
    -----
    *Data terms* (den_k and the diffeo numerators) are exact finite sums over every
    configuration and every move outcome. For ReLU (inputs >= 0, positive filters, zero bias)
    and linear nets ``f_k(x) = a F^(-dim k) C_k u(x)`` with u the unit-amplitude image and C_k an
    integer count operator, so these sums are computed on integers (exact zeros stay exactly 0,
    e.g. D at the layer whose blocks are the task's blocks); tanh nets are propagated exactly in
    float64. A layer with den_k = 0 (e.g. the output of a translation-invariant net on points:
    every image has the same pixel sum) gets ``D = nan`` (0/0) or ``inf``.

    *Noise terms*: ``linear``: ``sigma^2 ||B_k||_F^2`` exactly; ``relu``: exact Gaussian moments
    at layer 1 propagated linearly (``_ReluNoise``); ``tanh``: see ``_TanhNoise``.
    ``noise_match = "sample"`` (``eta_i`` rescaled to ``||tau x_i - x_i||``) is evaluated with a
    Gaussian of per-sample variance ``sigma_i^2 = ||tau x_i - x_i||^2 / N^dim``: exact for the
    linear net and for every term of the ReLU net that is homogeneous of degree 2 in eta
    (all zero-signal units), approximate only in the O(1/N^dim) terms of the few signal units.
    """
    pert = Perturbation() if pert is None else pert
    _check(task, net, pert)
    ops = Operators(net)
    if _translation_applies(task, net, pert, ops):
        return _predict_block(task, net, pert, ops)
    st = _Setup(task, net, pert)
    d, K, N = st.d, st.K, task.size
    n_layers = K + 2
    act = net.act
    a2 = st.a**2

    # pass 1: sigma^2 (batch), the distinct ||tau x - x||^2 (sample), and the exact data sums
    r2_tot, r2_vals = 0.0, set()
    S1, Dn = np.zeros(n_layers), np.zeros(n_layers)
    h = np.zeros((N,) * st.p)
    for sl, pos, outc, q in st.chunks():
        w = st.w[sl]
        for i in range(n_layers if act != "tanh" else 1):
            s1, dn = _data_counts(st, i, pos, outc, w, q)
            S1[i] += s1
            Dn[i] += dn
        r2 = _r2(st, pos, outc)
        r2_tot += float(w @ np.sum(q * r2, -1))
        r2_vals.update(np.unique(r2).tolist())
        for f in range(2):
            np.add.at(h, tuple(pos[:, f].T), w)
    sigma2 = a2 * r2_tot / N**d
    if pert.noise_match == "batch":
        levels = [(None, sigma2)]
    else:
        levels = [(r, a2 * r / N**d) for r in sorted(r2_vals) if r > 0]

    if act == "tanh":
        noise_fn = {r: _TanhNoise(st, s2) for r, s2 in levels}
        data = _DataStats(n_layers)
    else:
        noise_fn = {r: _ReluNoise(st, s2) for r, s2 in levels} if act == "relu" else {}
        den = np.array([2.0 * (S1[i] - st.hist_norm(i, h)) for i in range(n_layers)])
        den[st.const] = 0.0
        sc = _count_scales(st.a, net)
        den, Dn = np.maximum(den, 0.0) * sc, Dn * sc

    Gn = np.zeros(n_layers)
    if act == "linear":  # exact for both matchings: E||B eta||^2 = sigma^2 ||B||_F^2 on average
        Gn = _noise_linear(st.ops, net, sigma2)
    else:
        for sl, pos, outc, q in st.chunks():
            w = st.w[sl]
            if act == "tanh":
                fs, fos = _forward_tanh(st, st.images(pos)), _forward_tanh(st, st.images(outc))
                for i in range(n_layers):
                    data.add(i, fs[i], fos[i], w, q)
            arg = st.layer1_counts(pos) if act == "tanh" else pos
            r2 = _r2(st, pos, outc)
            for r, _ in levels:
                wr = w if r is None else w * np.sum(q * (r2 == r), -1)
                Gn[1:] += wr @ noise_fn[r](arg)
        if act == "tanh":
            den, Dn = data.den(), data.Dn
    Gn[0] = sigma2 * N**d

    return _result(task, net, pert, den, Dn, Gn, sigma2, st.M)
