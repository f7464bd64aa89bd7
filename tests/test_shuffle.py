"""Channel shuffling: filters keep their spatial pattern, the channel wiring is scrambled.

Every comparison is exact: shuffling only moves stored numbers, and a one-channel net has nothing
to move.
"""

import numpy as np
import pytest
from skips import skip_without

from scaledetect import NetSpec
from scaledetect.diagnostics import shuffle_channels, shuffle_state_dict
from scaledetect.diagnostics.shuffle import permutations
from scaledetect.errors import ScaleDetectError
from scaledetect.nn.model import init_cnn

SPEC = NetSpec(dim=2, size=8, depth=3, filter=2, stride=2, width=5)


def _filters(w):
    """Per output channel, the sorted multiset of its F x F filters (as byte strings)."""
    return [sorted(f.tobytes() for f in w[o]) for o in range(w.shape[0])]


@pytest.mark.parametrize("mode", [1, 2])
def test_each_filter_keeps_its_spatial_pattern(mode):
    model = init_cnn(SPEC, rng=0)
    new = shuffle_channels(model, mode, rng=3)
    for k in range(1, SPEC.depth + 1):
        w, w2 = model.params[f"conv{k}.weight"], new.params[f"conv{k}.weight"]
        b, b2 = model.params[f"conv{k}.bias"], new.params[f"conv{k}.bias"]
        if mode == 1:  # same unit, same multiset of filters, bias untouched
            assert _filters(w2) == _filters(w)
            np.testing.assert_array_equal(b2, b)
        else:  # units reordered, each with its multiset of filters and its bias
            pairs = sorted((b[o].tobytes(), f) for o, f in enumerate(_filters(w)))
            pairs2 = sorted((b2[o].tobytes(), f) for o, f in enumerate(_filters(w2)))
            assert pairs2 == pairs
    np.testing.assert_array_equal(new.params["readout.weight"], model.params["readout.weight"])


@pytest.mark.parametrize("mode", [1, 2])
def test_shuffling_changes_the_function_and_is_seeded(mode):
    model = init_cnn(SPEC, rng=0)
    x = np.random.default_rng(1).standard_normal((16, 1, 8, 8))
    a = shuffle_channels(model, mode, rng=7)
    b = shuffle_channels(model, mode, rng=7)
    c = shuffle_channels(model, mode, rng=8)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)
    out, out_a = model.forward(x), a.forward(x)
    assert np.max(np.abs(out_a - out)) > 1e-2 * np.max(np.abs(out))
    # the original is untouched
    np.testing.assert_array_equal(model.theta, init_cnn(SPEC, rng=0).theta)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_identity_on_a_one_channel_net(mode):
    spec = NetSpec(dim=1, size=16, depth=4, width=1)
    model = init_cnn(spec, rng=2)
    new = shuffle_channels(model, mode, rng=5)
    assert new is not model
    np.testing.assert_array_equal(new.theta, model.theta)
    x = np.random.default_rng(0).standard_normal((4, 1, 16))
    np.testing.assert_array_equal(new.forward(x), model.forward(x))


def test_mode_1_leaves_the_first_layer_alone():
    model = init_cnn(SPEC, rng=0)
    new = shuffle_channels(model, 1, rng=3)
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    f, g = model.forward(x, layers=True), new.forward(x, layers=True)
    np.testing.assert_array_equal(g[1], f[1])  # C_in = 1: nothing to permute
    assert not np.array_equal(g[2], f[2])


def test_bad_mode():
    with pytest.raises(ScaleDetectError, match="mode"):
        shuffle_channels(init_cnn(SPEC, rng=0), 3)
    with pytest.raises(ScaleDetectError, match="model"):
        shuffle_channels([1, 2], 1)


# ----------------------------------------------------------------------------- PyTorch
def _bn_net(torch):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.Flatten(), nn.Linear(6 * 5 * 5, 1))
    with torch.no_grad():  # non-trivial batch-norm parameters and statistics
        for m in (net[1], net[4]):
            m.weight.uniform_(0.5, 2)
            m.bias.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2)
    return net.eval()


def test_torch_mode_2_moves_bias_and_batch_norm_with_the_channel():
    # Layer 1 has C_in = 1, so in mode 2 its post-ReLU output must be the original one with
    # channels reordered by the output permutation q: W, b and the BN of channel q(o) moved
    # together to position o.
    torch = skip_without("torch")
    net = _bn_net(torch)
    new = shuffle_channels(net, 2, rng=2)
    q = permutations([(4, 1, 3, 3), (6, 4, 3, 3)], 2, 2)[0][1]  # (3, 2, 0, 1)
    assert q.tolist() != list(range(4))
    x = torch.randn(3, 1, 5, 5)
    with torch.no_grad():
        np.testing.assert_array_equal(new[:3](x).numpy(), net[:3](x).numpy()[:, q])
        assert not torch.equal(new(x), net(x))
    # the state-dict path gives the same arrays as the module path
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    ref = shuffle_state_dict(state, 2, rng=2)
    for k, v in new.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ref[k])


def test_torch_mode_1_keeps_filters_and_one_channel_identity():
    torch = skip_without("torch")
    net = _bn_net(torch)
    new = shuffle_channels(net, 1, rng=2)
    w, w2 = net[3].weight.detach().numpy(), new[3].weight.detach().numpy()
    assert _filters(w2) == _filters(w) and not np.array_equal(w2, w)
    for k, v in net.state_dict().items():  # only the second conv's weight moved
        if k != "3.weight":
            assert torch.equal(new.state_dict()[k], v)
    one = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.ReLU(), torch.nn.Conv2d(1, 1, 3))
    for mode in (1, 2):
        same = shuffle_channels(one, mode, rng=0)
        for k, v in one.state_dict().items():
            assert torch.equal(same.state_dict()[k], v)
