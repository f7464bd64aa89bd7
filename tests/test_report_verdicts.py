"""Report verdicts: Student-t intervals over seeds, and only seeds that learned count."""

import math

import pytest

from scaledetect.experiments.report import math_html
from scaledetect.experiments.stats import interval, verdict
from scaledetect.studies.trained import g_claim


def test_interval_is_student_t():
    # values 1, 2, 3: mean 2, s.d. 1, t_{0.975, 2} = 4.3027 -> half-width 4.3027 / sqrt(3)
    mean, lo, hi, n = interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert hi - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert interval([0.4])[1:3] == (-math.inf, math.inf)  # one seed: nothing to conclude


def test_verdict_needs_the_whole_interval():
    assert verdict(0.1, 0.5) == "yes" and verdict(-0.5, -0.1) == "no"
    assert verdict(-0.1, 0.5) == "inconclusive" and verdict(-math.inf, math.inf) == "inconclusive"


def _finding(g_trained, learned):
    return {"learned": learned, "G_trained": g_trained}


def test_a_seed_that_did_not_learn_is_not_evidence():
    # The case: tanh 0.11 +- 0.25 from 2 seeds, one of which never learned. With only
    # one learned tanh seed the comparison with ReLU has no interval: inconclusive, and the
    # evidence says 1/2 tanh seeds learned.
    relu = _finding([0.9, 1.0, 1.1], [True] * 3)
    tanh = _finding([0.36, -0.14], [True, False])
    g = g_claim(relu, tanh)
    assert g.verdict == "inconclusive"
    assert "1/2 tanh seeds learned" in g.evidence and "3/3 relu seeds learned" in g.evidence
    # with learned tanh seeds clearly below ReLU the claim holds
    assert g_claim(relu, _finding([0.10, 0.0, 0.05], [True] * 3)).verdict == "yes"
    # and it fails when ReLU's G_K/G_1 is not above 1 (log10 below 0)
    assert g_claim(_finding([-0.9, -1.0, -1.1], [True] * 3), None).verdict == "no"


def test_math_html():
    assert math_html("V_k ~ s^(e k)") == "V<sub>k</sub> ∝ s<sup>e k</sup>"
    assert math_html("n_train <= 3 +- 1, xi") == "n_train ≤ 3 ± 1, ξ"
