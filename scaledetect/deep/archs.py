"""Standard CNNs in their CIFAR-style forms, for one input channel and one output (PyTorch).

``build(arch, width_factor, size)`` returns a ``torch.nn.Module`` mapping images ``(n, 1, H, W)``
(H = W = ``size``) to outputs ``(n,)`` (one scalar per image, for the hinge loss). The layouts
follow the CIFAR versions used by Petrini et al.'s ``diffeo-sota`` code (itself after the common
``pytorch-cifar`` models): 3x3 convolutions with zero padding, max pooling, batch norm where the
name says ``bn``, a linear head. ``width_factor`` multiplies every channel count (and the hidden
widths of the fully connected heads of LeNet and AlexNet): ``c -> max(1, round(c * f))``.

Every activation is its own ``nn.ReLU``/``nn.SiLU`` module (never in place, never shared), so that
forward hooks and ``torch.fx`` see each node's output under its module path.

Small inputs
------------
Five 2x2 max-poolings would shrink a 28 x 28 image below one pixel. As the authors do for
one-channel (MNIST-sized) inputs, VGG and AlexNet start with a zero padding of 2 pixels on every
side (28 -> 32). Heads flatten whatever spatial side is left (1 x 1 at size 28, and at 32 for
the ResNets), so larger inputs work too; a size at which some layer would have no pixel left
raises ``ScaleDetectError`` naming ``size`` and the smallest allowed size (``min_size``):

=================  ========  ===================================================
arch               min size  geometry (side s of the input)
=================  ========  ===================================================
vgg*               28        pad 2, five max-poolings: (s + 4) // 32 >= 1
alexnet            11        pad 2, conv stride 2, three max-poolings
lenet              16        conv 5, pool 2, conv 5, pool 2 (28 -> 24, 12, 8, 4)
resnet*            25        three stride-2 stages, then 4 x 4 average pooling
efficientnetb0     1         four stride-2 stages, then global average pooling
=================  ========  ===================================================

Parameter counts at width 1 (1 input channel, 1 output, ``size = 28``). Each equals the
published CIFAR count (3 input channels, 10 classes, 32 x 32) minus the first convolution's
weights for the two dropped input channels (2 x 9 x 64 = 1,152 for VGG and ResNet) and minus the
9 dropped outputs of the head (9 x (512 + 1) = 4,617; ResNet50 9 x 2,049 = 18,441);
``tests/test_deep_archs.py`` checks every row against an independent arithmetic count:

=================  ===========  ========================================================
arch               width 1      check
=================  ===========  ========================================================
vgg11              9,219,841    vgg11bn minus its 2 x 2,752 batch-norm parameters
vgg11bn            9,225,345    9,231,114 (published) - 1,152 - 4,617
vgg13bn            9,410,241    9,416,010 - 5,769
vgg16bn            14,722,497   14,728,266 - 5,769
vgg19bn            20,034,753   20,040,522 - 5,769
resnet18           11,168,193   11,173,962 - 5,769
resnet34           21,276,353   21,282,122 - 5,769
resnet50           23,501,249   23,520,842 - 1,152 - 18,441
alexnet            23,234,241   five convs 2,250,432 + head 4,198,400 + 16,781,312 + 4,097
lenet              43,661       156 + 2,416 + 30,840 (16 x 4 x 4 -> 120) + 10,164 + 85
efficientnetb0     3,595,133    stem 288 + 64, 16 MBConv blocks 3,594,460, head 321
=================  ===========  ========================================================

"""

import math

import torch
from torch import nn

from ..errors import ScaleDetectError, require, require_choice
from .spec import ARCHS  # noqa: E402  (the names, importable without torch)

_VGG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
_RESNET = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
           "resnet50": ("bottleneck", (3, 4, 6, 3))}
# EfficientNet-B0 stages: (expansion, out channels, blocks, kernel, stride)
_EFFNET_B0 = ((1, 16, 1, 3, 1), (6, 24, 2, 3, 2), (6, 40, 2, 5, 2), (6, 80, 3, 3, 2),
              (6, 112, 3, 5, 1), (6, 192, 4, 5, 2), (6, 320, 1, 3, 1))


def _w(c: int, f: float) -> int:
    """Scaled channel count ``max(1, round(c f))``."""
    return max(1, int(round(c * f)))


# ---------------------------------------------------------------- geometry (no torch needed)
def _pool(s: int) -> int:
    return s // 2


