"""Pooling-net noise by Gaussian moment propagation: layer 1 exact, deeper layers approximate.

The path of ``theory.predict`` for every activation whose record has the ``PROPAGATED`` noise model
(``scaledetect.activations``: tanh, and every activation that is not piecewise linear on the signs
reaching the deeper layers). Everything activation-specific comes from the record: ``phi``, the
layer-1 moments ``moments`` and ``product``, and the deeper layers' ``change``.
"""

import numpy as np

from ..activations import Activation
from ._data import Setup
from ._operators import apply, apply_cov, pool

__all__ = ["HERMITE_ORDER", "MomentNoise", "forward"]

#: Terms of the Hermite (Mehler) series kept for the cross-covariances of deeper layers.
HERMITE_ORDER = 2


def forward(st: Setup, X: np.ndarray) -> list[np.ndarray]:
    """Layer 0..K representations and out (mean of f_K) of the pooling net, float64.

    ``X (..., N^dim)`` unit-amplitude images: ``f_0 = a X``,
    ``f_k = gain phi(P_k f_{k-1} / F^dim)``.
    """
    g, F, d = st.net.gain, st.F, st.d
    phi = st.net.activation.phi
    fs = [st.a * X]
    for k in range(1, st.K + 1):
        fs.append(g * phi(pool(fs[-1], st.net, k, d) / F**d))
    fs.append(fs[-1].mean(-1, keepdims=True))
    return fs


class MomentNoise:
    """``E ||f_k(x + eta) - f_k(x)||^2`` of the pooling net (layer 1 exact, deeper layers by
    Gaussian moment propagation), for one sigma^2.

    Notes
    -----
    Layer 1 is exact: ``d_u = gain (phi(m_u + g_u) - phi(m_u))`` with means, variances and the
    covariances of overlapping units from the record's Gaussian moments (``moments``,
    ``product``: closed forms or Gauss-Hermite quadrature); non-overlapping units are
    independent. Deeper layers (approximation): the pre-activation change
    ``delta_k = P_k d_{k-1} / F^dim`` is treated as Gaussian with the propagated mean and
    covariance; each unit's mean and variance of ``d_k = gain (phi(z_k + delta_k) - phi(z_k))``
    (z_k the clean pre-activation) are computed exactly under that Gaussian (``change``), and the
    cross-covariances by the Mehler (Hermite) series of jointly Gaussian variables,
    ``Cov(f(X), f(Y)) = sum_n C^n / n! E f^(n)(X) E f^(n)(Y)``, truncated after
    ``HERMITE_ORDER`` terms (n = 1 is statistical linearisation). For tanh the error is dominated
    by the non-Gaussian shape of delta_k (a few averaged bounded tanh outputs are platykurtic,
    so the Gaussian underestimates E tanh(delta)^2): measured against Monte Carlo, deeper-layer
    G_k are low by 1-6% (strided, F = s = 2, 3, dim 1 and 2) and by 9-21% (1D unstrided,
    k = 2..5); D_k and G_0, G_1 are exact. The measurement is repeated in
    ``tests/test_theory.py`` (strided 1D, asserted within 8%).
    """

    diagonal_fast_path = True  # s >= F: covariances stay diagonal (see ``_diagonal``)

    def __init__(self, st: Setup, sigma2: float):
        self.st = st
        self.act: Activation = st.net.activation
        ops, d, F, a, g = st.ops, st.d, st.F, st.a, st.net.gain
        n1 = st.net.sizes[1]
        self.n1 = n1
        cmax = 2 * F**d
        c = np.arange(cmax + 1, dtype=float)
        m = a * c / F**d
        v = sigma2 / F**d
        tm = self.act.phi(m)
        mean, second = self.act.moments(m, v)
        self.mu = g * (mean - tm)
        e2 = g * g * second - 2 * g * tm * (self.mu + g * tm) + (g * tm) ** 2
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
                eft = self.act.product(m[:, None], m[None, :], v, v, cij)
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
        f = g * self.act.phi(st.a * cnt / F**d)
        out = np.empty((B, K + 1))
        out[:, 0] = np.sum(mu * mu, -1) + np.trace(S, axis1=1, axis2=2)
        for k in range(2, K + 1):
            P = st.ops.P[k].toarray() / F
            z = apply(f, P, d)
            m = apply(mu, P, d)
            C = apply_cov(S, P, d)
            s = np.sqrt(np.maximum(np.diagonal(C, axis1=1, axis2=2), 0.0))
            tz, dmean, dsecond, gains = self.act.change(z, m, s, HERMITE_ORDER)
            mu = g * dmean
            e2 = g * g * dsecond
            S = np.zeros_like(C)
            Cn = np.ones_like(C)
            for n, gain_n in enumerate(gains, 1):
                gam = g * gain_n
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
        f = g * self.act.phi(st.a * cnt / F**d)
        out = np.empty((len(ci), K + 1))
        out[:, 0] = np.sum(mu * mu + var, -1)
        for k in range(2, K + 1):
            P = st.ops.P[k].toarray() / F
            z = apply(f, P, d)
            m = apply(mu, P, d)
            s = np.sqrt(np.maximum(apply(var, P * P, d), 0.0))
            tz, dmean, dsecond, _ = self.act.change(z, m, s, 0)
            mu = g * dmean
            var = g * g * dsecond - mu * mu
            f = g * tz
            out[:, k - 1] = np.sum(mu * mu + var, -1)
        nK = mu.shape[1]
        out[:, K] = (np.sum(mu, -1) ** 2 + np.sum(var, -1)) / nK**2
        return out
