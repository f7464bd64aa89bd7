"""Scale-detection tasks: feature configurations, labels, the class-balanced distribution, images.

Two features (points, stripes or Gaussian blobs) sit in a 1D or 2D image; the label says whether
they lie in the same block of side ``xi`` (``block``) or closer than ``xi`` (``distance``).
See ``TaskSpec``.
"""

from .configs import MAX_PAIRS, class_counts, enumerate_configs, sample_positions
from .labels import canonical, labels
from .render import Batch, amplitude, render, sample
from .spec import TaskSpec
from .split import train_test

__all__ = [
    "MAX_PAIRS",
    "Batch",
    "TaskSpec",
    "amplitude",
    "canonical",
    "class_counts",
    "enumerate_configs",
    "labels",
    "render",
    "sample",
    "sample_positions",
    "train_test",
]
