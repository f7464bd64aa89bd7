"""The vectorized forward of ``pooling_net`` against the general numba CNN kernel."""

import numpy as np
import pytest

from scaledetect.nn import CNN, NetSpec, pooling_net

GEOMS = [(1, 32, 4, 2, 2, "relu", 1.0), (1, 24, 3, 3, 2, "tanh", 1.5),
         (1, 16, 5, 2, 1, "relu", 1.0),
         (2, 16, 3, 2, 2, "relu", 1.0), (2, 12, 2, 3, 2, "linear", 1.0),
         (2, 8, 3, 2, 1, "tanh", 2.0), (1, 27, 3, 3, 3, "relu", 1.0)]


@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_fast_pooling_forward_equals_the_cnn_kernel(geom):
    # Expect: every layer and the output equal the general kernel's on random inputs to 1e-12
    # relative (float64; only the summation order differs).
    dim, size, depth, F, s, act, gain = geom
    spec = NetSpec(dim=dim, size=size, depth=depth, filter=F, stride=s, width=1, bias=False,
                   act=act, gain=gain, alpha=0.7)
    fast = pooling_net(spec)
    slow = CNN(spec, fast.params, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 1) + (size,) * dim)
    a, b = fast.forward(x, layers=True), slow.forward(x, layers=True)
    assert len(a) == len(b) == depth + 2
    for u, v in zip(a, b, strict=True):
        assert u.shape == v.shape and u.dtype == v.dtype
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.forward(x), slow.forward(x), rtol=1e-12)


def test_changed_weights_fall_back_to_the_kernel():
    # Expect: after editing one tap the fast model gives the general kernel's output exactly.
    spec = NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=1, bias=False)
    fast = pooling_net(spec)
    fast.params["conv1.weight"][0, 0, 0] = 3.0
    slow = CNN(spec, fast.params, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((3, 1, 16))
    assert np.array_equal(fast.forward(x), slow.forward(x))


@pytest.mark.parametrize("geom", [(2, 16, 3, 2, 2), (1, 24, 3, 3, 2), (2, 8, 2, 2, 1)], ids=str)
def test_representations_keep_the_float32_input_and_equal_forward(geom):
    # Expect: representations(x) of float32 images in a float64 net returns x itself as f_0 (no
    # copy) and layers 1..K and the output equal forward(x, layers=True) bit for bit: float32 ->
    # float64 is exact, so pooling float32 inputs in float64 is the same arithmetic.
    dim, size, depth, F, s = geom
    net = pooling_net(NetSpec(dim=dim, size=size, depth=depth, filter=F, stride=s, width=1,
                              bias=False))
    x = np.random.default_rng(2).standard_normal((4, 1) + (size,) * dim).astype(np.float32)
    fast, full = net.representations(x), net.forward(x, layers=True)
    assert fast[0] is x and full[0].dtype == np.float64 and np.array_equal(full[0], x)
    for u, v in zip(fast[1:], full[1:], strict=True):
        assert u.dtype == v.dtype == np.float64 and np.array_equal(u, v)
    assert np.array_equal(net.forward(x), full[-1])
