"""The weights protocol: one rule per diagnostic, backends that only adapt.

A numba CNN and its PyTorch twin (``deep.simple.SimpleCNN``, the same numbers in PyTorch) are
read by two different backends; every diagnostic must give them the same arrays, bit for bit
(shuffling moves numbers, the channel sum computes the same float64 sums from the same inputs,
spectra project the same filters), and the rebuilt models compute the same function (float64
forward passes agree to 1e-10 of the largest output, the tolerance of tests/test_torch_parity.py:
different summation orders of a few hundred terms).
"""

import numpy as np
import pytest
from skips import skip_without

from scaledetect import NetSpec, ScaleDetectError
from scaledetect.diagnostics import (
    Backend,
    ConvWeights,
    ReadoutWeights,
    Weights,
    channel_sum,
    read_weights,
    register_backend,
    shuffle_channels,
    shuffle_state_dict,
    spectra,
    summed_filter,
)
from scaledetect.nn import init_cnn

SPECS = [
    NetSpec(dim=1, size=32, depth=3, filter=2, stride=2, width=8, act="relu"),
    NetSpec(dim=1, size=16, depth=3, filter=3, stride=1, width=6, act="tanh", param="mf",
            bias=False),
    NetSpec(dim=2, size=8, depth=2, filter=2, stride=2, width=5, act="relu", param="mf"),
]
IDS = ["1d-ntk", "1d-mf-nobias", "2d-mf"]


