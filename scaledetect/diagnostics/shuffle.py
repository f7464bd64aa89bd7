"""Channel shuffling: keep every filter's spatial pattern, destroy the learned channel wiring.

In every convolution weight ``W [C_out, C_in, F[, F]]`` (one seeded permutation per layer):

- mode 1: ``W'[o, i] = W[o, p(i)]`` -- each unit o keeps its filters, but the input channel a
  filter reads is scrambled: the learned combination of channels (channel pooling) is lost,
  each filter's spatial structure (spatial pooling) is kept;
- mode 2: also ``W'[o] = W'[q(o)]`` (output axis), and a unit carries with it everything that
  belongs to its channel: its bias and, for PyTorch models, the batch-norm parameters and
  running statistics of the normalization that follows it. Each unit therefore computes the
  same function of its (rewired) inputs as in mode 1 and the layer's output is a channel
  permutation of it (so the layer's own D and G are unchanged); the difference to mode 1 is the
  wiring into the next layer and into the head (whose input channels are scrambled too).

Filters whose input axis has one channel (the first layer, ``C_in = 1``; depthwise convolutions)
are unchanged by mode 1; a net with one channel everywhere is unchanged by both modes. Fully
connected weights (2-D) are never shuffled. Where shuffled and original D_k agree, a layer's
invariance comes from spatial pooling; where shuffling raises D_k, from channel pooling.
"""

import copy

import numpy as np

from .._random import as_rng
from ..errors import ScaleDetectError, require, require_choice

MODES = (0, 1, 2)
_NORM_STATS = ("weight", "bias", "running_mean", "running_var")


def permutations(shapes: list[tuple], mode: int,
                 rng: np.random.Generator | int | None = 0) -> list[tuple]:
    """The permutations of every conv layer: ``[(p_in, p_out or None), ...]``.

    Drawn layer by layer, input axis first then (mode 2) output axis, from one generator: the
    same seed gives the same permutations.
    """
    require_choice("mode", mode, MODES)
    gen = as_rng(rng)
    out = []
    for shape in shapes:
        if mode == 0:
            out.append((np.arange(shape[1]), None))
            continue
        p_in = gen.permutation(shape[1])
        out.append((p_in, gen.permutation(shape[0]) if mode == 2 else None))
    return out


def shuffle_weight(w: np.ndarray, p_in: np.ndarray, p_out: np.ndarray | None) -> np.ndarray:
    """``W[p_out][:, p_in]`` for ``W [C_out, C_in, F...]`` (a new array)."""
    w = np.asarray(w)[:, p_in]
    return w if p_out is None else w[p_out]


def _is_conv(key: str, a: np.ndarray) -> bool:
    return key.endswith("weight") and np.ndim(a) >= 3


