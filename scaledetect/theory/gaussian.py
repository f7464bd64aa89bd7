"""Gaussian moments of ReLU and tanh units: the only integrals the theory needs.

Re-exported from ``scaledetect._gaussian`` (their home below every layer that uses them, so that
``scaledetect.activations`` can build each activation's noise model on them). Notation: X ~ N(m, v);
(X, Y) bivariate normal with means (m1, m2), variances (v1, v2) and covariance c.
"""

from .._gaussian import (
    arccos_kernel,
    bivariate_cdf,
    expect,
    expect2,
    hermite,
    pdf,
    relu_moments,
    relu_product,
)

__all__ = ["arccos_kernel", "bivariate_cdf", "expect", "expect2", "hermite", "pdf",
           "relu_moments", "relu_product"]
