"""Layer sources: anything that yields a network's layer representations for ``measure``.

The estimator is written once (``measure``); what differs between a numba ``CNN``, a PyTorch
module (``scaledetect.deep.ModuleSource``, through ``torch.fx`` or forward hooks) and a user's
function is only how the representations of a batch of images are obtained. That is the
``LayerSource`` protocol:

==================  =====================================================================
``representations``  ``(x) -> list`` of L arrays, one per layer, first dimension n
``labels``           L layer labels, ``(0, 1, ..., L - 2, "out")``
``names``            L names (e.g. module paths ``features.3``) or None
``depths``           L relative depths in [0, 1] or None
``input_shape``      ``(C, N[, N])`` the source takes, or None (unchecked)
``config``           dict merged into the result's ``config`` (what the network is)
==================  =====================================================================

A source may also have ``fork()``, returning an independent copy that another thread can use
at the same time (``CNNSource`` copies the model); without it, threads take turns.

An array of shape ``(n, C, N_k[, N_k])`` (three or more dimensions) has a channel axis, which
``channel_mean`` averages; ``(n,)`` and ``(n, d)`` arrays are taken as they are.
"""

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ScaleDetectError, require


@runtime_checkable
class LayerSource(Protocol):
    """What ``measure`` needs from a network (see the module docstring)."""

    labels: tuple
    names: tuple | None
    depths: tuple | None
    input_shape: tuple | None
    config: dict

    def representations(self, x: np.ndarray) -> list:
        """Every layer of the network on the images *x* ``(n, C, N[, N])``."""
        ...


def flatten(layers: Sequence, n: int, channel_mean: bool = False) -> list:
    """Flatten raw layer arrays to ``(n, d_k)``, averaging the channel axis first if asked.

    Parameters
    ----------
    layers : sequence of arrays
        Each with first dimension n; arrays with ``ndim >= 3`` are ``(n, C, ...)``.
    n : int
        Batch size.
    channel_mean : bool
        Replace ``(n, C, ...)`` by its mean over axis 1.

    Returns
    -------
    list of ``(n, d_k)`` arrays (views where possible, dtype kept)
    """
    out = []
    for k, f in enumerate(layers):
        f = np.asarray(f)
        require(f.ndim >= 1 and f.shape[0] == n, f"layer {k} representation",
                f"have first dimension n={n}", f.shape)
        if channel_mean and f.ndim >= 3:
            f = f.mean(axis=1)
        out.append(f.reshape(n, -1))
    return out


def default_labels(L: int) -> tuple:
    """``(0, 1, ..., L - 2, "out")``: the last representation is the network output."""
    return tuple(range(L - 1)) + ("out",)


def relative_depths(L: int) -> tuple:
    """``index / (L - 1)`` for L layers (0 for a single one)."""
    return tuple(i / (L - 1) if L > 1 else 0.0 for i in range(L))


class CNNSource:
    """A numba ``CNN`` (or anything with ``spec`` and ``forward(x, layers=True)``).

    Layers ``f_0 = x, f_1, ..., f_K`` (post-activation) and the output; labels
    ``(0, ..., K, "out")``, no names or depths (the JSON keeps its classic keys).
    """

    def __init__(self, model):
        spec = model.spec
        self.model = model
        self.spec = spec
        self.labels = default_labels(spec.depth + 2)
        self.names = None
        self.depths = None
        self.input_shape = (1,) + (spec.size,) * spec.dim
        self.config = {"net": spec.to_dict()}

    def representations(self, x: np.ndarray) -> list:
        """``[f_0 (n, 1, N[, N]), f_1 (n, C, N_1[, N_1]), ..., out (n,)]``.

        The model's own ``representations`` when it has one (``PoolingNet``: f_0 is *x* itself,
        not a copy in the model dtype), else ``forward(x, layers=True)``.
        """
        own = getattr(self.model, "representations", None)
        return own(x) if callable(own) else self.model.forward(x, layers=True)

    def fork(self) -> "CNNSource | None":
        """A source on an independent copy of the model (the numba CNN keeps per-model buffers,
        so two threads need two models), or None when the model has no ``copy``.
        """
        copy = getattr(self.model, "copy", None)
        return CNNSource(copy()) if callable(copy) else None

    def dims(self, channel_mean: bool) -> list[int]:
        """Flattened sizes d_k of f_0 .. f_K and the output (no forward pass needed)."""
        spec = self.spec
        dims = []
        for k, n in enumerate(spec.sizes):
            c = 1 if (k == 0 or channel_mean) else spec.width
            dims.append(c * n**spec.dim)
        return dims + [1]


class CallableSource:
    """A user's function ``fn(x) -> [f_0, ..., f_out]`` as a layer source.

    Parameters
    ----------
    fn : callable
        Images ``(n, C, N[, N])`` float32 -> list of arrays with first dimension n; the last
        is the network output. The same number of arrays on every call.
    names : sequence of str, optional
        One name per array.
    depths : sequence of float, optional
        Relative depths in [0, 1]; default ``index / (L - 1)`` when *names* is given.
    input_shape : tuple, optional
        ``(C, N[, N])``, checked against the probe images.
    """

    def __init__(self, fn: Callable, names: Sequence[str] | None = None,
                 depths: Sequence[float] | None = None, input_shape: tuple | None = None):
        require(callable(fn), "fn", "be callable", type(fn).__name__)
        self.fn = fn
        self.names = None if names is None else tuple(str(s) for s in names)
        if depths is None and self.names is not None:
            depths = relative_depths(len(self.names))
        if depths is not None:
            depths = tuple(float(d) for d in depths)
            require(all(0.0 <= d <= 1.0 for d in depths), "depths", "lie in [0, 1]", depths)
        self.depths = depths
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.labels = None if self.names is None else default_labels(len(self.names))
        self.config = {"source": getattr(fn, "__name__", type(fn).__name__)}

    def representations(self, x: np.ndarray) -> list:
        """``fn(x)`` as a list; fixes ``labels`` on the first call."""
        layers = list(self.fn(x))
        require(len(layers) >= 1, "fn(x)", "return at least one array", len(layers))
        if self.labels is None:
            self.labels = default_labels(len(layers))
        require(len(layers) == len(self.labels), "fn(x)",
                f"return {len(self.labels)} arrays (one per layer) on every call", len(layers))
        return layers


def as_source(model) -> LayerSource:
    """Wrap *model* as a ``LayerSource``: a source as is, a CNN, or a plain callable."""
    if isinstance(model, LayerSource):
        return model
    if hasattr(model, "spec") and hasattr(model, "forward"):
        return CNNSource(model)
    if callable(model):
        return CallableSource(model)
    raise ScaleDetectError("model must be a CNN, a LayerSource or a callable x -> list of layers; "
                           f"got model={type(model).__name__}")