def _prefix(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else ""


def _followers(keys: list[str], state: dict, conv_key: str) -> list[str]:
    """Per-channel arrays that travel with a conv's output channels in mode 2.

    The conv's own ``bias``, and the normalization registered right after it (the next module
    in state-dict order, if it has ``running_mean``): its weight, bias and running statistics.
    """
    prefix, c_out = _prefix(conv_key), np.shape(state[conv_key])[0]
    out = [k for k in keys if _prefix(k) == prefix and k.endswith("bias")]
    later = [k for k in keys[keys.index(conv_key) + 1:] if _prefix(k) != prefix]
    if later:
        nxt = _prefix(later[0])
        mods = {k.rsplit(".", 1)[-1]: k for k in later if _prefix(k) == nxt}
        if "running_mean" in mods:
            out += [mods[s] for s in _NORM_STATS
                    if s in mods and np.shape(state[mods[s]]) == (c_out,)]
    return out


def shuffle_state_dict(state: dict, mode: int,
                       rng: np.random.Generator | int | None = 0) -> dict:
    """Channel-shuffled copy of a state dict of numpy arrays (a PyTorch module's, in its order).

    Parameters
    ----------
    state : dict of str -> ndarray
        In registration order (as ``module.state_dict()`` gives it). Conv weights are the
        ``*weight`` arrays with 3 or more dimensions.
    mode : int
        0 (copy), 1 (input axis) or 2 (input and output axes; biases and the following batch
        norm move with their channel).
    rng : Generator, int or None

    Returns
    -------
    dict of str -> ndarray
        Same keys, order, shapes and dtypes.
    """
    require(isinstance(state, dict), "state", "be a dict of arrays", type(state).__name__)
    keys = list(state)
    convs = [k for k in keys if _is_conv(k, state[k])]
    perms = permutations([np.shape(state[k]) for k in convs], mode, rng)
    out = {k: np.array(v, copy=True) for k, v in state.items()}
    for key, (p_in, p_out) in zip(convs, perms, strict=True):
        out[key] = shuffle_weight(state[key], p_in, p_out)
        if p_out is not None:
            for f in _followers(keys, state, key):
                out[f] = np.asarray(state[f])[p_out]
    return out


def _shuffle_cnn(model, mode: int, rng):
    from ..nn.model import CNN

    spec = model.spec
    model._sync()
    keys = [f"conv{k}.weight" for k in range(1, spec.depth + 1)]
    perms = permutations([model.params[k].shape for k in keys], mode, rng)
    params = {k: np.array(v, copy=True) for k, v in model.params.items()}
    for k, (key, (p_in, p_out)) in enumerate(zip(keys, perms, strict=True), start=1):
        params[key] = shuffle_weight(model.params[key], p_in, p_out)
        if p_out is not None and spec.bias:
            params[f"conv{k}.bias"] = model.params[f"conv{k}.bias"][p_out]
    return CNN(spec, params, dtype=model.dtype)


def _shuffle_module(module, mode: int, rng):
    """A deep copy of a PyTorch module (CPU) with shuffled conv weights, written in place."""
    new = copy.deepcopy(module)
    sd = new.state_dict()
    bad = [k for k, t in sd.items() if t.device.type != "cpu"]
    require(not bad, "module", "be on the CPU to shuffle its channels", f"{bad[0]} on "
            f"{sd[bad[0]].device}" if bad else "")
    state = {k: t.numpy() for k, t in sd.items()}
    for k, a in shuffle_state_dict(state, mode, rng).items():
        state[k][...] = a  # the numpy views share the copy's storage
    return new


def shuffle_channels(model, mode: int, rng: np.random.Generator | int | None = 0):
    """Channel-shuffled copy of a model (see the module docstring for what is permuted).

    Parameters
    ----------
    model : CNN, torch.nn.Module or dict of arrays
        A numba ``CNN`` (conv weights and biases), a PyTorch module on the CPU (its state
        dict: conv weights and, in mode 2, biases and following batch norms), or a state dict
        of numpy arrays.
    mode : int
        0 (unchanged copy), 1 (input-channel axis) or 2 (input and output axes).
    rng : Generator, int or None
        Seed of the permutations (one per layer, input axis first).

    Returns
    -------
    The same kind of object, the original untouched.

    Examples
    --------
    >>> from scaledetect import NetSpec, init_cnn
    >>> net = init_cnn(NetSpec(dim=1, size=16, depth=3, width=4), rng=0)
    >>> shuffled = shuffle_channels(net, 1, rng=0)
    """
    require_choice("mode", mode, MODES)
    if isinstance(model, dict):
        return shuffle_state_dict(model, mode, rng)
    if hasattr(model, "spec") and hasattr(model, "params"):
        return _shuffle_cnn(model, mode, rng)
    if hasattr(model, "state_dict") and hasattr(model, "named_modules"):
        return _shuffle_module(model, mode, rng)
    raise ScaleDetectError("model must be a CNN, a torch.nn.Module or a dict of arrays; "
                           f"got model={type(model).__name__}")
