"""The numba ``CNN`` under the weights protocol of ``scaledetect.diagnostics``.

Importing ``scaledetect.nn`` registers it. The CNN's layer k computes
``phi(conv(f_{k-1}, W_k) / sqrt(C_{k-1} F^dim) + b_k)`` and its output ``alpha (b + c beta . g)``
with ``c = 1/sqrt(C)`` (``ntk``) or ``1/C`` (``mf``): a conv's ``in_divisor`` is ``sqrt(C_in)``
(the ``F^dim`` part does not depend on channels) and the readout's ``scale`` is c, both 1 for one
channel. The readout weight ``beta (C,)`` is seen as ``(1, C)``: one output reading the C
channels of the global mean g. A ``PoolingNet`` is read like any CNN and rebuilt as a ``CNN``.
"""

import numpy as np

from ..diagnostics.weights import (
    Backend,
    ConvWeights,
    ReadoutWeights,
    Weights,
    readonly,
    register_backend,
)
from ..errors import require
from .model import CNN
from .spec import NetSpec


def conv_in_divisor(c_in: int) -> float:
    """``sqrt(C_in)``: the channel-dependent factor the forward divides a conv weight by."""
    return float(np.sqrt(c_in))


def readout_scale(spec: NetSpec) -> float:
    """The readout factor c: ``1/sqrt(C)`` (``ntk``) or ``1/C`` (``mf``)."""
    return float(1.0 / np.sqrt(spec.width) if spec.param == "ntk" else 1.0 / spec.width)


def read(model: CNN) -> Weights:
    """``Weights`` of a numba CNN: ``conv1`` ... ``convK`` and ``readout`` (read-only views)."""
    p = model.params
    convs = []
    for k in range(1, model.spec.depth + 1):
        w = readonly(p[f"conv{k}.weight"])
        bias = readonly(p[f"conv{k}.bias"]) if model.spec.bias else None
        convs.append(ConvWeights(f"conv{k}", w, bias, in_divisor=conv_in_divisor(w.shape[1])))
    readout = ReadoutWeights("readout", readonly(p["readout.weight"]).reshape(1, -1),
                             readonly(p["readout.bias"]), channels=model.spec.width,
                             scale=readout_scale(model.spec))
    return Weights(tuple(convs), readout)


def rebuild(model: CNN, weights: Weights) -> CNN:
    """A ``CNN`` of *model*'s spec (its width that of the new convs) and dtype with *weights*."""
    spec = model.spec
    require(len(weights.convs) == spec.depth and weights.readout is not None, "weights",
            f"hold {spec.depth} convs and a readout (the net's)", len(weights.convs))
    width = weights.convs[0].weight.shape[0]
    if width != spec.width:
        spec = NetSpec(**{**spec.to_dict(), "width": width})
    params = {}
    for k, c in enumerate(weights.convs, start=1):
        params[f"conv{k}.weight"] = c.weight
        if spec.bias:
            params[f"conv{k}.bias"] = c.bias
    params["readout.weight"] = np.reshape(weights.readout.weight, -1)
    params["readout.bias"] = weights.readout.bias
    # a missing array (None) is left out, for CNN to name the key it lacks
    return CNN(spec, {k: np.asarray(v).astype(model.dtype) for k, v in params.items()
                      if v is not None}, dtype=model.dtype)


register_backend(Backend("a scaledetect CNN", lambda m: isinstance(m, CNN), read, rebuild))
