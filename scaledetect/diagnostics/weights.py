"""The weights protocol: what the diagnostics read from a model, and how they rebuild one.

Channel shuffling, channel sums and filter spectra are rules on plain numpy arrays. A *backend*
adapts one kind of model to them: ``read`` gives its ``Weights`` (every conv layer's weight
``(C_out, C_in, F[, F])`` and bias, the batch norm that follows it, the readout), ``rebuild`` makes
a new model of the same kind from changed arrays (shapes may shrink, to one channel for the channel
sum). Backends register themselves (``register_backend``): the numba ``CNN`` when ``scaledetect.nn``
is imported, PyTorch modules when ``scaledetect.deep`` is (both on ``import scaledetect``, which
imports no torch). State dicts (mappings name -> array, in PyTorch's naming and order) are built
in. This module imports no backend.

State-dict conventions (``state_dict_weights``)
-----------------------------------------------
- a conv weight is an entry ``<module>.weight`` (or ``weight``) with 3 or more dimensions, in the
  mapping's order (a module's ``state_dict()`` lists modules in registration order, the order of
  the forward pass for sequential nets); its bias is ``<module>.bias`` of shape ``(C_out,)``;
- its batch norm is the next module in that order (the next prefix) if it has a ``running_mean``:
  those of its ``weight``, ``bias``, ``running_mean``, ``running_var`` that have shape ``(C_out,)``;
- the readout is the first entry ``<module>.weight`` with 2 dimensions after a conv weight
  (a linear layer ``(out, C S)`` reading the flattened ``(C, S)`` output of the last conv before
  it, channel-major as ``torch.flatten`` gives it).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import ScaleDetectError

NORM_STATS = ("weight", "bias", "running_mean", "running_var")


@dataclass(frozen=True, eq=False)
class ConvWeights:
    """One conv layer, as the diagnostics see it.

    Attributes
    ----------
    name : str
        The module's name (``conv3``, ``features.4``; ``""`` for a bare conv).
    weight : ndarray ``(C_out, C_in, F[, F])``
        As stored (the raw parameter, in the model's dtype).
    bias : ndarray ``(C_out,)`` or None
    norm_name : str or None
        The batch norm right after the conv, if any.
    norm : dict of str -> ndarray ``(C_out,)``
        Its per-channel arrays (keys among ``NORM_STATS``); empty without one.
    in_divisor : float
        The forward pass divides the weight by ``in_divisor`` (the factor that depends on the
        number of input channels, others aside): ``sqrt(C_in)`` for the numba CNN, 1 for
        ``torch.nn.Conv*``. It is 1 for one input channel.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None = None
    norm_name: str | None = None
    norm: dict = field(default_factory=dict)
    in_divisor: float = 1.0


@dataclass(frozen=True, eq=False)
class ReadoutWeights:
    """The layer that reads the last conv layer's channels.

    Attributes
    ----------
    name : str
    weight : ndarray ``(out, C S)``
        Reads the ``C`` channels at ``S`` positions (or pooled features, ``S = 1``),
        channel-major: column ``c S + j`` is channel c, position j.
    bias : ndarray ``(out,)`` or None
    channels : int
        C.
    scale : float
        The forward pass multiplies the weight by ``scale``: ``1/sqrt(C)`` or ``1/C`` for the
        numba CNN's readout, 1 for ``torch.nn.Linear``; 1 for one channel.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    channels: int
    scale: float = 1.0


@dataclass(frozen=True, eq=False)
class Weights:
    """Every conv layer (in forward order) and the readout (None if the model has none)."""

    convs: tuple
    readout: ReadoutWeights | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array under its state-dict key (``<name>.weight``, ``<norm>.running_var``...)."""
        out = {}
        for c in self.convs:
            out[_join(c.name, "weight")] = c.weight
            if c.bias is not None:
                out[_join(c.name, "bias")] = c.bias
            out.update({_join(c.norm_name, s): a for s, a in c.norm.items()})
        if self.readout is not None:
            out[_join(self.readout.name, "weight")] = self.readout.weight
            if self.readout.bias is not None:
                out[_join(self.readout.name, "bias")] = self.readout.bias
        return out


@dataclass(frozen=True)
class Backend:
    """How one kind of model meets the diagnostics.

    Attributes
    ----------
    what : str
        The kind of model, for error messages (``"a scaledetect CNN"``).
    accepts : callable model -> bool
    read : callable model -> Weights
        Arrays may be read-only views of the model's storage: rules never write into them.
    rebuild : callable (model, Weights) -> model
        A new model of the same kind carrying the given arrays; the original is untouched.
    """

    what: str
    accepts: Callable
    read: Callable
    rebuild: Callable


_BACKENDS: list[Backend] = []


def register_backend(backend: Backend) -> None:
    """Make *backend* serve every model it accepts (replacing one of the same ``what``)."""
    _BACKENDS[:] = [b for b in _BACKENDS if b.what != backend.what] + [backend]


def backend_of(model) -> Backend:
    """The registered backend that accepts *model*.

    Raises
    ------
    ScaleDetectError
        Naming the kinds accepted, if none accepts *model*.
    """
    for b in _BACKENDS:
        if b.accepts(model):
            return b
    raise ScaleDetectError(f"model must be {' or '.join(b.what for b in _BACKENDS)}; got "
                           f"model={type(model).__name__}")


def read_weights(model) -> Weights:
    """``Weights`` of *model* through its backend (see ``backend_of``)."""
    return backend_of(model).read(model)


def rebuild(model, weights: Weights):
    """A new model of *model*'s kind carrying *weights* (see ``backend_of``)."""
    return backend_of(model).rebuild(model, weights)


def readonly(a) -> np.ndarray:
    """A read-only numpy view of *a* (the storage stays writable through *a* itself)."""
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v


def _prefix(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else ""


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _join(prefix: str, leaf: str) -> str:
    return f"{prefix}.{leaf}" if prefix else leaf


def _conv(keys: list[str], arrays: dict, i: int) -> ConvWeights:
    """The conv of ``keys[i]`` with its bias and the batch norm after it (module docstring)."""
    name, w = _prefix(keys[i]), arrays[keys[i]]
    c_out = w.shape[0]
    bias = arrays.get(_join(name, "bias"))
    later = [k for k in keys[i + 1:] if _prefix(k) != name]
    norm_name, norm = None, {}
    if later:
        nxt = _prefix(later[0])
        mods = {_leaf(k): k for k in later if _prefix(k) == nxt}
        if "running_mean" in mods:
            norm_name = nxt
            norm = {s: arrays[mods[s]] for s in NORM_STATS
                    if s in mods and arrays[mods[s]].shape == (c_out,)}
    ok = bias is not None and bias.shape == (c_out,)
    return ConvWeights(name, w, bias if ok else None, norm_name, norm)


def state_dict_weights(state: Mapping) -> Weights:
    """``Weights`` of a state dict (name -> array, in registration order; module docstring).

    Parameters
    ----------
    state : mapping str -> array_like

    Returns
    -------
    Weights
        Read-only views of the arrays; ``in_divisor`` and ``scale`` are 1 (``torch.nn``'s
        parameterization).
    """
    keys = list(state)
    arrays = {k: readonly(v) for k, v in state.items()}
    convs, readout = [], None
    for i, key in enumerate(keys):
        a = arrays[key]
        if _leaf(key) != "weight":
            continue
        if a.ndim >= 3:
            convs.append(_conv(keys, arrays, i))
        elif a.ndim == 2 and convs and readout is None:
            name = _prefix(key)
            readout = ReadoutWeights(name, a, arrays.get(_join(name, "bias")),
                                     channels=convs[-1].weight.shape[0])
    return Weights(tuple(convs), readout)


def _state_rebuild(state: Mapping, weights: Weights) -> dict:
    """A copy of *state* (same keys and order) with the arrays of *weights* written in."""
    new = weights.arrays()
    extra = [k for k in new if k not in state]
    if extra:
        raise ScaleDetectError(f"weights must name entries of the state dict; got {extra}")
    return {k: np.array(new.get(k, v), copy=True) for k, v in state.items()}


register_backend(Backend("a mapping name -> array (a state dict)",
                         lambda m: isinstance(m, Mapping), state_dict_weights, _state_rebuild))
