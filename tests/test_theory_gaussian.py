"""Gaussian moment helpers of the theory against scipy numerical integration (tolerances 1e-9:
adaptive quadrature at epsabs 1e-12 is far more precise; Gauss-Hermite with 128 / 64 nodes on an
analytic integrand (tanh has poles at i pi/2, so the error decays like exp(-c sqrt(n))) reach
~1e-12 and ~3e-10 at the variances used here, v <= 1.5)."""

import numpy as np
import pytest
from scipy import integrate, stats

from scaledetect.theory import gaussian as gs

CASES = [(0.5, 1.2, 0.7, 0.4, 0.2), (1.0, 0.0, 0.5, 0.5, -0.2), (-0.3, 0.8, 1.1, 0.6, 0.3),
         (0.7, 0.7, 0.3, 0.3, 0.29)]


def _pdf2(m1, m2, v1, v2, c):
    return stats.multivariate_normal([m1, m2], [[v1, c], [c, v2]]).pdf


@pytest.mark.parametrize("m,v", [(0.0, 1.0), (1.3, 0.4), (-0.7, 2.0), (3.0, 0.1)])
def test_relu_moments(m, v):
    pdf = stats.norm(m, np.sqrt(v)).pdf
    e1 = integrate.quad(lambda x: x * pdf(x), 0, np.inf, epsabs=1e-13)[0]
    e2 = integrate.quad(lambda x: x * x * pdf(x), 0, np.inf, epsabs=1e-13)[0]
    got = gs.relu_moments(m, v)
    assert got[0] == pytest.approx(e1, abs=1e-10) and got[1] == pytest.approx(e2, abs=1e-10)


def test_relu_moments_zero_variance_is_relu():
    assert np.allclose(gs.relu_moments([-1.0, 2.0], 0.0), [[0.0, 2.0], [0.0, 4.0]])


@pytest.mark.parametrize("case", CASES)
def test_relu_product(case):
    m1, m2, v1, v2, c = case
    pdf = _pdf2(*case)
    lim1, lim2 = m1 + 12 * np.sqrt(v1), m2 + 12 * np.sqrt(v2)
    ref = integrate.dblquad(lambda y, x: x * y * pdf([x, y]), 0, lim1, 0, lim2,
                            epsabs=1e-12, epsrel=1e-12)[0]
    assert gs.relu_product(*case) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("h,k,rho", [(0.3, -0.5, 0.6), (0, 0, 0.5), (1.2, 0.4, -0.7),
                                     (-2, 1, 0.9), (0.5, 0.5, 0.0)])
def test_bivariate_cdf(h, k, rho):
    pdf = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).pdf
    ref = integrate.dblquad(lambda y, x: pdf([x, y]), -12, h, -12, k, epsabs=1e-13)[0]
    assert gs.bivariate_cdf(h, k, rho) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.25, 0.5, 2 / 3])
def test_arccos_kernel_is_the_centred_relu_product(rho):
    assert gs.arccos_kernel(0.7, 1.3, rho) == pytest.approx(
        gs.relu_product(0.0, 0.0, 0.7, 1.3, rho * np.sqrt(0.7 * 1.3)), rel=1e-12)
    # arc-cosine at rho = 1 is E relu(g)^2 = v / 2
    assert gs.arccos_kernel(0.8, 0.8, 1.0) == pytest.approx(0.4, rel=1e-14)


@pytest.mark.parametrize("m,v", [(0.0, 0.5), (1.5, 0.3), (-0.4, 1.5)])
def test_expect_tanh(m, v):
    pdf = stats.norm(m, np.sqrt(v)).pdf
    for f in (np.tanh, lambda x: np.tanh(x) ** 2):
        ref = integrate.quad(lambda x, f=f: f(x) * pdf(x), -np.inf, np.inf, epsabs=1e-13)[0]
        assert gs.expect(f, m, v) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("case", CASES[1:3])
def test_expect2_tanh(case):
    m1, m2, v1, v2, c = case
    pdf = _pdf2(*case)
    s1, s2 = np.sqrt(v1), np.sqrt(v2)
    ref = integrate.dblquad(lambda y, x: np.tanh(x) * np.tanh(y) * pdf([x, y]),
                            m1 - 12 * s1, m1 + 12 * s1, m2 - 12 * s2, m2 + 12 * s2,
                            epsabs=1e-12, epsrel=1e-12)[0]
    assert gs.expect2(np.tanh, np.tanh, *case) == pytest.approx(ref, abs=1e-9)
