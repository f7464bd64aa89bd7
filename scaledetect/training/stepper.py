"""The stepper protocol: what a model and its optimizer must offer the training loop.

The loop (``training.loop.run_loop``) owns epochs, mini-batch order, the learning-rate
schedule, stopping, records, model selection and checkpoints; a stepper owns the model, its
loss and its optimizer state. Two implement it: ``nn.stepper.CNNStepper`` (the numba CNN) and
``deep.stepper.TorchStepper`` (a PyTorch module).
"""

import os
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Stepper(Protocol):
    """A model being trained, seen by the loop.

    Attributes
    ----------
    name : str
        Names the kind of stepper in checkpoints (one kind cannot resume another's).
    """

    name: str

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One optimizer step on the mini-batch ``(x, y)`` at learning rate *lr*, in place."""

    def epoch_finite(self) -> bool:
        """Whether every mini-batch loss since the previous call (then reset) and every
        parameter now are finite.
        """

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean loss and error fraction of the current model on ``(x, y)``; no state changes."""

    def init_arrays(self) -> dict[str, np.ndarray]:
        """The model at initialization, as named arrays (what a model file holds)."""

    def model_arrays(self) -> dict[str, np.ndarray]:
        """The current model as named arrays (fresh copies)."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything resuming needs besides the loop's own state: the model, optimizer
        buffers, the model at initialization if it cannot be recomputed, internal random
        states (fresh copies).
        """

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore a ``state_arrays()`` result; a ``ScaleDetectError`` if it does not fit."""

    def extras(self) -> dict:
        """Per-record extras among ``EpochRecord``'s ``penalty`` and ``weight_change``
        (``{}`` if none).
        """

    def write_model(self, path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
        """Write the model given by *arrays* (from ``model_arrays``) as a model file."""
