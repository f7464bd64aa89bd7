"""PyTorch modules under the weights protocol of ``scaledetect.diagnostics``.

Importing ``scaledetect.deep`` registers them; torch is imported only when a module is read or
rebuilt (a model that is a ``torch.nn.Module`` means torch is already imported).

- read: the module's state dict in registration order, by the state-dict conventions of
  ``diagnostics.state_dict_weights`` (convs, their biases and following batch norms, the first
  linear layer as readout); ``torch.nn`` convs and linear layers have ``in_divisor`` and ``scale``
  1. The numba CNN's twin ``deep.simple.SimpleCNN`` has the numba parameterization: its convs'
  ``in_divisor`` and its readout (``readout_weight``, ``readout_bias``) scale are the numba
  CNN's (``nn.weights``).
- rebuild: a deep copy (same device, dtype and train/eval mode) with the new arrays written in.
  A layer whose arrays change shape (the channel sum) is replaced by a new layer of its type:
  ``Conv1d/2d/3d`` (groups 1: a depthwise conv summed to one channel is an ordinary conv),
  ``BatchNorm1d/2d/3d`` (eps, momentum and ``num_batches_tracked`` kept) and ``Linear``; a
  ``SimpleCNN`` is built anew from its spec with the new width.
"""

import copy
import sys
from dataclasses import replace

import numpy as np

from ..diagnostics.weights import (
    Backend,
    ReadoutWeights,
    Weights,
    readonly,
    register_backend,
    state_dict_weights,
)
from ..errors import ScaleDetectError, require


def is_module(model) -> bool:
    """Whether *model* is a ``torch.nn.Module``; False, without importing torch, if torch is not
    imported (then no object can be one).
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def read(module) -> Weights:
    """``Weights`` of a module (read-only views of its CPU tensors, copies of others)."""
    from .simple import SimpleCNN

    state = {k: readonly(v.detach().cpu().numpy()) for k, v in module.state_dict().items()}
    weights = state_dict_weights(state)
    if not isinstance(module, SimpleCNN):
        return weights
    from ..nn.weights import conv_in_divisor, readout_scale

    convs = tuple(replace(c, in_divisor=conv_in_divisor(c.weight.shape[1]))
                  for c in weights.convs)
    readout = ReadoutWeights("readout", state["readout_weight"].reshape(1, -1),
                             state["readout_bias"], channels=module.spec.width,
                             scale=readout_scale(module.spec))
    return Weights(convs, readout)


def rebuild(module, weights: Weights):
    """A new module of *module*'s kind carrying *weights* (module docstring)."""
    from .simple import SimpleCNN

    arrays = weights.arrays()
    if isinstance(module, SimpleCNN):
        new = _simple(module, weights.convs[0].weight.shape[0])
        r = weights.readout
        del arrays["readout.weight"], arrays["readout.bias"]
        arrays.update(readout_weight=np.reshape(r.weight, -1), readout_bias=r.bias)
    else:
        new = copy.deepcopy(module)
    groups: dict[str, dict] = {}
    for key, a in arrays.items():
        path, _, leaf = key.rpartition(".")
        groups.setdefault(path, {})[leaf] = a
    for path, values in groups.items():
        layer = new.get_submodule(path)
        if any(tuple(getattr(layer, s).shape) != np.shape(a) for s, a in values.items()):
            layer = _resized(layer, path, values)
            new = _replace(new, path, layer)
        _write(layer, values)
    return new


def _simple(module, width: int):
    """A ``SimpleCNN`` like *module* (dtype, device, mode) with *width* channels."""
    from ..nn.spec import NetSpec
    from .simple import SimpleCNN

    spec = module.spec
    if width != spec.width:
        spec = NetSpec(**{**spec.to_dict(), "width": width})
    ref = module.readout_weight
    return SimpleCNN(spec).to(dtype=ref.dtype, device=ref.device).train(module.training)


def _write(layer, values: dict) -> None:
    """Copy numpy arrays into the layer's tensors of the same names (cast to their dtype)."""
    import torch

    with torch.no_grad():
        for name, a in values.items():
            getattr(layer, name).copy_(torch.from_numpy(np.array(a)))


def _replace(root, path: str, layer):
    """Put *layer* at *path* of *root*; return the root (*layer* itself for the empty path)."""
    if not path:
        return layer
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent), name, layer)
    return root


def _resized(old, path: str, values: dict):
    """A new layer of *old*'s type and settings with the shapes of *values*."""
    from torch import nn

    kind = type(old)
    if kind in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        c_out, c_in = np.shape(values["weight"])[:2]
        require(old.groups == 1 or c_out == 1, f"layer {path!r}", "keep its shape (a grouped "
                "conv changes shape only to one output channel)", (c_out, c_in))
        new = kind(c_in, c_out, old.kernel_size, stride=old.stride, padding=old.padding,
                   dilation=old.dilation, bias=old.bias is not None,
                   padding_mode=old.padding_mode)
    elif kind in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        new = kind(len(next(iter(values.values()))), eps=old.eps, momentum=old.momentum,
                   affine=old.affine, track_running_stats=old.track_running_stats)
        if old.num_batches_tracked is not None:
            new.num_batches_tracked = old.num_batches_tracked.clone()
    elif kind is nn.Linear:
        out, n_in = np.shape(values["weight"])
        new = nn.Linear(n_in, out, bias=old.bias is not None)
    else:
        raise ScaleDetectError(f"layer {path!r} must be a Conv, BatchNorm or Linear layer to "
                               f"change its shape; got {kind.__name__}")
    ref = next(iter(old.parameters()), None)
    ref = ref if ref is not None else next(iter(old.buffers()))
    return new.to(dtype=ref.dtype, device=ref.device).train(old.training)


register_backend(Backend("a PyTorch module (scaledetect.deep)", is_module, read, rebuild))
