"""Report verdicts: Student-t intervals over seeds, and only seeds that learned count."""

import math

import pytest

from scaledetect.experiments.report import claims, interval, math_html, verdict


def test_interval_is_student_t():
    # values 1, 2, 3: mean 2, s.d. 1, t_{0.975, 2} = 4.3027 -> half-width 4.3027 / sqrt(3)
    mean, lo, hi, n = interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert hi - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert interval([0.4])[1:3] == (-math.inf, math.inf)  # one seed: nothing to conclude


def test_verdict_needs_the_whole_interval():
    assert verdict(0.1, 0.5) == "yes" and verdict(-0.5, -0.1) == "no"
    assert verdict(-0.1, 0.5) == "inconclusive" and verdict(-math.inf, math.inf) == "inconclusive"


def _finding(act, g_trained, learned):
    n = len(g_trained)
    return {"act": act, "learned": learned, "R_trained": [-1.0] * n, "R_init": [0.0] * n,
            "G_trained": g_trained, "G_init": [0.0] * n}


def test_a_seed_that_did_not_learn_is_not_evidence():
    # The case: tanh 0.11 +- 0.25 from 2 seeds, one of which never learned. With only
    # one learned tanh seed the comparison with ReLU has no interval: inconclusive, and the
    # evidence says 1/2 tanh seeds learned.
    relu = _finding("relu", [0.9, 1.0, 1.1], [True] * 3)
    tanh = _finding("tanh", [0.36, -0.14], [True, False])
    rows = claims([relu, tanh], {})
    g = next(r for r in rows if r[0].startswith("G_k"))
    assert g[1] == "inconclusive"
    assert "1/2 tanh seeds learned" in g[2] and "3/3 relu seeds learned" in g[2]
    # with learned tanh seeds clearly below ReLU the claim holds
    tanh = _finding("tanh", [0.10, 0.0, 0.05], [True] * 3)
    assert next(r for r in claims([relu, tanh], {}) if r[0].startswith("G_k"))[1] == "yes"


def test_math_html():
    assert math_html("V_k ~ s^(e k)") == "V<sub>k</sub> ∝ s<sup>e k</sup>"
    assert math_html("n_train <= 3 +- 1, xi") == "n_train ≤ 3 ± 1, ξ"
