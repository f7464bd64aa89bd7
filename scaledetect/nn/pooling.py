"""The idealized pooling net: a ``CNN`` whose forward is numpy window sums (``nn.windows``).

``pooling_net(spec)`` is the public constructor. Its forward pools with ``windows.sum_windows``
(the window geometry the theory reads too, ``windows.window_index``) instead of the general
convolution kernel, several times faster at large N.
"""

import numpy as np

from ..errors import require
from .model import CNN, DTYPES, param_shapes
from .spec import NetSpec
from .windows import sum_windows

# output entries per chunk of images of a layer (float64: 1 MB, stays in cache between the window
# sums, the scaling and the activation)
_POOL_CHUNK = 1 << 17


class PoolingNet(CNN):
    """The idealized pooling net with a vectorized numpy forward (``pooling_net``).

    Same parameters, spec and results as the ``CNN`` it extends (up to float rounding); its
    ``forward`` pools each axis with strided sums instead of running the general one-channel
    convolution kernel, which is several times faster at large N. If the conv weights or the
    readout were changed from the pooling values, ``forward`` falls back to ``CNN.forward``.
    """

    def _pooling_weights(self) -> list | None:
        """Per-layer filter weight ``w / sqrt(F^dim)`` if every tap is equal, else None."""
        self._sync()
        ws = []
        for k in range(1, self.spec.depth + 1):
            w = self.params[f"conv{k}.weight"]
            if not np.all(w == w.flat[0]):
                return None
            ws.append(self.dtype.type(w.flat[0]) * self._fgeo[k - 1, 0])
        return ws

    def forward(self, x, layers: bool = False):
        """See ``CNN.forward``."""
        if self._pooling_weights() is None:
            return super().forward(x, layers)
        if not layers:
            return self.representations(x)[-1]
        reps = self.representations(x)
        reps[0] = self._input(reps[0]).reshape(reps[0].shape)  # the model dtype, a fresh array
        return reps

    def representations(self, x) -> list:
        """``forward(x, layers=True)`` without the copy of the input: ``f_0`` is *x* itself.

        Parameters
        ----------
        x : array_like, shape (n, 1, N) or (n, 1, N, N)

        Returns
        -------
        list
            ``[f_0, f_1, ..., f_K, out]``: ``f_0 = x`` as given when it is contiguous and the
            model dtype holds it exactly (float32 images, float64 model: the same values as the
            model-dtype copy ``forward`` returns), the rest as in ``forward``. The first
            pooling reads *x* in its own dtype and adds in the model dtype (exact for float32
            images in a float64 model: no copy of the batch).
        """
        ws = self._pooling_weights()
        if ws is None:
            return super().forward(x, layers=True)
        f = self._images(x)
        reps = [f]
        for k in range(1, self.spec.depth + 1):
            f = self._layer(f, k, ws[k - 1])
            reps.append(f)
        alpha, cro, inv = self._ro
        rw, rb = self.params["readout.weight"][0], self.params["readout.bias"][0]
        g = f.reshape(len(f), -1).sum(1) * inv
        out = (alpha * (rb + cro * rw * g)).astype(self.dtype)
        return reps + [out]

    def _layer(self, f: np.ndarray, k: int, w) -> np.ndarray:
        """Layer k of images *f* ``(n, 1, N_{k-1}[, N_{k-1}])``: ``gain * phi(w * window sums)``,
        chunk by chunk of images (each chunk stays in cache between its passes).
        """
        spec = self.spec
        n_out = spec.sizes[k]
        z = np.empty((len(f),) + (n_out,) * spec.dim, self.dtype)
        step = max(1, _POOL_CHUNK // n_out**spec.dim)
        for lo in range(0, len(f), step):
            out = sum_windows(f[lo:lo + step, 0], spec, k, z[lo:lo + step])
            out *= w
            spec.activation.phi(out, out=out)
            if spec.gain != 1.0:
                out *= self.dtype.type(spec.gain)
        return z[:, None]

    def _images(self, x) -> np.ndarray:
        """*x* checked as ``_input`` does, ``(n, 1, N[, N])``: kept (not copied) when the model
        dtype holds its values exactly (float32 or float64 images in a float64 model).
        """
        x = np.asarray(x)
        shape = (1,) + (self.spec.size,) * self.spec.dim
        exact = x.dtype in DTYPES and np.can_cast(x.dtype, self.dtype, "safe")  # f32 -> f64
        if exact and x.ndim == len(shape) + 1 and x.shape[1:] == shape and len(x):
            return np.ascontiguousarray(x)
        return self._input(x).reshape((-1,) + shape)  # converts, or raises naming the shape


def pooling_net(spec: NetSpec, dtype=np.float64) -> PoolingNet:
    """The idealized pooling net of *spec*: every effective filter weight 1/F^dim, no bias.

    Parameters
    ----------
    spec : NetSpec
        Must have ``width == 1`` and ``bias == False`` (``net_from_args(..., pooling=True)``).
    dtype : float32 or float64

    Returns
    -------
    PoolingNet
        A ``CNN`` whose forward is a vectorized average pooling.

    Notes
    -----
    Stored weights are ``F^(-dim/2)``, so the forward's ``W / sqrt(1 * F^dim)`` is ``1/F^dim``
    (average pooling); readout weight 1 and bias 0, so ``out = alpha * c * mean(f_K)`` with c = 1.
    """
    require(isinstance(spec, NetSpec), "spec", "be a NetSpec", spec)
    require(spec.width == 1, "width", "be 1 for the pooling net", spec.width)
    require(not spec.bias, "bias", "be False for the pooling net", spec.bias)
    w = float(spec.filter) ** (-spec.dim / 2)
    params = {}
    for name, shape in param_shapes(spec).items():
        if name == "readout.bias":
            params[name] = np.zeros(shape)
        elif name == "readout.weight":
            params[name] = np.ones(shape)
        else:
            params[name] = np.full(shape, w)
    return PoolingNet(spec, params, dtype=dtype)
