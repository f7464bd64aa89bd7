"""The numba CNN as a ``training.Stepper``: SGD with momentum and L1/L2 weight decay.

Plain SGD with L2 or no decay takes the step inside the engine's backward pass
(``CNN.sgd_step``); momentum or L1 decay go through the gradient (``CNN.value_and_grad``):
``g <- grad + lambda p |W|^(p-1) sign(W)`` on the conv weights, ``v <- mu v + g``,
``theta <- theta - eta v`` (PyTorch's heavy-ball form).
"""

import os

import numpy as np

from ..errors import ScaleDetectError
from .io import save_model
from .model import CNN, param_shapes


class CNNStepper:
    """Train a ``CNN`` in place.

    Parameters
    ----------
    model : CNN
        The model at initialization (updated in place; a copy is kept as ``init``).
    loss : callable
        ``loss(out, y) -> (values, d values / d out)`` (``nn.losses``).
    momentum : float
        mu in [0, 1).
    weight_decay : float
        lambda >= 0 of ``lambda sum |W|^p`` over the conv weights.
    wd_power : int
        p, 1 or 2.
    chunk : int
        Samples per evaluation forward pass.
    velocity : ndarray, optional
        The momentum buffer, laid out like ``model.theta`` (default zeros; used in place).
    dtype : numpy dtype, optional
        Of the arithmetic of the momentum path (default ``model.dtype``).
    """

    name = "numba-cnn"

    def __init__(self, model, loss, momentum: float = 0.0, weight_decay: float = 0.0,
                 wd_power: int = 2, chunk: int = 4096, velocity=None, dtype=None):
        self.model, self.loss, self.chunk = model, loss, chunk
        self.init = model.copy()
        self.momentum, self.weight_decay, self.wd_power = momentum, weight_decay, wd_power
        self.velocity = np.zeros_like(model.theta) if velocity is None else velocity
        self.dtype = np.dtype(model.dtype if dtype is None else dtype)
        self.plain = momentum == 0 and (weight_decay == 0 or wd_power == 2)
        self._decay = _decay_mask(model) if weight_decay > 0 and not self.plain else None
        self._finite = True

    def step(self, x, y, lr: float) -> None:
        """One SGD step on ``(x, y)`` at learning rate *lr*."""
        if self.plain:  # the engine steps in its backward pass
            values = self.model.sgd_step(x, y, self.loss, lr, self.weight_decay)[0]
        else:
            values = self._momentum_step(x, y, lr)
        self._finite = self._finite and bool(np.isfinite(values).all())

    def _momentum_step(self, x, y, lr: float):
        t = self.dtype.type
        theta = self.model.theta
        values, _, g = self.model.value_and_grad(x, y, self.loss, flat=True)
        if self._decay is not None:
            if self.wd_power == 2:
                g += t(2 * self.weight_decay) * (self._decay * theta)
            else:
                g += t(self.weight_decay) * (self._decay * np.sign(theta))
        if self.momentum > 0:
            self.velocity *= t(self.momentum)
            self.velocity += g
            g = self.velocity
        theta -= t(lr) * g
        return values

    def epoch_finite(self) -> bool:
        """Whether every mini-batch loss since the last call and every parameter now are
        finite; resets.
        """
        ok, self._finite = self._finite, True
        return ok and bool(np.isfinite(self.model.theta).all())

    def evaluate(self, x, y) -> tuple[float, float]:
        """Mean loss and error fraction (``y out <= 0``, NaN counting as wrong)."""
        total, wrong = 0.0, 0
        for s in range(0, len(x), self.chunk):
            out = self.model.forward(x[s:s + self.chunk])
            values, _ = self.loss(out, y[s:s + self.chunk])
            total += float(np.sum(values, dtype=np.float64))
            wrong += int(np.count_nonzero(~(y[s:s + self.chunk] * out > 0)))
        return total / len(x), wrong / len(x)

    def init_arrays(self) -> dict:
        """Parameters at initialization."""
        return _arrays(self.init.theta, self.model.spec)

    def model_arrays(self) -> dict:
        """Current parameters (copies)."""
        return _arrays(self.model.theta, self.model.spec)

    def state_arrays(self) -> dict:
        """``model/``, ``init/`` and ``velocity/`` parameters."""
        spec = self.model.spec
        out = {}
        for prefix, flat in (("model", self.model.theta), ("init", self.init.theta),
                             ("velocity", self.velocity)):
            out.update({f"{prefix}/{k}": v for k, v in _arrays(flat, spec).items()})
        return out

    def load_state(self, arrays: dict) -> None:
        """Restore ``state_arrays()``, checking every array's shape and dtype."""
        spec, dtype = self.model.spec, self.model.theta.dtype
        for prefix, flat in (("model", self.model.theta), ("init", self.init.theta),
                             ("velocity", self.velocity)):
            views = _arrays(flat, spec, copy=False)
            for k, view in views.items():
                a = arrays.get(f"{prefix}/{k}")
                if a is None or a.shape != view.shape or a.dtype != dtype:
                    raise ScaleDetectError(f"checkpoint array {prefix}/{k} missing or malformed "
                                           f"(want shape {view.shape}, dtype {dtype}); delete "
                                           "the checkpoint to start afresh")
                view[...] = a

    def extras(self) -> dict:
        """The penalty ``lambda sum |W|^p`` and each layer's relative weight change."""
        return {"penalty": penalty(self.model.params, self.weight_decay, self.wd_power),
                "weight_change": weight_change(self.model.params, self.init.params,
                                               self.model.spec.depth)}

    def write_model(self, path: str | os.PathLike, arrays: dict) -> None:
        """``nn.io.save_model`` of the CNN with parameters *arrays*."""
        save_model(path, CNN(self.model.spec, arrays, dtype=self.model.dtype))


def _arrays(flat: np.ndarray, spec, copy: bool = True) -> dict:
    """``{name: array}`` of the flat parameter vector *flat* (laid out like ``CNN.theta``)."""
    out, o = {}, 0
    for name, shape in param_shapes(spec).items():
        size = int(np.prod(shape))
        v = flat[o:o + size].reshape(shape)
        out[name] = v.copy() if copy else v
        o += size
    return out


def _decay_mask(model) -> np.ndarray:
    """1 on the conv weights of ``model.theta``, 0 elsewhere (biases, readout)."""
    mask = model.copy()
    mask.theta[:] = 0
    for k, v in mask.params.items():
        if k.startswith("conv") and k.endswith(".weight"):
            v[...] = 1
    return mask.theta


def penalty(params: dict, wd: float, p: int) -> float:
    """``wd * sum_k sum |W_k|^p`` over the conv weights."""
    s = sum(float(np.sum(np.abs(v.astype(np.float64)) ** p))
            for k, v in params.items() if k.startswith("conv") and k.endswith(".weight"))
    return wd * s


def weight_change(params: dict, params0: dict, depth: int) -> dict[str, float]:
    """``||w - w0||^2 / ||w0||^2`` of ``conv1.weight`` ... ``readout.weight``."""
    out = {}
    for name in [f"conv{k}" for k in range(1, depth + 1)] + ["readout"]:
        w = params[f"{name}.weight"].astype(np.float64)
        w0 = params0[f"{name}.weight"].astype(np.float64)
        den = float(np.sum(w0 ** 2))
        out[name] = float(np.sum((w - w0) ** 2)) / den if den > 0 else float("nan")
    return out
