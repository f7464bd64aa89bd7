"""Spatial vs channel pooling diagnostics for numba CNNs and PyTorch nets alike.

``shuffle``: channel shuffling (keep each filter's spatial pattern, scramble the channels).
``spectrum``: filter spectra on the grid-Laplacian modes of the filter support.
``channel_sum``: the one-channel net of channel-summed filters.
``filters``: the share of a layer's filter norm on average pooling (``uniform_share``).

Each rule is written once, on the plain arrays of the weights protocol (``weights``): a backend
reads a model's conv weights, biases, batch norms and readout and rebuilds a model from new ones.
The numba ``CNN`` registers its backend when ``scaledetect.nn`` is imported, PyTorch modules when
``scaledetect.deep`` is; this package imports neither.
"""

from .channel_sum import channel_sum, channel_sum_weights, summed_filter
from .filters import uniform_share
from .shuffle import MODES as SHUFFLE_MODES
from .shuffle import shuffle_channels, shuffle_state_dict, shuffle_weights
from .spectrum import LayerSpectrum, filter_power, grid_modes, path_modes, spectra
from .weights import (
    Backend,
    ConvWeights,
    ReadoutWeights,
    Weights,
    read_weights,
    rebuild,
    register_backend,
    state_dict_weights,
)

__all__ = [
    "SHUFFLE_MODES",
    "Backend",
    "ConvWeights",
    "LayerSpectrum",
    "ReadoutWeights",
    "Weights",
    "channel_sum",
    "channel_sum_weights",
    "filter_power",
    "grid_modes",
    "path_modes",
    "read_weights",
    "rebuild",
    "register_backend",
    "shuffle_channels",
    "shuffle_state_dict",
    "shuffle_weights",
    "spectra",
    "state_dict_weights",
    "summed_filter",
    "uniform_share",
]
