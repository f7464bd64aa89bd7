"""F13-F15 helpers: scaling windows, exponent fits, collapses, distances to theory, presets.

The fits are checked on exact power laws (where the fitted exponent must be the true one to
rounding), the distances and collapse layers on hand-made profiles with known answers. The
figures themselves are drawn on the tiny preset by tests/test_figures.py (one script each).
"""

import math

import numpy as np
import pytest

from scaledetect import ScaleDetectError
from scaledetect.experiments import preset
from scaledetect.experiments.presets import pooling_spec
from scaledetect.experiments.report import exponents
from scaledetect.experiments.scaling import (
    collapse,
    exponent_series,
    fit_exponent,
    is_scaling_run,
    scaling_depth,
    verdict,
    window,
)
from scaledetect.plots._trained import channel_mean_of, collapse_layer, log_distance
from scaledetect.tasks.spec import TaskSpec


def _sens(d, g, se=None):
    """A Sensitivities dict with layers 0..K (+ out) holding D = d, G = g."""
    layers = [{"k": k, "D": float(a), "G": float(b), "R": float(a / b)}
              for k, (a, b) in enumerate(zip(d, g, strict=True))]
    if se is not None:
        for row in layers:
            row.update(D_se=se * row["D"], G_se=se * row["G"], R_se=se * row["R"])
    layers.append({"k": "out", "D": None, "G": None, "R": None})
    return {"config": {}, "layers": layers}


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


def test_channel_mean_missing_is_named():
    run = next(r for r in preset("tiny")["fig14_width"] if r.kind == "train")
    with pytest.raises(ScaleDetectError, match="channel-averaged"):
        channel_mean_of({run.key: {"init": {}, "trained": {}}}, run)


def test_quick_presets_share_training_and_keep_the_cost_small():
    q = preset("quick")
    f2 = {r.key for r in q["fig2_init_vs_trained"]}
    width = [r for r in q["fig14_width"] if r.kind == "train"]
    assert sorted({r.net.width for r in width}) == [64, 128]  # as the width study asks
    assert {r.key for r in width if r.net.width == 64} <= f2  # F2's seeds 0 and 1, not retrained
    xi = [r for r in q["fig15_xi"] if r.kind == "train"]
    assert sorted(r.task.xi for r in xi) == [16, 32, 32]
    trained_2d = [r for r in q["fig3_strided"] if r.kind == "train" and r.task.dim == 2]
    assert len(trained_2d) == 2 and all(r.train["continue_factor"] == 10.0 for r in trained_2d)
    assert all(is_scaling_run(r) for r in q["fig13_scaling"])
    paper = preset("paper")
    sizes = {r.task.size for r in paper["fig13_scaling"] if r.task.dim == 1}
    assert max(sizes) == 2 ** 14
    assert max(r.task.size for r in paper["fig13_scaling"] if r.task.dim == 2) == 256
    # widths up to 256 (10 seeds each, 4 at 256) keep paper's numba part within an hour on 2 cores
    seeds = {}
    for r in paper["fig14_width"]:
        if r.kind == "train":
            seeds[r.net.width] = seeds.get(r.net.width, 0) + 1
    assert seeds == {32: 10, 64: 10, 128: 10, 256: 4}


def test_exponent_table_uses_largest_size():
    runs = preset("tiny")["fig13_scaling"]
    results = {}
    for r in runs:  # exact power laws standing in for results: every verdict is "within 5%"
        k = np.arange(r.net.depth + 1, dtype=float)
        if r.net.stride == 2:
            sens = _sens(2.0 ** -k, 2.0 ** k, se=0.01 if r.kind == "pooling" else None)
        else:
            k[0] = 1.0
            sens = _sens(1 / k, np.sqrt(k), se=0.01 if r.kind == "pooling" else None)
        results[r.key] = {"init": sens}
    series = exponent_series(runs, results)
    assert series[(1, "strided", "D")]["theory"]["N"] == [64, 128]
    rows = exponents(runs, results)
    assert len(rows) == 4
    for row in rows:
        assert row["theory_size"] == row["mc_size"] == max(r.task.size for r in runs
                                                          if row["config"].split(", ")[1]
                                                          .startswith("strided") ==
                                                          (r.net.stride == 2))
        assert row["fitted"] == pytest.approx(row["asymptotic"], abs=1e-9)
        assert row["verdict"].startswith("within 5%")
