"""Gaussian integrals of activations: closed forms for ReLU, Gauss-Hermite quadrature otherwise.

The low-level home of these integrals (``scaledetect.activations`` builds every activation's
noise model and infinite-width dual on them; ``scaledetect.theory.gaussian`` re-exports them).

Every function is vectorized over broadcastable array arguments and exact up to floating point
(ReLU: closed forms in Phi, phi and a 1D Gauss-Legendre integral for the bivariate normal CDF;
tanh: Gauss-Hermite quadrature). ``tests/test_theory_gaussian.py`` checks them against
``scipy.integrate``.

Notation: X ~ N(m, v); (X, Y) bivariate normal with means (m1, m2), variances (v1, v2) and
covariance c; ``Phi``/``phi`` the standard normal CDF/density.
"""

import numpy as np
from scipy.special import ndtr

__all__ = [
    "arccos_kernel",
    "bivariate_cdf",
    "expect",
    "expect2",
    "hermite",
    "pdf",
    "relu_moments",
    "relu_product",
]

_SQRT2PI = np.sqrt(2.0 * np.pi)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(96)
_GH_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def pdf(x):
    """Standard normal density ``exp(-x^2 / 2) / sqrt(2 pi)``."""
    return np.exp(-0.5 * np.square(x)) / _SQRT2PI


def hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights normalised to sum to 1."""
    if n not in _GH_CACHE:
        x, w = np.polynomial.hermite_e.hermegauss(n)
        _GH_CACHE[n] = (x, w / w.sum())
    return _GH_CACHE[n]


def relu_moments(m, v):
    """First and second moments of relu(X), X ~ N(m, v).

    Returns
    -------
    mean, second : ndarray
        ``E relu(X) = m Phi(h) + s phi(h)``, ``E relu(X)^2 = (m^2 + v) Phi(h) + m s phi(h)``
        with ``s = sqrt(v)``, ``h = m / s``. ``v = 0`` gives ``relu(m)`` and ``relu(m)^2``.
    """
    m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
    s = np.sqrt(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(s > 0, m / np.where(s > 0, s, 1.0), 0.0)
    P, p = ndtr(h), pdf(h)
    mean = np.where(s > 0, m * P + s * p, np.maximum(m, 0.0))
    second = np.where(s > 0, (m * m + v) * P + m * s * p, np.maximum(m, 0.0) ** 2)
    return mean, second


def bivariate_cdf(h, k, rho):
    """``Phi2(h, k; rho) = P(Z1 < h, Z2 < k)`` for standard normals with correlation rho.

    Notes
    -----
    Plackett's identity ``Phi2 = Phi(h) Phi(k) + int_0^rho phi2(h, k; t) dt`` with
    ``phi2(h, k; t) = exp(-(h^2 - 2 t h k + k^2) / (2 (1 - t^2))) / (2 pi sqrt(1 - t^2))``,
    integrated by 96-point Gauss-Legendre: smooth for ``|rho| <= 0.95`` (machine precision; the
    pooling nets have ``|rho| <= 1 - 1/F^dim``). ``|rho| = 1`` is handled exactly.
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(a, float) for a in (h, k, rho)))
    t = 0.5 * rho[..., None] * (_GL_X + 1.0)
    one = 1.0 - t * t
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.exp(-(h[..., None] ** 2 - 2 * t * h[..., None] * k[..., None]
                        + k[..., None] ** 2) / (2 * one)) / (2 * np.pi * np.sqrt(one))
    integral = 0.5 * rho * np.sum(np.where(one > 0, dens, 0.0) * _GL_W, -1)
    out = ndtr(h) * ndtr(k) + integral
    out = np.where(rho >= 1.0, ndtr(np.minimum(h, k)), out)
    out = np.where(rho <= -1.0, np.maximum(ndtr(h) + ndtr(k) - 1.0, 0.0), out)
    return out


