"""Channel shuffling: keep every filter's spatial pattern, destroy the learned channel wiring.

In every convolution weight ``W [C_out, C_in, F[, F]]`` (one seeded permutation per layer):

- mode 1: ``W'[o, i] = W[o, p(i)]`` -- each unit o keeps its filters, but the input channel a
  filter reads is scrambled: the learned combination of channels (channel pooling) is lost,
  each filter's spatial structure (spatial pooling) is kept;
- mode 2: also ``W'[o] = W'[q(o)]`` (output axis), and a unit carries with it everything that
  belongs to its channel: its bias and the batch-norm parameters and running statistics of the
  normalization that follows it (PyTorch modules). Each unit therefore computes the same
  function of its (rewired) inputs as in mode 1 and the layer's output is a channel permutation
  of it (so the layer's own D and G are unchanged); the difference to mode 1 is the wiring into
  the next layer and into the head (whose input channels are scrambled too).

Filters whose input axis has one channel (the first layer, ``C_in = 1``; depthwise convolutions)
are unchanged by mode 1; a net with one channel everywhere is unchanged by both modes. The
readout is never shuffled. The rule (``shuffle_weights``) acts on the ``Weights`` of any model
(``diagnostics.weights``); where shuffled and original D_k agree, a layer's invariance comes from
spatial pooling; where shuffling raises D_k, from channel pooling.
"""

from dataclasses import replace

import numpy as np

from .._random import as_rng
from ..errors import require, require_choice
from .weights import Weights, read_weights, rebuild, state_dict_weights

MODES = (0, 1, 2)


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


def shuffle_weights(weights: Weights, mode: int,
                    rng: np.random.Generator | int | None = 0) -> Weights:
    """The rule on plain arrays: every conv weight shuffled (module docstring).

    Parameters
    ----------
    weights : Weights
    mode : int
        0 (copy), 1 (input axis) or 2 (input and output axes; the bias and the batch norm of a
        conv move with its output channels).
    rng : Generator, int or None
        Seed of the permutations (``permutations``: one per conv, input axis first).

    Returns
    -------
    Weights
        New arrays for every conv; the readout as given.
    """
    perms = permutations([c.weight.shape for c in weights.convs], mode, rng)
    convs = []
    for c, (p_in, p_out) in zip(weights.convs, perms, strict=True):
        w = shuffle_weight(c.weight, p_in, p_out)
        if p_out is None:
            convs.append(replace(c, weight=w))
        else:
            bias = None if c.bias is None else np.asarray(c.bias)[p_out]
            norm = {s: np.asarray(a)[p_out] for s, a in c.norm.items()}
            convs.append(replace(c, weight=w, bias=bias, norm=norm))
    return replace(weights, convs=tuple(convs))


def shuffle_state_dict(state: dict, mode: int,
                       rng: np.random.Generator | int | None = 0) -> dict:
    """Channel-shuffled copy of a state dict of numpy arrays (a PyTorch module's, in its order).

    Parameters
    ----------
    state : dict of str -> ndarray
        In registration order (as ``module.state_dict()`` gives it). Conv weights are the
        ``<module>.weight`` arrays with 3 or more dimensions (``diagnostics.weights``).
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
    return rebuild(state, shuffle_weights(state_dict_weights(state), mode, rng))


def shuffle_channels(model, mode: int, rng: np.random.Generator | int | None = 0):
    """Channel-shuffled copy of a model (see the module docstring for what is permuted).

    Parameters
    ----------
    model : CNN, torch.nn.Module or dict of arrays
        Any model with a registered weights backend (``diagnostics.weights``): a numba ``CNN``
        (conv weights and biases), a PyTorch module once ``scaledetect.deep`` is imported (conv
        weights and, in mode 2, biases and following batch norms), or a state dict of arrays.
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
    return rebuild(model, shuffle_weights(read_weights(model), mode, rng))
