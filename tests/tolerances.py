"""Shared comparisons with the tolerance policy of the suite.

Exact where exact (sympy Rationals vs enumeration), 1e-10 kernels vs reference in float64,
finite differences 1e-6, Monte Carlo vs theory 3 standard errors; two exact computations of the
same sensitivities in a different summation order: 1e-12 relative.
"""

import numpy as np

#: Two float64 evaluations of the same exact sums in a different order.
SAME_SUMS_RTOL = 1e-12


def assert_same_sensitivities(a, b, rtol: float = SAME_SUMS_RTOL) -> None:
    """D, G, R of *a* equal *b*'s to *rtol*, with the same exact zeros and the same undefined
    (nan/inf) layers."""
    for name in ("D", "G", "R"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(np.isfinite(x), np.isfinite(y)), name
        assert np.array_equal(x == 0, y == 0), name
        ok = np.isfinite(y) & (y != 0)
        np.testing.assert_allclose(x[ok], y[ok], rtol=rtol, atol=0, err_msg=name)