@pytest.fixture(params=list(zip(SPECS, IDS, strict=True)), ids=IDS)
def pair(request):
    """A float64 numba CNN and its PyTorch twin, and a batch of inputs."""
    skip_without("torch")
    from scaledetect.deep.simple import SimpleCNN

    spec = request.param[0]
    model = init_cnn(spec, 7, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((6, 1) + (spec.size,) * spec.dim)
    return model, SimpleCNN.from_cnn(model), x


def _same_function(cnn, module, x):
    import torch

    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    want = cnn.forward(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.max(np.abs(want)))


def test_numba_and_twin_backends_read_the_same_weights(pair):
    model, twin, _ = pair
    a, b = read_weights(model), read_weights(twin)
    assert [c.name for c in a.convs] == [f"conv{k}" for k in range(1, model.spec.depth + 1)]
    assert [c.name for c in b.convs] == [f"layers.{k}" for k in range(model.spec.depth)]
    for ca, cb, layer in zip(a.convs, b.convs, twin.layers, strict=True):
        np.testing.assert_array_equal(ca.weight, cb.weight)
        assert (ca.bias is None) == (cb.bias is None) == (not model.spec.bias)
        # the forward divides by sqrt(C_in F^dim): in_divisor is its sqrt(C_in) part
        assert ca.in_divisor == cb.in_divisor == np.sqrt(ca.weight.shape[1])
        assert layer.scale * np.sqrt(model.spec.filter ** model.spec.dim) == pytest.approx(
            1 / cb.in_divisor, rel=1e-15)
    assert a.readout.weight.shape == (1, model.spec.width)
    assert a.readout.channels == b.readout.channels == model.spec.width
    np.testing.assert_array_equal(a.readout.weight, b.readout.weight)
    assert a.readout.scale == b.readout.scale == pytest.approx(twin.c, rel=1e-15)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_numba_and_twin_shuffle_alike(pair, mode):
    model, twin, x = pair
    cnn, module = shuffle_channels(model, mode, rng=3), shuffle_channels(twin, mode, rng=3)
    assert type(module) is type(twin)
    np.testing.assert_array_equal(module.to_cnn().theta, cnn.theta)
    _same_function(cnn, module, x)
    if mode:
        assert not np.array_equal(cnn.theta, model.theta)


def test_numba_and_twin_channel_sums_alike(pair):
    model, twin, x = pair
    cnn, module = channel_sum(model), channel_sum(twin)
    assert type(module) is type(twin) and module.spec.width == cnn.spec.width == 1
    np.testing.assert_array_equal(module.to_cnn().theta, cnn.theta)
    _same_function(cnn, module, x)


def test_numba_and_twin_spectra_alike(pair):
    model, twin, _ = pair
    for a, b in zip(spectra(model), spectra(twin), strict=True):
        assert (a.k, a.shape) == (b.k, b.shape) and b.name == f"layers.{a.k - 1}"
        np.testing.assert_array_equal(a.power, b.power)
        assert a.constant_fraction == b.constant_fraction


def test_reading_never_exposes_writable_storage():
    model = init_cnn(SPECS[0], 0)
    w = read_weights(model).convs[1].weight
    with pytest.raises(ValueError, match="read-only"):
        w[0, 0, 0] = 1.0
    assert model.params["conv2.weight"].flags.writeable  # the model's own arrays stay writable


def test_an_unknown_model_gets_one_line_naming_what_is_accepted():
    with pytest.raises(ScaleDetectError) as err:
        read_weights([1, 2])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("model must be") and msg.endswith("got model=list")
    assert "scaledetect CNN" in msg and "state dict" in msg and "PyTorch module" in msg


class _Filters:
    """A toy model kind: a list of conv weights (C_out, C_in, F) and a readout (1, C)."""

    def __init__(self, convs, readout):
        self.convs, self.readout = convs, readout


def _read_toy(m):
    convs = tuple(ConvWeights(f"c{k}", w, in_divisor=2.0 if k else 1.0)
                  for k, w in enumerate(m.convs))
    return Weights(convs, ReadoutWeights("r", m.readout, None, m.readout.shape[1], scale=0.5))


def _rebuild_toy(m, w):
    return _Filters([c.weight for c in w.convs], np.asarray(w.readout.weight))


def test_a_new_backend_gets_every_diagnostic_without_editing_diagnostics():
    register_backend(Backend("a toy", lambda m: isinstance(m, _Filters), _read_toy, _rebuild_toy))
    rng = np.random.default_rng(0)
    toy = _Filters([rng.normal(size=(3, 1, 2)), rng.normal(size=(3, 3, 2))],
                   rng.normal(size=(1, 3)))
    # shuffling: the same permutations as for the same arrays in a state dict
    state = {"c0.weight": toy.convs[0], "c1.weight": toy.convs[1]}
    want = shuffle_state_dict(state, 1, rng=4)
    got = shuffle_channels(toy, 1, rng=4)
    for k in range(2):
        np.testing.assert_array_equal(got.convs[k], want[f"c{k}.weight"])
    # channel sum by hand: (1/C_out) sum_{c, c'} W / in_divisor; readout 0.5 * sum(beta)
    summed = channel_sum(toy)
    np.testing.assert_allclose(summed.convs[1][0, 0], toy.convs[1].sum((0, 1)) / 3 / 2.0,
                               rtol=1e-15)
    np.testing.assert_array_equal(summed.convs[0], summed_filter(toy.convs[0]))
    assert summed.readout[0, 0] == pytest.approx(0.5 * toy.readout.sum(), rel=1e-15)
    assert [x.name for x in spectra(toy)] == ["c0", "c1"]


def test_a_bare_torch_conv_summed_is_the_channel_mean_on_channel_constant_inputs():
    # a conv whose C_in input channels all carry x: output o is sum_c W_oc * x + b_o; their mean
    # over o is the conv with filter (1/C_out) sum_{o,c} W_oc and bias mean(b): the channel sum
    torch = skip_without("torch")
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    one = channel_sum(conv)
    assert isinstance(one, torch.nn.Conv2d) and (one.in_channels, one.out_channels) == (1, 1)
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        want = conv(x.expand(2, 3, 6, 6)).mean(dim=1, keepdim=True)
        np.testing.assert_allclose(one(x).numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
    assert [s.name for s in spectra(conv)] == [""]
