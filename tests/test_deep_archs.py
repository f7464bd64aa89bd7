"""Architectures: output shapes, parameter counts against arithmetic, sizes refused, numba parity.

Parameter counts are recomputed here by hand from the published layer lists (no code shared with
``scaledetect.deep.archs``): a 3x3 conv c_in -> c_out with bias has 9 c_in c_out + c_out
parameters, a batch norm 2 c, a linear layer n_in n_out + n_out.
"""

import numpy as np
import pytest
from skips import skip_without

torch = skip_without("torch")

from scaledetect.deep.archs import ARCHS, build, min_size, param_count  # noqa: E402
from scaledetect.deep.simple import SimpleCNN  # noqa: E402
from scaledetect.errors import ScaleDetectError  # noqa: E402
from scaledetect.nn.model import init_cnn  # noqa: E402
from scaledetect.nn.spec import NetSpec  # noqa: E402


def conv(cin, cout, k=3, bias=True, groups=1):
    return k * k * cin * cout // groups + (cout if bias else 0)


def vgg_count(cfg, bn):
    n, c_in = 0, 1
    for v in cfg:
        if v != "M":
            n += conv(c_in, v) + (2 * v if bn else 0)
            c_in = v
    return n + 512 + 1


V11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
V13 = [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
V16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
V19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
       512, 512, 512, 512, "M"]


def resnet_count(blocks, bottleneck):
    n, c = conv(1, 64, bias=False) + 128, 64
    for i, nb in enumerate(blocks):
        p = 64 * 2**i
        for b in range(nb):
            stride = 2 if (i > 0 and b == 0) else 1
            out = 4 * p if bottleneck else p
            if bottleneck:
                n += conv(c, p, 1, False) + conv(p, p, 3, False) + conv(p, 4 * p, 1, False)
                n += 2 * (p + p + 4 * p)
            else:
                n += conv(c, p, 3, False) + conv(p, p, 3, False) + 4 * p
            if stride != 1 or c != out:
                n += conv(c, out, 1, False) + 2 * out
            c = out
    return n + c + 1


def effnet_count():
    stages = [(1, 16, 1, 3, 1), (6, 24, 2, 3, 2), (6, 40, 2, 5, 2), (6, 80, 3, 3, 2),
              (6, 112, 3, 5, 1), (6, 192, 4, 5, 2), (6, 320, 1, 3, 1)]
    n, c = 9 * 32 + 64, 32
    for e, out, nb, k, _ in stages:
        for _ in range(nb):
            h, se = e * c, int(c * 0.25)
            n += (c * h + 2 * h) if e != 1 else 0             # expansion 1x1 + BN
            n += k * k * h + 2 * h                              # depthwise + BN
            n += (h * se + se) + (se * h + h)                   # squeeze-excitation, biases
            n += h * out + 2 * out                              # projection + BN
            c = out
    return n + 320 + 1


# Published CIFAR counts (3 channels, 10 classes) minus 2 * 9 * 64 (first conv) and 9 * (512 + 1)
# (head): 5,769; ResNet50's head is 2048 wide: 1,152 + 9 * 2,049.
EXPECTED = {
    "vgg11": (vgg_count(V11, False), 9_219_841),
    "vgg11bn": (vgg_count(V11, True), 9_231_114 - 5_769),
    "vgg13bn": (vgg_count(V13, True), 9_416_010 - 5_769),
    "vgg16bn": (vgg_count(V16, True), 14_728_266 - 5_769),
    "vgg19bn": (vgg_count(V19, True), 20_040_522 - 5_769),
    "resnet18": (resnet_count((2, 2, 2, 2), False), 11_173_962 - 5_769),
    "resnet34": (resnet_count((3, 4, 6, 3), False), 21_282_122 - 5_769),
    "resnet50": (resnet_count((3, 4, 6, 3), True), 23_520_842 - 1_152 - 9 * 2_049),
    "alexnet": (conv(1, 64) + conv(64, 192) + conv(192, 384) + conv(384, 256) + conv(256, 256)
                + 1024 * 4096 + 4096 + 4096 * 4096 + 4096 + 4097, 23_234_241),
    # 3-channel 32x32 CIFAR LeNet has 62,006: minus 2*150 (conv1), (400-256)*120 (fc1), 9*85
    "lenet": (conv(1, 6, 5) + conv(6, 16, 5) + 256 * 120 + 120 + 120 * 84 + 84 + 85,
              62_006 - 300 - 144 * 120 - 9 * 85),
    "efficientnetb0": (effnet_count(), 3_595_133),
}


@pytest.mark.parametrize("arch", ARCHS)
def test_param_count_and_shape(arch):
    torch.manual_seed(0)
    net = build(arch, 1.0, 28)
    arithmetic, stated = EXPECTED[arch]
    assert param_count(net) == arithmetic == stated
    small = build(arch, 0.125, 28).eval()
    out = small(torch.zeros(3, 1, 28, 28))
    assert out.shape == (3,)
    assert param_count(small) < param_count(net) / 20  # ~1/64 of the conv weights


def test_width_factor_and_sizes_refused():
    assert min_size("vgg11") == 28 and min_size("lenet") == 16 and min_size("resnet18") == 25
    with pytest.raises(ScaleDetectError, match=r"size must be an integer >= 28 for arch=vgg11"):
        build("vgg11", 1.0, 27)
    with pytest.raises(ScaleDetectError, match="width_factor"):
        build("lenet", 0.0, 28)
    with pytest.raises(ScaleDetectError, match="arch must be one of"):
        build("vgg12", 1.0, 28)
    assert build("VGG11bn", 0.125, 60).eval()(torch.zeros(1, 1, 60, 60)).shape == (1,)


SPECS = [NetSpec(dim=1, size=32, depth=4, filter=2, stride=2, width=8, gain=2 ** 0.5),
         NetSpec(dim=1, size=16, depth=3, filter=3, stride=1, width=6, act="tanh", param="mf",
                 alpha=0.5, bias=False),
         NetSpec(dim=2, size=8, depth=3, filter=2, stride=2, width=6, param="mf"),
         NetSpec(dim=2, size=9, depth=2, filter=3, stride=3, width=4, act="tanh", gain=1.5),
         NetSpec(dim=2, size=8, depth=2, filter=3, stride=2, width=4, bias=False),
         NetSpec(dim=1, size=16, depth=3, filter=3, stride=2, width=5, act="leaky_relu",
                 negative_slope=0.2, gain=1.3),
         NetSpec(dim=2, size=8, depth=2, filter=2, stride=2, width=4, act="gelu", param="mf")]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.dim}d-F{s.filter}-s{s.stride}-{s.act}")
def test_simple_cnn_matches_numba(spec):
    # float32, same weights: every layer within 1e-5 of the largest entry (eps 6e-8 times sums of
    # at most a few hundred terms).
    model = init_cnn(spec, 3, dtype=np.float32)
    x = np.random.default_rng(4).standard_normal((5, 1) + (spec.size,) * spec.dim)
    x = x.astype(np.float32)
    net = SimpleCNN.from_cnn(model)
    reps = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: reps.append(o.detach().numpy()))
             for m in net.layers]
    out = net(torch.from_numpy(x)).detach().numpy()
    for h in hooks:
        h.remove()
    got = model.forward(x, layers=True)
    for a, r in zip(got, [x] + reps + [out], strict=True):
        assert a.shape == r.shape
        assert np.abs(a - r).max() <= 1e-5 * max(np.abs(r).max(), 1)
    back = net.to_cnn()
    for k, v in model.params.items():
        np.testing.assert_array_equal(back.params[k], v)
