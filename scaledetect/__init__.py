"""scaledetect: how CNNs lose spatial information with training — tasks, numba CNNs, theory.

The pipeline, one subpackage per step: ``tasks`` (data) -> ``perturb`` (diffeos, noise) ->
``nn`` (CNNs, training) -> ``sensitivity`` (D_k, G_k, R_k) -> ``theory`` (closed forms);
``experiments`` and ``plots`` reproduce the figures. The names below are the public API.
"""

from . import deep  # noqa: F401  (no torch import; registers PyTorch modules with diagnostics)
from .errors import ScaleDetectError
from .nn import CNN, NetSpec, TrainSpec, init_cnn, load_model, pooling_net, save_model, train
from .perturb import Perturbation, diffeo, matched_noise, shift
from .sensitivity import Sensitivities, measure
from .tasks import TaskSpec, enumerate_configs, labels, render, sample
from .theory import nngp, predict

__version__ = "0.1.0"

__all__ = ["CNN", "NetSpec", "Perturbation", "ScaleDetectError", "Sensitivities", "TaskSpec",
           "TrainSpec", "diffeo", "enumerate_configs", "init_cnn", "labels", "load_model",
           "matched_noise", "measure", "nngp", "pooling_net", "predict", "render", "sample",
           "save_model", "shift", "train"]
