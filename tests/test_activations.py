"""The activation records (``scaledetect.activations``) against independent references.

Each record's numpy phi' against central finite differences (1e-6, the policy for differences),
its Gaussian moments and products against ``scipy.integrate`` (1e-8 absolute: quad's own error
is ~1e-10 on these smooth integrands), its infinite-width dual against its own product at zero
means; the numba kernels against the records (codes) and NaN inputs.
"""

import math

import numpy as np
import pytest
from scipy import integrate

from scaledetect import ScaleDetectError, activations
from scaledetect._kernels import conv
from scaledetect.nn import NetSpec, init_cnn, pooling_net

NAMES = activations.names()
MV = [(0.0, 1.0), (0.7, 0.3), (-1.2, 2.5), (2.0, 0.05)]


def _expect_quad(f, m, v):
    """``E f(X)``, X ~ N(m, v), by adaptive quadrature over +-12 sd (tails below 1e-30)."""
    s = math.sqrt(v)
    norm = 1.0 / (s * math.sqrt(2 * math.pi))

    def dens(x):
        return norm * math.exp(-0.5 * ((x - m) / s) ** 2)

    pts = [0.0] if m - 12 * s < 0 < m + 12 * s else None  # the kinks sit at 0
    return integrate.quad(lambda x: f(x) * dens(x), m - 12 * s, m + 12 * s, points=pts,
                          epsabs=1e-11, epsrel=1e-11, limit=200)[0]


def _product_quad(f, m1, m2, v1, v2, c):
    """``E f(X) f(Y)``: Y given X is N(m2 + c/v1 (X - m1), v2 - c^2/v1); the inner mean by quad."""
    tau2 = v2 - c * c / v1

    def inner(x):
        return f(x) * _expect_quad(f, m2 + c / v1 * (x - m1), tau2)

    return _expect_quad(inner, m1, v1)


def _scalar(act):
    """phi as a function of one float (for quad)."""
    return lambda x: float(act.phi(np.float64(x)))


@pytest.mark.parametrize("name", NAMES)
def test_dphi_matches_finite_differences(name):
    # Expect: phi'(x) = (phi(x + h) - phi(x - h)) / 2h to 1e-6 (h = 1e-5, error O(h^2 phi''')
    # ~ 1e-10, rounding ~1e-11) at points away from a kink (|x| > 1e-3).
    act = activations.get(name)
    x = np.array([-3.1, -1.0, -0.4, 0.2, 0.9, 2.7])
    h = 1e-5
    fd = (act.phi(x + h) - act.phi(x - h)) / (2 * h)
    np.testing.assert_allclose(act.dphi(x), fd, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("m, v", MV)
def test_moments_match_quadrature(name, m, v):
    # Expect: E phi(X) and E phi(X)^2 of the record (closed form or Gauss-Hermite) equal the
    # adaptive quadrature of phi times the normal density to 1e-8.
    act = activations.get(name)
    mean, second = act.moments(m, v)
    f = _scalar(act)
    assert mean == pytest.approx(_expect_quad(f, m, v), abs=1e-8)
    assert second == pytest.approx(_expect_quad(lambda x: f(x) ** 2, m, v), abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", [(0.3, -0.5, 1.0, 0.8, 0.5), (1.5, 1.0, 0.4, 0.4, -0.1)])
def test_product_matches_quadrature(name, case):
    # Expect: E phi(X) phi(Y) of the record equals nested quadrature (Y | X Gaussian) to 1e-8.
    act = activations.get(name)
    f = _scalar(act)
    assert act.product(*case) == pytest.approx(_product_quad(f, *case), abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_dual_is_the_centred_product(name):
    # Expect: the infinite-width dual E phi(U) phi(V) (U, V centred) equals nested quadrature
    # at zero means, to 1e-6 relative (tanh's 32-node product rule: ~1e-6 at variance 1).
    act = activations.get(name)
    f = _scalar(act)
    for v1, v2, c in ((1.0, 1.0, 0.6), (0.5, 1.5, -0.3), (1.2, 0.9, 0.0)):
        ref = _product_quad(f, 0.0, 0.0, v1, v2, c)
        assert float(act.dual(v1, v2, c)) == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_kernel_codes_come_from_the_records():
    # Expect: the integer branches of the numba kernels are the records' codes, all distinct.
    codes = [activations.get(n).code for n in NAMES]
    assert len(set(codes)) == len(codes)
    assert (conv.RELU, conv.TANH, conv.LINEAR) == tuple(
        activations.get(n).code for n in ("relu", "tanh", "linear"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", NAMES)
def test_nan_input_propagates_through_the_numba_forward(act, dtype):
    # Expect: one NaN input pixel p of a 1D net with F = s = 2 reaches unit p // 2^k of layer k
    # (every channel) and the output; every other unit stays finite (the ReLU kernel once
    # mapped NaN to 0). Same for the pooling net's numpy forward.
    spec = NetSpec(dim=1, size=16, depth=3, filter=2, stride=2, width=3, act=act)
    x = np.random.default_rng(0).standard_normal((2, 1, 16))
    p = 5
    x[1, 0, p] = np.nan
    pool = NetSpec(dim=1, size=16, depth=3, filter=2, stride=2, width=1, bias=False, act=act)
    for model in (init_cnn(spec, 1, dtype=dtype), pooling_net(pool, dtype=dtype)):
        reps = model.forward(x, layers=True)
        for k, f in enumerate(reps[1:-1], 1):
            bad = np.isnan(f)
            assert not bad[0].any()
            expect = np.zeros(f.shape[1:], bool)
            expect[:, p >> k] = True
            np.testing.assert_array_equal(bad[1], expect, err_msg=f"layer {k}")
        assert np.isfinite(reps[-1][0]) and np.isnan(reps[-1][1])


def test_netspec_carries_activation_parameters_only_where_taken():
    # Expect: to_dict lists negative_slope only for an activation that takes it (so every
    # other net's description and cache key are unchanged), NetSpec(**to_dict()) round-trips,
    # and a bad slope is refused naming the parameter, the constraint and the value.
    for name in NAMES:
        spec = NetSpec(act=name)
        d = spec.to_dict()
        assert ("negative_slope" in d) == ("negative_slope" in spec.activation.params)
        assert NetSpec(**d) == spec
    with pytest.raises(ScaleDetectError, match=r"^negative_slope must be a finite number with "
                       r"0 <= negative_slope < 1; got negative_slope=1\.5$"):
        NetSpec(negative_slope=1.5)
    with pytest.raises(ScaleDetectError, match=r"^act must be one of relu, tanh, linear.*"
                       r"got act='swish'$"):
        activations.get("swish")
