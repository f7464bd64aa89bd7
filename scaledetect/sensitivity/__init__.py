"""Layer-wise relative sensitivities D_k, G_k, R_k to diffeomorphisms and noise.

``measure`` streams a probe set (task probes or a user's images) through any ``LayerSource``
(a numba CNN, a PyTorch module, a function) and returns a ``Sensitivities``; the
``mean`` estimator carries delta-method standard errors, the ``median`` one follows Petrini et
al. (2021).
"""

from .measure import ESTIMATORS, measure
from .median import median_numerator, median_pairwise_sq
from .probe import BLOCK
from .result import Sensitivities
from .source import CallableSource, CNNSource, LayerSource, as_source

__all__ = ["BLOCK", "ESTIMATORS", "CNNSource", "CallableSource", "LayerSource", "Sensitivities",
           "as_source", "measure", "median_numerator", "median_pairwise_sq"]
