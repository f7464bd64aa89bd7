"""Classification losses of the model output ``out`` (alpha already inside it) and label ``y``.

A loss is a callable ``loss(out, y) -> (values, d values / d out)``, both of shape ``(n,)``; this
is what ``CNN.value_and_grad`` consumes. ``hinge(alpha)`` and ``logistic(alpha)`` build them.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import require, require_choice

LOSSES = ("hinge", "logistic")


@dataclass(frozen=True)
class Loss:
    """A margin loss ``(1/alpha) l(y out)`` of the network output.

    Attributes
    ----------
    name : str
        ``hinge``: ``l(m) = relu(1 - m)``; ``logistic``: ``l(m) = log(1 + exp(-m))``.
    alpha : float
        The output scale of the net (``NetSpec.alpha``), > 0.

    Notes
    -----
    With the margin ``m = y out`` and ``out = alpha * (b + beta . g * c)`` the loss is
    ``(1/alpha) l(m)``: a large alpha is the lazy regime, a small one the
    feature-learning regime. The derivatives with respect to ``out`` are

    - hinge: ``-(y/alpha) [m < 1]`` (the subgradient 0 is taken at the kink ``m = 1``, as PyTorch);
    - logistic: ``-(y/alpha) sigmoid(-m)``.

    The logistic value is computed as ``logaddexp(0, -m)`` and the sigmoid in a sign-split form,
    so neither overflows for any finite margin.

    """

    name: str = "hinge"
    alpha: float = 1.0

    def __post_init__(self):
        require_choice("loss", self.name, LOSSES)
        require(np.isfinite(self.alpha) and self.alpha > 0, "alpha", "be a finite number > 0",
                self.alpha)

    def __call__(self, out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample values and derivatives with respect to ``out``.

        Parameters
        ----------
        out : ndarray, shape (n,)
            Model outputs (float32 or float64; the results have the same dtype).
        y : ndarray, shape (n,)
            Labels in {+1, -1}.

        Returns
        -------
        values, dout : ndarray, shape (n,)
            ``(1/alpha) l(y out)`` and its derivative with respect to ``out``.

        """
        out = np.asarray(out)
        dtype = out.dtype if np.issubdtype(out.dtype, np.floating) else np.dtype(np.float64)
        out = out.astype(dtype, copy=False)
        y = np.asarray(y).astype(dtype)
        require(out.shape == y.shape and out.ndim == 1, "y", "have the shape (n,) of out",
                y.shape, f"out shape {out.shape}")
        inv = dtype.type(1.0 / self.alpha)
        m = y * out
        if self.name == "hinge":
            values = inv * np.maximum(dtype.type(1) - m, dtype.type(0))
            dout = np.where(m < 1, -y * inv, dtype.type(0)).astype(dtype)
        else:
            values = inv * np.logaddexp(dtype.type(0), -m)
            dout = -y * inv * _sigmoid(-m)
        return values.astype(dtype, copy=False), dout.astype(dtype, copy=False)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Overflow-free ``1 / (1 + exp(-z))``."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def hinge(alpha: float = 1.0) -> Loss:
    """Hinge loss ``(1/alpha) relu(1 - y out)``; see ``Loss``."""
    return Loss("hinge", alpha)


def logistic(alpha: float = 1.0) -> Loss:
    """Logistic loss ``(1/alpha) log(1 + exp(-y out))``; see ``Loss``."""
    return Loss("logistic", alpha)


def make_loss(name: str, alpha: float) -> Loss:
    """Return the loss called *name* (``hinge`` or ``logistic``) for output scale *alpha*."""
    return Loss(name, alpha)
