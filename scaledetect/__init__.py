"""scaledetect: how CNNs lose spatial information with training — tasks, numba CNNs, theory."""

from .errors import ScaleDetectError
from .nn.spec import NetSpec
from .perturb.spec import Perturbation
from .sensitivity.result import Sensitivities
from .tasks.spec import TaskSpec

__version__ = "0.1.0"

__all__ = ["NetSpec", "Perturbation", "ScaleDetectError", "Sensitivities", "TaskSpec"]
