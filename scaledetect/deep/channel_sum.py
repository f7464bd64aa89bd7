"""Channel-summed PyTorch modules (the rule is documented in ``scaledetect.diagnostics``)."""

import copy

import torch
from torch import nn

from ..errors import ScaleDetectError

_CONVS = (nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _conv(m) -> nn.Module:
    """A 1 -> 1 channel conv with the summed filter ``(1/C_out) sum_{c, c'} W`` and mean bias."""
    new = type(m)(1, 1, m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation,
                  bias=m.bias is not None, padding_mode=m.padding_mode)
    new = new.to(dtype=m.weight.dtype, device=m.weight.device)
    with torch.no_grad():
        new.weight.copy_(m.weight.sum(dim=1, keepdim=True).mean(dim=0, keepdim=True))
        if m.bias is not None:
            new.bias.copy_(m.bias.mean().reshape(1))
    return new


def _norm(m) -> nn.Module:
    """A one-channel batch norm with channel-averaged statistics and affine parameters."""
    new = type(m)(1, eps=m.eps, momentum=m.momentum, affine=m.affine,
                  track_running_stats=m.track_running_stats)
    new = new.to(dtype=m.weight.dtype if m.affine else torch.float32)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            t = getattr(m, name, None)
            if t is not None:
                getattr(new, name).copy_(t.mean().reshape(1))
        if m.num_batches_tracked is not None:
            new.num_batches_tracked.copy_(m.num_batches_tracked)
    new.train(m.training)
    return new


def _linear(m, channels: int) -> nn.Module:
    """First linear layer: weight ``(out, C * S)`` summed over the C channels -> ``(out, S)``."""
    if m.in_features % channels:
        raise ScaleDetectError(f"linear layer with in_features={m.in_features} does not read "
                               f"the {channels} channels of the last conv layer")
    new = nn.Linear(m.in_features // channels, m.out_features, bias=m.bias is not None)
    new = new.to(dtype=m.weight.dtype, device=m.weight.device)
    with torch.no_grad():
        w = m.weight.reshape(m.out_features, channels, -1).sum(dim=1)
        new.weight.copy_(w)
        if m.bias is not None:
            new.bias.copy_(m.bias)
    return new


def module_channel_sum(module: nn.Module) -> nn.Module:
    """The channel-summed copy of *module* (its ``SimpleCNN`` twin goes through numba's rule).

    Convs and batch norms are replaced in registration order; the first ``Linear`` after a conv
    sums over that conv's output channels. Returns a new module in the same train/eval mode.
    """
    if hasattr(module, "to_cnn") and hasattr(type(module), "from_cnn"):
        from ..diagnostics.channel_sum import channel_sum

        return type(module).from_cnn(channel_sum(module.to_cnn()))
    new = copy.deepcopy(module)
    channels, linear_done = None, False
    for path, child in list(new.named_modules()):  # pre-order: the order of the forward pass
        if isinstance(child, _CONVS):
            channels = child.out_channels
            repl = _conv(child)
        elif isinstance(child, _NORMS):
            repl = _norm(child)
        elif isinstance(child, nn.Linear) and channels is not None and not linear_done:
            repl, linear_done = _linear(child, channels), True
        else:
            continue
        parent, _, name = path.rpartition(".")
        setattr(new.get_submodule(parent), name, repl)
    return new
