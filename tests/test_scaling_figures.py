"""F13-F15 helpers: scaling windows, exponent fits, collapses, distances to theory, presets.

The fits are checked on exact power laws (where the fitted exponent must be the true one to
rounding), the distances and collapse layers on hand-made profiles with known answers. The
figures themselves are drawn on the tiny preset by tests/test_figures.py (one script each).
"""

import math

import numpy as np
import pytest

from scaledetect import ScaleDetectError, Sensitivities
from scaledetect.experiments import RunResult
from scaledetect.experiments.records import Profile
from scaledetect.experiments.scaling import (
    collapse,
    exponent_series,
    fit_exponent,
    scaling_depth,
    verdict,
    window,
)
from scaledetect.plots._trained import collapse_layer, log_distance
from scaledetect.studies import Results, plans
from scaledetect.studies.preset import pooling_spec
from scaledetect.studies.scaling import exponents
from scaledetect.tasks.spec import TaskSpec


def _sens(d, g, se=None):
    """Sensitivities with layers 0..K (+ out) holding D = d, G = g (relative s.e. *se*)."""
    d, g = np.append(np.asarray(d, float), np.nan), np.append(np.asarray(g, float), np.nan)
    err = (lambda v: None) if se is None else (lambda v: se * v)
    return Sensitivities(layers=(*range(len(d) - 1), "out"), D=d, G=g, R=d / g, D_se=err(d),
                         G_se=err(g), R_se=err(d / g))


