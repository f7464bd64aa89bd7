"""Channel-summed nets: every conv layer reduced to one channel carrying the summed filter.

A net whose channels all carried the same signal would compute, in each layer, the filter
``sum over input channels`` of its effective filters, the same for every output channel. The
channel-summed net keeps only that filter, averaged over the output channels (the "mean-field
weights" of the paper's code): it keeps each layer's spatial pooling and drops what the channels
do differently (channel pooling). Where its sensitivities D_k match the trained net's, the
invariance comes from spatial pooling.

The rule (``channel_sum_weights``, one for every backend, on the ``Weights`` of
``diagnostics.weights``)
---------------------------------------------------------------------------------------------
- conv weight ``W (C_out, C_in, F[, F])`` -> ``(1, 1, F[, F])``: the sum over input channels,
  the mean over output channels, ``w = (1/C_out) sum_{c, c'} W_{c c'}``, divided by the conv's
  ``in_divisor`` (the forward's channel-dependent factor: ``sqrt(C_in)`` for the numba CNN, whose
  forward divides the raw weight by ``sqrt(C_in F^dim)``; 1 for PyTorch convs). The plain sum
  over both axes divided by C_out is chosen so that batch-norm statistics and biases, which are
  per output channel, are averaged (not summed) consistently: the one-channel net then computes
  exactly the (common) channel of a net whose channels are all equal.
- biases, batch-norm running mean and variance, and the batch-norm affine weight and bias: the
  mean over channels.
- the readout ``(out, C S)`` (the first linear layer after the convs; the numba CNN's
  ``alpha (b + c beta . g)``, ``c = 1/C`` or ``1/sqrt(C)``) -> ``(out, S)``: ``scale`` times the
  sum over the C channels (numba: ``alpha (b + c sum(beta) g)`` on the one channel g); its bias
  and later linear layers are unchanged.
Everything is computed in float64 and stored in the model's dtype.
"""

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from ..errors import require
from .weights import Weights, read_weights, rebuild


def summed_filter(weight: np.ndarray) -> np.ndarray:
    """Conv weight ``(C_out, C_in, F...)`` -> ``(1, 1, F...)``: ``sum_{c, c'} W_{c c'} / C_out``."""
    w = np.asarray(weight, dtype=np.float64)
    return w.sum(axis=1, keepdims=True).mean(axis=0, keepdims=True)


def channel_sum_weights(weights: Weights) -> Weights:
    """The rule on plain arrays (module docstring): one channel per conv, float64 arrays.

    Parameters
    ----------
    weights : Weights

    Returns
    -------
    Weights
        Conv weights ``(1, 1, F...)``, biases and batch-norm arrays ``(1,)``, ``in_divisor``
        1; the readout ``(out, S)`` reading one channel with ``scale`` 1.

    Raises
    ------
    ScaleDetectError
        If the readout's inputs are not a multiple of the channels of the last conv.
    """
    convs = []
    for c in weights.convs:
        bias = None if c.bias is None else np.mean(c.bias, dtype=np.float64, keepdims=True)
        norm = {s: np.mean(a, dtype=np.float64, keepdims=True) for s, a in c.norm.items()}
        convs.append(replace(c, weight=summed_filter(c.weight) / c.in_divisor, bias=bias,
                             norm=norm, in_divisor=1.0))
    r = weights.readout
    if r is not None:
        out, n_in = r.weight.shape
        require(n_in % r.channels == 0, f"readout {r.name!r}", f"read the {r.channels} channels "
                "of the last conv layer (inputs a multiple of them)", n_in)
        w = r.weight.astype(np.float64).reshape(out, r.channels, -1).sum(axis=1)
        r = replace(r, weight=r.scale * w, channels=1, scale=1.0)
    return Weights(tuple(convs), r)


def channel_sum(model):
    """The channel-summed (one-channel) version of *model*.

    Parameters
    ----------
    model : CNN or torch.nn.Module
        Any model with a registered weights backend that can change its shapes
        (``diagnostics.weights``): a numba ``CNN``, or a PyTorch module once ``scaledetect.deep``
        is imported (an architecture of ``deep.archs.build``, the PyTorch twin ``SimpleCNN`` of
        a numba net, any net of ``Conv``, ``BatchNorm`` and ``Linear`` layers).

    Returns
    -------
    CNN or torch.nn.Module
        A new model of the same kind with one channel per layer (the input is not modified).
        A one-channel net is returned unchanged (a copy).

    Raises
    ------
    ScaleDetectError
        If *model* is of no registered kind, or a state dict (it holds no forward pass whose
        scaling the sum could keep).
    """
    require(not isinstance(model, Mapping), "model", "be a model, not a state dict (its "
            "forward pass fixes how the summed weights scale)", type(model).__name__)
    return rebuild(model, channel_sum_weights(read_weights(model)))
