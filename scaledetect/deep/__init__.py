"""Standard deep CNNs on the tasks (PyTorch backend, optional).

Nothing here is imported by ``import scaledetect``; each submodule that needs torch imports it
itself: ``archs`` (architectures), ``simple`` (the simple CNN family in PyTorch), ``train``
(training), ``io`` (``.npz`` state dicts; ``is_arch_model`` works without torch), ``layers``
(every node of a module's forward pass measured: ``measure_module``; imports torch lazily).
"""

from .layers import ModuleSource, measure_module

__all__ = ["ModuleSource", "measure_module"]
