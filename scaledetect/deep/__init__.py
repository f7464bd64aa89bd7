"""Standard deep CNNs on the tasks (PyTorch backend, optional).

Importing it (``import scaledetect`` does) does not import torch; each submodule that needs
torch imports it itself: ``archs`` (architectures), ``simple`` (the simple CNN family in
PyTorch), ``train`` (training), ``io`` (``.npz`` state dicts; ``is_arch_model`` works without
torch), ``layers`` (every node of a module's forward pass measured: ``measure_module``; imports
torch lazily), ``weights`` (PyTorch modules under the weights protocol of
``scaledetect.diagnostics``, registered on import; imports torch lazily).
"""

from . import weights  # noqa: F401  (registers PyTorch modules with scaledetect.diagnostics)
from .layers import ModuleSource, measure_module

__all__ = ["ModuleSource", "measure_module"]