def _conv_s2(s: int) -> int:
    """Side after a stride-2 convolution padded by (k - 1) / 2: ceil(s / 2)."""
    return (s - 1) // 2 + 1


def final_side(arch: str, size: int) -> int:
    """Spatial side of the last feature map (0 if some layer would have no pixel left)."""
    if arch.startswith("vgg"):
        s = size + 4
        for _ in range(5):
            s = _pool(s)
        return s
    if arch == "alexnet":
        s = _conv_s2(size + 4)
        for _ in range(3):
            s = _pool(s)
        return s
    if arch == "lenet":
        s = size - 4
        s = _pool(s) if s >= 1 else 0
        s = s - 4
        return _pool(s) if s >= 1 else 0
    if arch.startswith("resnet"):
        s = size
        for _ in range(3):
            s = _conv_s2(s)
        return s // 4
    return 1  # efficientnet: global average pooling


def min_size(arch: str) -> int:
    """Smallest input side the architecture can take."""
    require_choice("arch", arch, ARCHS)
    return next(s for s in range(1, 256) if final_side(arch, s) >= 1)


def check_size(arch: str, size: int) -> None:
    """Raise ``ScaleDetectError`` naming ``size`` and the allowed sizes if *arch* cannot take it."""
    require_choice("arch", arch, ARCHS)
    m = min_size(arch)
    require(isinstance(size, int) and size >= m, "size", f"be an integer >= {m} for arch={arch} "
            "(its poolings would leave no pixel)", size)


# ---------------------------------------------------------------- modules
class _Squeeze(nn.Module):
    """``(n, 1) -> (n,)``: one scalar output per image."""

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        return x.reshape(x.shape[0])


class VGG(nn.Module):
    """VGG (CIFAR form): zero padding 2, [conv3x3 (+BN) + ReLU | maxpool2]*, flatten, linear."""

    def __init__(self, cfg, batch_norm: bool, f: float, size: int):
        super().__init__()
        layers, c_in = [nn.ZeroPad2d(2)], 1
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            c = _w(v, f)
            layers.append(nn.Conv2d(c_in, c, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.ReLU())
            c_in = c
        self.features = nn.Sequential(*layers)
        side = (size + 4) // 32
        self.classifier = nn.Linear(c_in * side * side, 1)
        self.out = _Squeeze()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        return self.out(self.classifier(torch.flatten(self.features(x), 1)))


class LeNet(nn.Module):
    """LeNet-5 (CIFAR form): conv5 6, pool, conv5 16, pool, fc 120, fc 84, fc 1; ReLU."""

    def __init__(self, f: float, size: int):
        super().__init__()
        c1, c2, h1, h2 = _w(6, f), _w(16, f), _w(120, f), _w(84, f)
        self.features = nn.Sequential(nn.Conv2d(1, c1, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2))
        side = final_side("lenet", size)
        self.classifier = nn.Sequential(nn.Linear(c2 * side * side, h1), nn.ReLU(),
                                        nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 1))
        self.out = _Squeeze()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        return self.out(self.classifier(torch.flatten(self.features(x), 1)))


