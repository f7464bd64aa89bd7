"""Channel-summed nets: a one-channel net is its own channel sum, and a net whose channels are
all equal computes exactly what its channel sum computes (which pins every scale convention)."""

import numpy as np
import pytest
from skips import skip_without

from scaledetect import NetSpec, ScaleDetectError
from scaledetect.diagnostics.channel_sum import channel_sum, summed_filter
from scaledetect.nn.model import CNN, init_cnn, param_shapes


def test_summed_filter_sums_inputs_and_averages_outputs():
    w = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    # (1/2) sum over both channel axes: taps (0+2+4+6+8+10)/2 and (1+3+5+7+9+11)/2
    np.testing.assert_array_equal(summed_filter(w), [[[15.0, 18.0]]])


@pytest.mark.parametrize("param", ["ntk", "mf"])
def test_one_channel_net_is_its_own_channel_sum(param):
    net = NetSpec(dim=1, size=32, depth=3, filter=2, stride=2, width=1, param=param)
    model = init_cnn(net, 4, dtype=np.float64)
    summed = channel_sum(model)
    assert summed.spec == net
    for k, v in model.params.items():
        np.testing.assert_array_equal(summed.params[k], v)
    x = np.random.default_rng(0).normal(size=(5, 1, 32))
    np.testing.assert_array_equal(summed.forward(x), model.forward(x))


def _channel_constant(net: NetSpec, rng) -> CNN:
    """A net whose channels are all equal: W_{c c'} the same filter for every (c, c'), equal
    biases, equal readout weights (random values, so nothing cancels by accident)."""
    params = {}
    for name, shape in param_shapes(net).items():
        if name.endswith(".weight") and name.startswith("conv"):
            params[name] = np.broadcast_to(rng.normal(size=(1, 1) + shape[2:]), shape).copy()
        else:
            params[name] = np.full(shape, rng.normal())
    return CNN(net, params, dtype=np.float64)


@pytest.mark.parametrize(("param", "dim"), [("ntk", 1), ("mf", 1), ("mf", 2)])
def test_channel_constant_net_computes_what_its_channel_sum_computes(param, dim):
    net = NetSpec(dim=dim, size=16, depth=2, filter=2, stride=2, width=6, param=param,
                  gain=1.3, alpha=0.7)
    model = _channel_constant(net, np.random.default_rng(1))
    summed = channel_sum(model)
    assert summed.spec.width == 1
    x = np.random.default_rng(2).normal(size=(4, 1) + (16,) * dim)
    # same arithmetic up to the order of a few float64 sums: 1e-12 relative
    np.testing.assert_allclose(summed.forward(x), model.forward(x), rtol=1e-12)
    # and every layer's one channel is the original's common channel (here channel 3)
    for a, b in zip(summed.forward(x, layers=True)[1:-1], model.forward(x, layers=True)[1:-1],
                    strict=True):
        np.testing.assert_allclose(a[:, 0], b[:, 3], rtol=1e-12, atol=1e-12)


def test_torch_twin_goes_through_the_same_rule():
    skip_without("torch")
    from scaledetect.deep.simple import SimpleCNN

    net = NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=5)
    model = init_cnn(net, 0, dtype=np.float64)
    twin = channel_sum(SimpleCNN.from_cnn(model))
    assert isinstance(twin, SimpleCNN)
    np.testing.assert_array_equal(twin.to_cnn().theta, channel_sum(model).theta)


def _vgg_channel_constant(torch, module):
    """Make every conv, batch norm and the linear head of a VGG constant over channels."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(torch.randn((1, 1, 3, 3), generator=gen).expand_as(m.weight)
                               / m.in_channels)
                m.bias.fill_(float(torch.randn(1, generator=gen)))
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(0.1)
                m.running_var.fill_(2.0)
                m.weight.fill_(1.5)
                m.bias.fill_(0.2)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn((1, 1), generator=gen).expand(1, m.in_features))


@pytest.mark.parametrize("arch", ["vgg11", "vgg11bn"])
def test_torch_vgg_channel_constant_equals_channel_sum_and_one_channel_is_itself(arch):
    torch = skip_without("torch")
    from scaledetect.deep.archs import build

    torch.manual_seed(0)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    thin = build(arch, 1e-3, 28).double().eval()  # every channel count max(1, round(c f)) = 1
    with torch.no_grad():
        np.testing.assert_array_equal(channel_sum(thin)(x).numpy(), thin(x).numpy())
    wide = build(arch, 0.05, 28).double().eval()
    _vgg_channel_constant(torch, wide)
    summed = channel_sum(wide)
    assert all(m.out_channels == 1 for m in summed.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        np.testing.assert_allclose(summed(x).numpy(), wide(x).numpy(), rtol=1e-10)


def test_channel_sum_rejects_other_objects():
    with pytest.raises(ScaleDetectError, match="model"):
        channel_sum({"conv1.weight": np.ones((2, 1, 2))})


def test_sensitivity_channel_sum_flag_measures_the_channel_summed_model(tmp_path, capsys):
    import json

    from scaledetect.cli import main
    from scaledetect.nn.io import save_model

    model = init_cnn(NetSpec(dim=1, size=32, depth=2, filter=2, stride=2, width=4), 0)
    save_model(tmp_path / "m.npz", model)
    save_model(tmp_path / "summed.npz", channel_sum(model))
    common = ["sensitivity", "--dim", "1", "--size", "32", "--xi", "8", "--probe", "64", "--json"]
    assert main([*common, "--model", str(tmp_path / "m.npz"), "--channel-sum"]) == 0
    flag = json.loads(capsys.readouterr().out)
    assert main([*common, "--model", str(tmp_path / "summed.npz")]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert flag["config"]["channel_sum"] is True
    assert flag["layers"] == saved["layers"]  # same probes, same net: the same numbers