def relu_product(m1, m2, v1, v2, c):
    """``E[relu(X) relu(Y)]`` for a bivariate normal (exact).

    Notes
    -----
    With ``X = s1 (h + Z1)``, ``Y = s2 (k + Z2)``, ``corr(Z1, Z2) = rho`` and ``a = -h, b = -k``,
    ``r = sqrt(1 - rho^2)``, ``L = Phi2(h, k; rho)`` (truncated bivariate normal moments,
    Rosenbaum 1961)::

        E[Z1 1] = phi(a) Q((b - rho a)/r) + rho phi(b) Q((a - rho b)/r)          (Q = 1 - Phi)
        E[Z1 Z2 1] = rho L + rho a phi(a) Q((b - rho a)/r) + rho b phi(b) Q((a - rho b)/r)
                     + r phi(a) phi((b - rho a)/r)
        E[relu X relu Y] = s1 s2 (h k L + h E[Z2 1] + k E[Z1 1] + E[Z1 Z2 1]).

    For ``m1 = m2 = 0`` this is the arc-cosine kernel ``arccos_kernel``. Requires v1, v2 > 0 and
    ``|rho| < 1``.
    """
    m1, m2, v1, v2, c = np.broadcast_arrays(*(np.asarray(x, float) for x in (m1, m2, v1, v2, c)))
    s1, s2 = np.sqrt(v1), np.sqrt(v2)
    rho = np.clip(c / (s1 * s2), -1.0, 1.0)
    r = np.sqrt(1.0 - rho * rho)
    h, k = m1 / s1, m2 / s2
    a, b = -h, -k
    L = bivariate_cdf(h, k, rho)
    qa = 1.0 - ndtr((b - rho * a) / r)
    qb = 1.0 - ndtr((a - rho * b) / r)
    pa, pb = pdf(a), pdf(b)
    e1 = pa * qa + rho * pb * qb
    e2 = pb * qb + rho * pa * qa
    e12 = rho * L + rho * a * pa * qa + rho * b * pb * qb + r * pa * pdf((b - rho * a) / r)
    return s1 * s2 * (h * k * L + h * e2 + k * e1 + e12)


def arccos_kernel(v1, v2, rho):
    """``E[relu(X) relu(Y)]`` for centred X, Y with variances v1, v2 and correlation rho.

    ``sqrt(v1 v2) / (2 pi) * (sqrt(1 - rho^2) + rho (pi - arccos rho))`` (Cho & Saul 2009).
    """
    rho = np.clip(np.asarray(rho, float), -1.0, 1.0)
    return (np.sqrt(np.asarray(v1) * np.asarray(v2)) / (2 * np.pi)
            * (np.sqrt(1 - rho * rho) + rho * (np.pi - np.arccos(rho))))


def expect(f, m, v, n: int = 128):
    """``E f(X)``, X ~ N(m, v), by n-point Gauss-Hermite quadrature (f vectorized)."""
    x, w = hermite(n)
    m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
    return np.sum(f(m[..., None] + np.sqrt(v)[..., None] * x) * w, -1)


def expect2(f, g, m1, m2, v1, v2, c, n: int = 64):
    """``E f(X) g(Y)`` for a bivariate normal, by an n x n Gauss-Hermite product rule.

    Notes
    -----
    ``X = m1 + s1 z1``, ``Y = m2 + (c / s1) z1 + sqrt(v2 - c^2 / v1) z2`` (Cholesky) with
    independent standard z1, z2 on the tensor grid. Requires v1 > 0.
    """
    x, w = hermite(n)
    arrs = np.broadcast_arrays(*(np.asarray(a, float) for a in (m1, m2, v1, v2, c)))
    m1, m2, v1, v2, c = (a[..., None, None] for a in arrs)
    s1 = np.sqrt(v1)
    l21 = c / s1
    l22 = np.sqrt(np.maximum(v2 - l21 * l21, 0.0))
    z1, z2 = x[:, None], x[None, :]
    X = m1 + s1 * z1
    Y = m2 + l21 * z1 + l22 * z2
    return np.sum(f(X) * g(Y) * (w[:, None] * w[None, :]), (-2, -1))
