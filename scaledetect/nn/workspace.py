"""Buffers of the CNN's kernels: the layer table and activations of one batch size, and a cache.

A ``Workspace`` lays out, for a batch of n samples, every buffer the network kernels
(``scaledetect._kernels.conv``) write: the activations of every layer, the im2col matrices, the
pooled features and outputs, and (allocated on first use) the backward pass's buffers. A
``WorkspaceCache`` keeps a model's recent workspaces so that repeated batches do not reallocate.
"""

from collections import OrderedDict

import numpy as np

from .._kernels.conv import G_OUTOFF, N_GEO
from .spec import NetSpec

# buffers kept between calls (per model): at most 8 workspaces and this many bytes (the most
# recent one is always kept, so repeated passes over a large probe set do not reallocate)
CACHE_MAX_BYTES = 1 << 28
CACHE_MAX_ENTRIES = 8


class Workspace:
    """Buffers and layer table of one batch size n (see ``scaledetect._kernels.conv``).

    Parameters
    ----------
    spec : NetSpec
    offsets : dict of str -> (int, tuple)
        Offset in ``theta`` and shape of every parameter (``CNN``'s storage order).
    n : int
        Batch size.
    dtype : numpy dtype
    train : bool
        False (forward only, one part per layer) keeps one im2col buffer for all layers instead
        of one per layer (the backward pass needs them all).

    Attributes
    ----------
    n : int
    geo : ndarray (K, N_GEO) int64
        Per layer: channels, sides, filter, stride, parameter offsets, buffer offsets.
    acts, cols : ndarray
        Every layer's output (layer k at ``geo[k-1, G_OUTOFF]``; then, for an activation whose
        derivative needs it, every layer's pre-activation z in the same layout), im2col
        matrices.
    pooled : ndarray (n, C)
    out : ndarray (n,)
    """

    def __init__(self, spec: NetSpec, offsets: dict, n: int, dtype: np.dtype, train: bool = True):
        self.n = n
        self.geo, a_size, c_size, cols, reps = _layer_table(spec, offsets, n, train)
        # activations whose phi' needs z keep it after the outputs (same layout)
        self.acts = np.empty(a_size * (2 if spec.activation.stores_preactivation else 1), dtype)
        self.cols = np.empty(c_size if train else cols, dtype)
        self.pooled = np.empty((n, spec.width), dtype)
        self.out = np.empty(n, dtype)
        self._bwd_sizes = (cols, reps)
        self._bwd = None

    @property
    def nbytes(self) -> int:
        """Bytes held (forward buffers, and backward ones once allocated)."""
        extra = sum(a.nbytes for a in self._bwd) if self._bwd is not None else 0
        return self.acts.nbytes + self.cols.nbytes + extra

    def backward_buffers(self):
        """``(dcols, ga, gb, gc)``, allocated on first use."""
        if self._bwd is None:
            cols, reps = self._bwd_sizes
            dt = self.acts.dtype
            self._bwd = (np.empty(cols, dt),) + tuple(np.empty(reps, dt) for _ in range(3))
        return self._bwd


def _layer_table(spec: NetSpec, offsets: dict, n: int, train: bool):
    """``(geo, acts size, cols size, largest im2col, largest representation)`` of a batch of n."""
    d, f, s = spec.dim, spec.filter, spec.stride
    sizes = spec.sizes
    fh, sh = (f, s) if d == 2 else (1, 1)
    geo = np.zeros((spec.depth, N_GEO), dtype=np.int64)
    a_off = c_off = 0
    cols = reps = 0
    for k in range(1, spec.depth + 1):
        cin = 1 if k == 1 else spec.width
        nin, nout = sizes[k - 1], sizes[k]
        hin, hout = (nin, nout) if d == 2 else (1, 1)
        qout = n * hout * nout
        kk = cin * fh * f
        in_off = -1 if k == 1 else geo[k - 2, G_OUTOFF]
        size_out = spec.width * qout
        geo[k - 1] = (cin, spec.width, hin, nin, hout, nout, fh, f, sh, s,
                      offsets[f"conv{k}.weight"][0],
                      offsets[f"conv{k}.bias"][0] if spec.bias else -1,
                      in_off, a_off, c_off)
        a_off += size_out
        c_off += kk * qout if train else 0
        cols = max(cols, kk * qout)
        reps = max(reps, size_out, cin * n * hin * nin)
    return geo, a_off, c_off, cols, reps


class WorkspaceCache:
    """A model's workspaces by ``(n, train, part)``, least recently used dropped first.

    Keeps at most ``CACHE_MAX_ENTRIES`` workspaces and ``CACHE_MAX_BYTES`` bytes, and always the
    most recent one. ``part`` tells apart the buffers of threads running at once (chunks of a
    forward pass).
    """

    def __init__(self, spec: NetSpec, offsets: dict, dtype: np.dtype):
        self._args = (spec, offsets)
        self._dtype = dtype
        self._entries: OrderedDict[tuple, Workspace] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, n: int, train: bool = True, part: int = 0) -> Workspace:
        """The workspace of a batch of *n* (made, and the oldest dropped, if need be)."""
        key = (n, train, part)
        ws = self._entries.get(key)
        if ws is not None:
            self._entries.move_to_end(key)
            return ws
        ws = Workspace(*self._args, n, self._dtype, train)
        entries = self._entries
        entries[key] = ws
        while len(entries) > 1 and (len(entries) > CACHE_MAX_ENTRIES or sum(
                w.nbytes for w in entries.values()) > CACHE_MAX_BYTES):
            entries.popitem(last=False)
        return ws
