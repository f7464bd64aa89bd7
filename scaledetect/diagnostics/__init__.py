"""Spatial vs channel pooling diagnostics for numba CNNs and PyTorch nets alike.

``shuffle``: channel shuffling (keep each filter's spatial pattern, scramble the channels).
"""

from .shuffle import MODES as SHUFFLE_MODES
from .shuffle import shuffle_channels, shuffle_state_dict

__all__ = [
    "SHUFFLE_MODES",
    "shuffle_channels",
    "shuffle_state_dict",
]
