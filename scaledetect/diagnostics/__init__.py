"""Spatial vs channel pooling diagnostics for numba CNNs and PyTorch nets alike.

``shuffle``: channel shuffling (keep each filter's spatial pattern, scramble the channels).
``spectrum``: filter spectra on the grid-Laplacian modes of the filter support.
``channel_sum``: the one-channel net of channel-summed filters.
"""

from .channel_sum import channel_sum, summed_filter
from .shuffle import MODES as SHUFFLE_MODES
from .shuffle import shuffle_channels, shuffle_state_dict
from .spectrum import LayerSpectrum, filter_power, grid_modes, path_modes, spectra

__all__ = [
    "SHUFFLE_MODES",
    "LayerSpectrum",
    "channel_sum",
    "filter_power",
    "grid_modes",
    "path_modes",
    "shuffle_channels",
    "shuffle_state_dict",
    "spectra",
    "summed_filter",
]
