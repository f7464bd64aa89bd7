"""Filter spectra: the grid-Laplacian eigenbasis against closed forms and an explicit matrix,
the pooling net on the constant mode only, Gaussian filters spread evenly within standard errors."""

import math

import numpy as np
import pytest
from skips import skip_without
from tolerances import family_nsigma

from scaledetect import NetSpec, ScaleDetectError
from scaledetect.diagnostics.spectrum import (
    conv_weights,
    filter_power,
    grid_modes,
    path_modes,
    spectra,
)
from scaledetect.nn import init_cnn, pooling_net


def _laplacian(f: int, dim: int) -> np.ndarray:
    """Explicit open-boundary Laplacian D - A of the path (dim 1) or the f x f square (dim 2),
    sites in C order, each linked to its (2 or 4) neighbours inside the support."""
    sites = list(np.ndindex(*(f,) * dim))
    index = {s: i for i, s in enumerate(sites)}
    lap = np.zeros((len(sites), len(sites)))
    for s in sites:
        for axis in range(dim):
            for step in (-1, 1):
                t = list(s)
                t[axis] += step
                if 0 <= t[axis] < f:
                    lap[index[s], index[tuple(t)]] -= 1
                    lap[index[s], index[s]] += 1
    return lap


@pytest.mark.parametrize("f", [1, 2, 3, 4, 7])
def test_path_eigenvalues_are_2_minus_2cos_and_vectors_orthonormal_eigenvectors(f):
    vals, vecs = path_modes(f)
    np.testing.assert_allclose(vals, 2 - 2 * np.cos(np.pi * np.arange(f) / f), atol=1e-15)
    lap = _laplacian(f, 1)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(lap), atol=1e-12)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(f), atol=1e-13)
    np.testing.assert_allclose(lap @ vecs, vecs * vals, atol=1e-12)
    np.testing.assert_allclose(vecs[:, 0], np.full(f, f ** -0.5), atol=1e-15)  # constant mode


@pytest.mark.parametrize("f", [2, 3, 4])
def test_square_grid_eigenvalues_are_sums_of_two_path_eigenvalues(f):
    vals, vecs = grid_modes(f, 2)
    path = 2 - 2 * np.cos(np.pi * np.arange(f) / f)
    np.testing.assert_allclose(vals, np.sort((path[:, None] + path[None, :]).ravel()),
                               atol=1e-14)
    lap = _laplacian(f, 2)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(lap), atol=1e-12)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(f * f), atol=1e-13)
    np.testing.assert_allclose(lap @ vecs, vecs * vals, atol=1e-12)
    assert np.all(np.diff(vals) >= 0) and vals[0] == 0


@pytest.mark.parametrize(("dim", "f", "size"), [(1, 2, 16), (1, 4, 64), (2, 3, 9), (2, 2, 8)])
def test_pooling_net_has_constant_fraction_one(dim, f, size):
    net = NetSpec(dim=dim, size=size, depth=2, filter=f, stride=f, width=1, bias=False)
    for layer in spectra(pooling_net(net)):
        # every filter is constant, orthogonal to psi_l (l >= 1) up to rounding of the cosines
        assert layer.constant_fraction == pytest.approx(1.0, abs=1e-14)
        np.testing.assert_allclose(layer.power[1:], 0, atol=1e-28)
        assert layer.power[0] == pytest.approx(f ** dim * (f ** (-dim / 2)) ** 2, rel=1e-14)


@pytest.mark.parametrize(("dim", "f"), [(1, 4), (2, 3)])
def test_iid_gaussian_filters_give_one_over_f_dim_per_mode(dim, f):
    # M = C_out C_in filters with N(0, s^2) entries: every projection on an orthonormal psi_l is
    # N(0, s^2), so power_l / s^2 is a mean of M chi^2_1 variables: 1 with s.e. sqrt(2 / M)
    rng = np.random.default_rng(3)
    c_out, c_in, s = 64, 48, 0.7
    w = s * rng.standard_normal((c_out, c_in) + (f,) * dim)
    vals, power = filter_power(w)
    se = math.sqrt(2 / (c_out * c_in))
    assert len(power) == f ** dim
    z = family_nsigma(f ** dim + 1)  # F^dim modes and the fraction: one family (tolerances.py)
    np.testing.assert_array_less(np.abs(power / s ** 2 - 1), z * se)
    fraction = power[0] / power.sum()  # ~ 1/F^dim; the ratio's s.e. is below the mode's
    assert abs(fraction * f ** dim - 1) < z * se


def test_spectra_of_a_numba_cnn_name_every_conv_layer():
    net = NetSpec(dim=1, size=64, depth=3, filter=4, stride=4, width=8)
    layers = spectra(init_cnn(net, 0))
    assert [(x.k, x.name, x.shape) for x in layers] == [
        (1, "conv1", (8, 1, 4)), (2, "conv2", (8, 8, 4)), (3, "conv3", (8, 8, 4))]
    d = layers[1].to_dict()
    assert set(d) == {"k", "name", "shape", "eigenvalues", "power", "constant_fraction"}
    assert d["constant_fraction"] == pytest.approx(d["power"][0] / sum(d["power"]))


def test_state_dicts_keep_square_convs_and_one_by_one_has_one_mode():
    state = {"a.weight": np.ones((2, 3, 3, 3)), "bn.weight": np.ones(2),
             "fc.weight": np.ones((1, 4)), "odd.weight": np.ones((2, 2, 1, 3)),
             "p.weight": np.ones((4, 2, 1, 1))}
    assert list(conv_weights(state)) == ["a", "p"]
    one = spectra(state)[1]
    assert one.eigenvalues.tolist() == [0.0] and one.constant_fraction == 1.0


def test_torch_module_is_read_through_its_state_dict():
    skip_without("torch")
    from scaledetect.deep.archs import build

    layers = spectra(build("vgg11", 0.125, 28))
    assert len(layers) == 8 and all(x.shape[2:] == (3, 3) for x in layers)
    assert layers[0].name == "features.1" and len(layers[0].power) == 9


def test_bad_inputs_raise():
    with pytest.raises(ScaleDetectError, match="weight.shape"):
        filter_power(np.ones((2, 2, 3, 2)))
    with pytest.raises(ScaleDetectError, match="model"):
        spectra({"fc.weight": np.ones((2, 2))})
    with pytest.raises(ScaleDetectError, match="model"):
        spectra(42)


def test_constant_fraction_is_the_uniform_share_of_nn_filters():
    # two computations of one quantity: F^dim mean(w)^2 summed over filters / sum w^2 (nn.filters)
    # and the power on psi_0 = 1/sqrt(F^dim) over the total power (here)
    from scaledetect.nn.filters import uniform_share

    w = np.random.default_rng(5).normal(0.3, 1, (7, 5, 3, 3))
    assert spectra({"c.weight": w})[0].constant_fraction == pytest.approx(uniform_share(w),
                                                                          rel=1e-12)
