"""The simple CNN family (circular, NTK-scaled convolutions) in PyTorch, from a numba ``CNN``.

``SimpleCNN.from_cnn(model)`` computes exactly what ``scaledetect.nn.CNN`` computes, with
PyTorch: layer k = 1..K::

    f_k = gain * phi(conv(f_{k-1}, W_k) / sqrt(C_{k-1} F^dim) + b_k),   f_0 = x

with circular padding aligned at 0 (the input wrapped on the right by F - s along every axis, so
unit u sees inputs s u .. s u + F - 1 mod N_{k-1}), then the global mean g over positions and
the readout ``alpha * (b + c * beta . g)``, c = 1/sqrt(C) (``ntk``) or 1/C (``mf``).
Each layer is the module ``layers.{k-1}`` whose output is the post-activation f_k, so forward
hooks see the same representations as ``CNN.forward(x, layers=True)``.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as tnf

from ..errors import require
from ..nn.model import CNN
from ..nn.spec import NetSpec


def torch_activation(spec: NetSpec):
    """``z -> phi(z)`` in PyTorch for the activation of *spec* (its record's ``torch`` function of
    ``torch.nn.functional`` with ``torch_kwargs``; the identity where it names none).
    """
    act = spec.activation
    if act.torch is None:
        return lambda z: z
    fn, kwargs = getattr(tnf, act.torch), act.torch_kwargs()
    return lambda z: fn(z, **kwargs)


class CircularConv(nn.Module):
    """One layer ``gain * phi(conv_circ(x, W) / sqrt(C_in F^dim) + b)``.

    Parameters ``weight`` ``(C_out, C_in, F[, F])`` (raw, N(0, 1) at initialization) and
    ``bias`` ``(C_out,)`` (if any), as in the numba model.
    """

    def __init__(self, spec: NetSpec, c_in: int):
        super().__init__()
        f, d = spec.filter, spec.dim
        self.weight = nn.Parameter(torch.zeros((spec.width, c_in) + (f,) * d))
        self.bias = nn.Parameter(torch.zeros(spec.width)) if spec.bias else None
        self.scale = 1.0 / float(np.sqrt(c_in * f**d))
        self.pad = (0, f - spec.stride) * d if f > spec.stride else None
        self.stride, self.gain, self.act = spec.stride, spec.gain, spec.act
        self._phi = torch_activation(spec)
        self._conv = tnf.conv1d if d == 1 else tnf.conv2d

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        if self.pad is not None:
            x = tnf.pad(x, self.pad, mode="circular")
        z = self._conv(x, self.weight * self.scale, self.bias, stride=self.stride)
        return self.gain * self._phi(z)


class SimpleCNN(nn.Module):
    """``spec.depth`` ``CircularConv`` layers, global mean, readout; output ``(n,)``."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList(CircularConv(spec, 1 if k == 0 else spec.width)
                                    for k in range(spec.depth))
        self.readout_weight = nn.Parameter(torch.zeros(spec.width))
        self.readout_bias = nn.Parameter(torch.zeros(1))
        self.c = spec.width ** -0.5 if spec.param == "ntk" else 1.0 / spec.width

    def forward(self, x):
        """Output for input ``x`` (see the class docstring)."""
        for layer in self.layers:
            x = layer(x)
        g = x.mean(dim=tuple(range(2, 2 + self.spec.dim)))
        return self.spec.alpha * (self.readout_bias + self.c * (g @ self.readout_weight))

    @classmethod
    def from_cnn(cls, model: CNN) -> "SimpleCNN":
        """The PyTorch twin of a numba ``CNN`` (same weights, same dtype)."""
        require(isinstance(model, CNN), "model", "be a scaledetect.nn.CNN", type(model).__name__)
        net = cls(model.spec).to(torch.float64 if model.dtype == np.float64 else torch.float32)
        with torch.no_grad():
            for k, layer in enumerate(net.layers, start=1):
                layer.weight.copy_(torch.from_numpy(model.params[f"conv{k}.weight"].copy()))
                if layer.bias is not None:
                    layer.bias.copy_(torch.from_numpy(model.params[f"conv{k}.bias"].copy()))
            net.readout_weight.copy_(torch.from_numpy(model.params["readout.weight"].copy()))
            net.readout_bias.copy_(torch.from_numpy(model.params["readout.bias"].copy()))
        return net

    def to_cnn(self) -> CNN:
        """The numba ``CNN`` with this module's weights (inverse of ``from_cnn``)."""
        params = {"readout.weight": self.readout_weight, "readout.bias": self.readout_bias}
        for k, layer in enumerate(self.layers, start=1):
            params[f"conv{k}.weight"] = layer.weight
            if layer.bias is not None:
                params[f"conv{k}.bias"] = layer.bias
        arrays = {k: v.detach().cpu().numpy().copy() for k, v in params.items()}
        return CNN(self.spec, arrays, dtype=arrays["readout.weight"].dtype)
