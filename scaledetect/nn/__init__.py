"""CNNs in numba: circular strided convolutions, training, persistence.

Importing it registers the ``CNN`` with ``scaledetect.diagnostics`` (``nn.weights``).
"""

from . import weights  # noqa: F401  (registers the CNN with scaledetect.diagnostics)
from .io import load_model, save_model
from .losses import Loss, hinge, logistic
from .model import CNN, init_cnn, param_shapes
from .pooling import pooling_net
from .spec import NetSpec
from .train import TrainResult, TrainSpec, recipe_net, train

__all__ = ["CNN", "Loss", "NetSpec", "TrainResult", "TrainSpec", "hinge", "init_cnn",
           "load_model", "logistic", "param_shapes", "pooling_net", "recipe_net", "save_model",
           "train"]