def _geometry(dim, n, stride):
    geo = "strided" if stride == 2 else "unstrided"
    task = TaskSpec(dim=dim, size=n, rule="block", xi=n // 4)
    return task, pooling_spec(dim, n, scaling_depth(geo, n, dim), 2, stride)


def test_depths_and_windows():
    # strided: k* = log2(N/4), K = k* + 1; G over max(1, min(ceil(k*/2), k*-3)) .. k* - 2,
    # D over 1 .. max(2, k* - 4)
    task, net = _geometry(1, 16384, 2)
    assert net.depth == 13 and list(window(task, net, "G")) == [6, 7, 8, 9, 10]
    assert list(window(task, net, "D")) == list(range(1, 9))
    task, net = _geometry(1, 64, 2)
    assert net.depth == 5 and list(window(task, net, "G")) == list(window(task, net, "D")) == [1, 2]
    task, net = _geometry(2, 256, 2)
    assert net.depth == 7 and list(window(task, net, "G")) == [3, 4]
    assert list(window(task, net, "D")) == [1, 2]
    # unstrided: K = N / 4, second half of the layers
    task, net = _geometry(1, 256, 1)
    assert net.depth == 64 and list(window(task, net, "D")) == list(range(32, 65))
    with pytest.raises(ScaleDetectError, match="size"):
        scaling_depth("strided", 100)


def test_exponent_fit_recovers_exact_power_laws():
    task, net = _geometry(2, 256, 2)  # strided: D = 2^-k, G = 4^k -> exponents -1 and 2
    k = np.arange(net.depth + 1)
    sens = _sens(2.0 ** -k, 4.0 ** k)
    assert fit_exponent(task, net, sens, "D")[0] == pytest.approx(-1, abs=1e-12)
    assert fit_exponent(task, net, sens, "G")[0] == pytest.approx(2, abs=1e-12)
    task, net = _geometry(1, 256, 1)  # unstrided: D = 1/k, G = k^0.5 (k >= 1)
    k = np.arange(net.depth + 1, dtype=float)
    k[0] = 1.0
    sens = _sens(1 / k, np.sqrt(k), se=0.01)  # 1% relative errors on every layer
    e, se = fit_exponent(task, net, sens, "G")
    assert e == pytest.approx(0.5, abs=1e-12)
    # OLS on 33 layers, var(log V) = 0.01^2 each: se = 0.01 / sqrt(sum (ln k - mean)^2)
    lk = np.log(np.arange(32, 65))
    assert se == pytest.approx(0.01 / math.sqrt(np.sum((lk - lk.mean()) ** 2)), rel=1e-9)


def test_collapse_is_flat_for_the_leading_power_law():
    task, net = _geometry(1, 1024, 2)
    k = np.arange(net.depth + 1)
    pts = collapse(task, net, _sens(0.9 * 2.0 ** -k, 3 * 2.0 ** k), "D")
    assert np.allclose(pts["y"], 1.0) and np.allclose(pts["x"], 2.0 ** pts["k"] / 256)
    pts = collapse(task, net, _sens(0.9 * 2.0 ** -k, 3 * 2.0 ** k), "G")
    assert np.allclose(pts["y"], 3.0)


def test_verdict_states_gap_or_trend():
    assert verdict(-1.0, [64, 256], [-0.9, -0.97]) == "within 5% (3.0% off)"
    assert verdict(0.5, [64, 256], [0.3, 0.4]) == "20% off; trend N=64: 0.3, N=256: 0.4"


def test_log_distance_and_collapse_layer():
    k = np.arange(8)
    d_th = 2.0 ** -k
    d_th[5:] = 0.0  # the pooling net: exactly 0 from the block layer k* = 5 on
    g = np.ones(8)
    theory = _sens(d_th, g)
    trained = _sens(np.where(d_th > 0, 2 * d_th, 1e-3), 2 * g)
    # factor 2 on every layer 1..4 where the theory is > 0: distance log10(2) for D and G
    assert log_distance(trained, theory, "D") == pytest.approx(math.log10(2), rel=1e-12)
    assert log_distance(trained, theory, "G") == pytest.approx(math.log10(2), rel=1e-12)
    assert collapse_layer(theory) == 5  # the exact zero wins
    # trained: D_5 / D_4 = 1e-3 / 0.125 is the largest drop
    assert collapse_layer(trained) == 5


def test_quick_presets_share_training_and_keep_the_cost_small():
    q = plans("quick")
    f2 = {r.key for r in q["fig2_init_vs_trained"].trained}
    width = q["fig14_width"].trained
    assert sorted({r.net.width for r in width}) == [64, 128]  # as the width study asks
    assert {r.key for r in width if r.net.width == 64} <= f2  # F2's seeds 0 and 1, not retrained
    assert sorted(r.task.xi for r in q["fig15_xi"].trained) == [16, 32, 32]
    trained_2d = [r for r in q["fig3_strided"].trained if r.task.dim == 2]
    assert len(trained_2d) == 2 and all(r.train.continue_factor == 10.0 for r in trained_2d)
    paper = plans("paper")["fig13_scaling"]
    assert max(r.task.size for r in paper.runs() if r.task.dim == 1) == 2 ** 14
    assert max(r.task.size for r in paper.runs() if r.task.dim == 2) == 256
    # widths up to 256 (10 seeds each, 4 at 256) keep paper's numba part within an hour on 2 cores
    seeds = {}
    for r in plans("paper")["fig14_width"].trained:
        seeds[r.net.width] = seeds.get(r.net.width, 0) + 1
    assert seeds == {32: 10, 64: 10, 128: 10, 256: 4}


def _power_laws(run, mc: bool) -> RunResult:
    """Exact power laws standing in for a result: strided D = 2^-k, G = 2^k; unstrided
    D = 1/k, G = sqrt(k); Monte Carlo ones carry 1% relative errors.
    """
    k = np.arange(run.net.depth + 1, dtype=float)
    if run.net.stride == 2:
        sens = _sens(2.0 ** -k, 2.0 ** k, se=0.01 if mc else None)
    else:
        k[0] = 1.0
        sens = _sens(1 / k, np.sqrt(k), se=0.01 if mc else None)
    return RunResult(run, "test", 0.0, Profile(sens))


def test_exponent_table_uses_largest_size():
    plan = plans("tiny")["fig13_scaling"]
    results = Results({r.key: _power_laws(r, False) for r in plan.theory}
                      | {r.key: _power_laws(r, True) for r in plan.pooling})
    series = exponent_series(results.all(plan.theory), results.all(plan.pooling))
    assert series[(1, "strided", "D")]["theory"]["N"] == [64, 128]
    (section,) = exponents(plan, results)
    (table,) = section.tables
    assert len(table.rows) == 4  # 1D strided and unstrided, D and G
    for (config, _, _, fitted, _, mc_size, _, th_size, asymptotic, text) in table.rows:
        strided = config.split(", ")[1].startswith("strided")
        assert th_size == mc_size == max(r.task.size for r in plan.runs()
                                         if strided == (r.net.stride == 2))
        assert fitted == pytest.approx(asymptotic, abs=1e-9)
        assert text.startswith("within 5%")
