"""Perturbations: the ``shift`` and max-entropy diffeomorphisms, and norm-matched Gaussian noise.

See ``Perturbation``.
"""

from .diffeo import diffeo, maxent_deform, temperature
from .maxent import (
    GAUSSIAN_SIGMA,
    default_temperature,
    deform,
    displacement_rms,
    maxent_field,
    temperature_range,
    typical_displacement,
)
from .noise import corrupt, corruption_std, matched_eta, matched_noise, noise_sigma
from .shift import shift, shift_acceptance, shift_outcomes, steps
from .spec import Perturbation

__all__ = [
    "GAUSSIAN_SIGMA",
    "Perturbation",
    "corrupt",
    "corruption_std",
    "default_temperature",
    "deform",
    "diffeo",
    "displacement_rms",
    "matched_eta",
    "matched_noise",
    "maxent_deform",
    "maxent_field",
    "noise_sigma",
    "shift",
    "shift_acceptance",
    "shift_outcomes",
    "steps",
    "temperature",
    "temperature_range",
    "typical_displacement",
]