class AlexNet(nn.Module):
    """AlexNet (CIFAR form of the authors): pad 2, five 3x3 convs, three max-pools, 4096-wide head.

    Dropout (p = 0.5) before the two hidden linear layers, as in the published model.
    """

    def __init__(self, f: float, size: int):
        super().__init__()
        c = [_w(v, f) for v in (64, 192, 384, 256, 256)]
        h = _w(4096, f)
        self.features = nn.Sequential(
            nn.ZeroPad2d(2), nn.Conv2d(1, c[0], 3, stride=2, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(),
            nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(),
            nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        side = final_side("alexnet", size)
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(c[4] * side * side, h), nn.ReLU(), nn.Dropout(),
            nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 1))
        self.out = _Squeeze()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        return self.out(self.classifier(torch.flatten(self.features(x), 1)))


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the (projected) input, ReLU."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(c_in, planes, stride)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 -> 3x3 (stride) -> 1x1 (4x channels), BN after each, ReLU."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.shortcut = _shortcut(c_in, 4 * planes, stride)
        self.relu3 = nn.ReLU()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.relu2(self.bn2(self.conv2(out)))))
        return self.relu3(out + self.shortcut(x))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Identity, or a 1x1 strided conv + BN when the shape changes."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    """ResNet (CIFAR form): conv3x3 stem, four stages (strides 1, 2, 2, 2), 4x4 avg pool, linear."""

    def __init__(self, block: type, blocks: tuple, f: float, size: int):
        super().__init__()
        c = _w(64, f)
        self.conv1 = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        stages = []
        for i, (n, stride) in enumerate(zip(blocks, (1, 2, 2, 2), strict=True)):
            planes = _w(64 * 2**i, f)
            stage = []
            for s in [stride] + [1] * (n - 1):
                stage.append(block(c, planes, s))
                c = planes * block.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AvgPool2d(4)
        side = final_side("resnet", size)
        self.linear = nn.Linear(c * side * side, 1)
        self.out = _Squeeze()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.out(self.linear(torch.flatten(self.pool(out), 1)))


class _SE(nn.Module):
    """Squeeze-and-excitation: global mean, 1x1 conv, SiLU, 1x1 conv, sigmoid gate."""

    def __init__(self, c: int, c_se: int):
        super().__init__()
        self.se1 = nn.Conv2d(c, c_se, 1)
        self.act = nn.SiLU()
        self.se2 = nn.Conv2d(c_se, c, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * self.gate(self.se2(self.act(self.se1(s))))


class MBBlock(nn.Module):
    """EfficientNet block: 1x1 expansion, depthwise conv, squeeze-excitation, 1x1 projection."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        c = expansion * c_in
        self.expand = expansion != 1
        if self.expand:
            self.conv1 = nn.Conv2d(c_in, c, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.act1 = nn.SiLU()
        self.conv2 = nn.Conv2d(c, c, kernel, stride=stride, padding=kernel // 2, groups=c,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.act2 = nn.SiLU()
        self.se = _SE(c, max(1, int(c_in * 0.25)))
        self.conv3 = nn.Conv2d(c, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        out = self.act1(self.bn1(self.conv1(x))) if self.expand else x
        out = self.bn3(self.conv3(self.se(self.act2(self.bn2(self.conv2(out))))))
        return out + x if self.skip else out


class EfficientNetB0(nn.Module):
    """EfficientNet-B0 (CIFAR form): stride-1 stem, 16 MBConv blocks, global mean, dropout, linear.

    Drop-connect is left out: in the authors' code its rate is ``0.2 * b / blocks`` with ``b``
    never incremented, i.e. zero.
    """

    def __init__(self, f: float, size: int):
        super().__init__()
        c = _w(32, f)
        self.conv1 = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.act = nn.SiLU()
        blocks = []
        for expansion, c_out, n, kernel, stride in _EFFNET_B0:
            for s in [stride] + [1] * (n - 1):
                blocks.append(MBBlock(c, _w(c_out, f), kernel, s, expansion))
                c = _w(c_out, f)
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.linear = nn.Linear(c, 1)
        self.out = _Squeeze()

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        out = self.layers(self.act(self.bn1(self.conv1(x))))
        return self.out(self.linear(self.dropout(torch.flatten(self.pool(out), 1))))


def build(arch: str, width_factor: float = 1.0, size: int = 28) -> nn.Module:
    """The architecture *arch* for ``(n, 1, size, size)`` inputs and ``(n,)`` outputs.

    Parameters
    ----------
    arch : str
        One of ``ARCHS`` (case-insensitive).
    width_factor : float
        ``> 0``; every channel count c becomes ``max(1, round(c * width_factor))``.
    size : int
        Input side, at least ``min_size(arch)``.

    Returns
    -------
    torch.nn.Module
        Freshly initialized with PyTorch's default initialization (the caller seeds torch).
    """
    arch = arch.lower() if isinstance(arch, str) else arch
    require_choice("arch", arch, ARCHS)
    require(isinstance(width_factor, (int, float)) and math.isfinite(width_factor)
            and width_factor > 0, "width_factor", "be a number > 0", width_factor)
    check_size(arch, size)
    f = float(width_factor)
    if arch.startswith("vgg"):
        return VGG(_VGG[arch.removesuffix("bn")], arch.endswith("bn"), f, size)
    if arch.startswith("resnet"):
        kind, blocks = _RESNET[arch]
        return ResNet(BasicBlock if kind == "basic" else Bottleneck, blocks, f, size)
    if arch == "lenet":
        return LeNet(f, size)
    if arch == "alexnet":
        return AlexNet(f, size)
    if arch == "efficientnetb0":
        return EfficientNetB0(f, size)
    raise ScaleDetectError(f"arch must be one of {', '.join(ARCHS)}; got arch={arch!r}")


def param_count(module: nn.Module) -> int:
    """Number of trainable scalar parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
