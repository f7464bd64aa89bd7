"""One training loop for every model: a stepper protocol, stopping rules, one history shape.

Layering: above ``perturb`` (it reads ``errors``, ``io``, ``perturb``), below ``nn`` and
``deep``, which provide the steppers (``nn.stepper.CNNStepper``, ``deep.stepper.TorchStepper``).

- ``Stepper``: what a model offers the loop (a mini-batch step at a given learning rate,
  evaluation, model and state as arrays);
- ``run_loop`` with a ``LoopSpec``: epochs, stopping rules and continuation, learning-rate
  schedule, best-epoch selection, records, versioned checkpoints and bit-identical resume, a
  locked output folder;
- ``TrainData``: the arrays, and the training noise keyed by (seed, epoch);
- ``EpochRecord`` and ``TrainHistory``: the history, with its JSON writer and reader.
"""

from .checkpoint import FORMAT as CHECKPOINT_FORMAT
from .checkpoint import VERSION as CHECKPOINT_VERSION
from .data import TrainData, noise_seed
from .folder import RunFolder
from .history import SELECTIONS, STOP_REASONS, EpochRecord, TrainHistory
from .loop import CHECKPOINT, SCHEDULES, STOPS, LoopResult, LoopSpec, run_loop
from .stepper import Stepper

__all__ = ["CHECKPOINT", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "SCHEDULES", "SELECTIONS",
           "STOPS", "STOP_REASONS", "EpochRecord", "LoopResult", "LoopSpec", "RunFolder",
           "Stepper", "TrainData", "TrainHistory", "noise_seed", "run_loop"]
