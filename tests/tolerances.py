"""The tolerance policy of the suite, and the shared comparisons that apply it.

Exact where exact (sympy Rationals vs enumeration); 1e-10 kernels vs reference in float64;
finite differences 1e-6; two exact computations of the same sensitivities in a different
summation order: 1e-12 relative (``SAME_SUMS_RTOL``).

Monte Carlo against an exact value (or two independent estimates):

* **One check**: ``|estimate - exact| <= 3 s.e.`` (two-sided false-alarm rate 0.27%).
* **A family of checks** (one test function looping over layers and quantities, or one
  parametrized test over many configurations: every check runs on a fixed seed, so the family
  is one draw of many correlated or independent z-scores): with m checks at 3 s.e. the chance
  that *some* check fails although every value is right grows like ``1 - 0.9973^m`` (48% for
  m = 240, the size of ``tests/test_theory.py``'s Monte Carlo family), so a reshuffled random
  stream (a new seed, another order of draws) would turn the suite red by chance. A family of
  m checks therefore uses ``family_nsigma(m)``: the Bonferroni bound that keeps the family-wise
  false-alarm rate at or below ``FAMILY_ALPHA`` = 1%, ``z_m = Phi^-1(1 - FAMILY_ALPHA / (2 m))``
  (3.29 for m = 10, 3.89 for m = 100, 4.10 for m = 240), never below 3. Bonferroni holds
  whatever the correlation between the checks (the layers of one Monte Carlo share probes);
  it is conservative when they are correlated.
* A test that asserts a *difference* (e.g. two predictions that must be told apart) states its
  size in standard errors as well: at least twice the agreement threshold, so that agreement
  and difference cannot both be satisfied by chance.

Trained-network claims (tests/test_science.py) are asserted on fixed seeds with thresholds
placed outside the seed-to-seed spread measured over 8 seeds (stated next to each assert).
"""

import numpy as np
from scipy.special import ndtri

#: Two float64 evaluations of the same exact sums in a different order.
SAME_SUMS_RTOL = 1e-12
#: Standard errors allowed for one Monte Carlo check.
NSIGMA = 3.0
#: Family-wise false-alarm rate of a family of Monte Carlo checks.
FAMILY_ALPHA = 0.01


def family_nsigma(m: int, alpha: float = FAMILY_ALPHA) -> float:
    """Standard errors allowed to each of *m* checks of one family (Bonferroni, two-sided).

    ``P(any |Z_i| > z) <= m P(|Z| > z) = alpha`` for ``z = Phi^-1(1 - alpha / (2 m))``, whatever
    the correlation of the Z_i; at least ``NSIGMA``.
    """
    if m < 1:
        raise ValueError(f"m must be >= 1; got m={m}")
    return max(NSIGMA, float(ndtri(1.0 - alpha / (2.0 * m))))


def assert_same_sensitivities(a, b, rtol: float = SAME_SUMS_RTOL) -> None:
    """D, G, R of *a* equal *b*'s to *rtol*, with the same exact zeros and the same undefined
    (nan/inf) layers."""
    for name in ("D", "G", "R"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(np.isfinite(x), np.isfinite(y)), name
        assert np.array_equal(x == 0, y == 0), name
        ok = np.isfinite(y) & (y != 0)
        np.testing.assert_allclose(x[ok], y[ok], rtol=rtol, atol=0, err_msg=name)
