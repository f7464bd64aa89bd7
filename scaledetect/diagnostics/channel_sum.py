"""Channel-summed nets: every conv layer reduced to one channel carrying the summed filter.

A net whose channels all carried the same signal would compute, in each layer, the filter
``sum over input channels`` of its effective filters, the same for every output channel. The
channel-summed net keeps only that filter, averaged over the output channels (the "mean-field
weights" of the paper's code): it keeps each layer's spatial pooling and drops what the channels
do differently (channel pooling). Where its sensitivities D_k match the trained net's, the
invariance comes from spatial pooling.

Conventions (one rule for every backend)
----------------------------------------
- conv weight ``W (C_out, C_in, F[, F])`` -> ``(1, 1, F[, F])``: the sum over input channels,
  the mean over output channels, ``w = (1/C_out) sum_{c, c'} W_{c c'}``. This is the plain sum
  over both axes divided by C_out, chosen so that batch-norm statistics and biases, which are
  per output channel, are averaged (not summed) consistently: the one-channel net then computes
  exactly the (common) channel of a net whose channels are all equal.
- biases, batch-norm running mean and variance, and the batch-norm affine weight and bias: the
  mean over channels.
- numba ``CNN``: the forward divides the raw weight by ``sqrt(C_in F^dim)``, so the stored
  one-channel weight is ``(1/C_out) sum W / sqrt(C_in)``. The readout ``alpha (b + c beta . g)``
  (``c = 1/C`` or ``1/sqrt(C)``) becomes ``alpha (b + c sum(beta) g)`` on the one channel g.
- PyTorch modules (``scaledetect.deep``): every ``Conv1d/2d`` (depthwise ones included) and
  ``BatchNorm1d/2d`` is replaced as above; the first ``Linear`` layer, which reads the flattened
  last conv channels, sums its weight over those channels; later linear layers are unchanged.
"""

import numpy as np

from ..errors import ScaleDetectError
from ..nn.model import CNN, param_shapes
from ..nn.spec import NetSpec


def channel_sum(model):
    """The channel-summed (one-channel) version of *model*.

    Parameters
    ----------
    model : CNN or torch.nn.Module
        A numba ``CNN``, or a PyTorch module of ``scaledetect.deep`` (an architecture of
        ``deep.archs.build`` or the PyTorch twin ``SimpleCNN`` of a numba net).

    Returns
    -------
    CNN or torch.nn.Module
        A new model of the same kind with one channel per layer (the input is not modified).
        A one-channel net is returned unchanged (a copy).

    Raises
    ------
    ScaleDetectError
        If *model* is neither.
    """
    if isinstance(model, CNN):
        return _cnn_channel_sum(model)
    if callable(getattr(model, "state_dict", None)):
        from ..deep.channel_sum import module_channel_sum

        return module_channel_sum(model)
    raise ScaleDetectError("model must be a scaledetect CNN or a PyTorch module; got "
                           f"{type(model).__name__}")


def summed_filter(weight: np.ndarray) -> np.ndarray:
    """Conv weight ``(C_out, C_in, F...)`` -> ``(1, 1, F...)``: ``sum_{c, c'} W_{c c'} / C_out``."""
    w = np.asarray(weight, dtype=np.float64)
    return w.sum(axis=1, keepdims=True).mean(axis=0, keepdims=True)


def _cnn_channel_sum(model: CNN) -> CNN:
    """One-channel numba CNN (see the module docstring for the scaling)."""
    spec = model.spec
    one = NetSpec(**{**spec.to_dict(), "width": 1})
    params = {}
    cin = 1
    for k in range(1, spec.depth + 1):
        w = model.params[f"conv{k}.weight"]
        params[f"conv{k}.weight"] = summed_filter(w) / np.sqrt(cin)
        if spec.bias:
            params[f"conv{k}.bias"] = np.mean(model.params[f"conv{k}.bias"], dtype=np.float64,
                                              keepdims=True)
        cin = spec.width
    c = 1.0 / np.sqrt(spec.width) if spec.param == "ntk" else 1.0 / spec.width
    beta = model.params["readout.weight"].astype(np.float64)
    params["readout.weight"] = np.array([c * beta.sum()])
    params["readout.bias"] = model.params["readout.bias"].astype(np.float64)
    assert {k: v.shape for k, v in params.items()} == param_shapes(one)
    return CNN(one, {k: v.astype(model.dtype) for k, v in params.items()}, dtype=model.dtype)
