"""Exact pooling-net theory (``theory.predict``) against Monte Carlo (``sensitivity.measure``).

Tolerance policy (tests/tolerances.py): ``test_predict_matches_monte_carlo`` is one family of
``FAMILY`` = 240 checks (30 configurations x every layer x D and G) on fixed seeds, so each check
allows ``family_nsigma(FAMILY)`` = 4.1 standard errors (Bonferroni, family-wise false alarms
<= 1%; 3 s.e. each would fail somewhere with probability ~50% once the random streams are
reshuffled). The Monte Carlo is precise to about 1% (asserted: relative se <= REL_SE wherever
the value exceeds 1e-3), so the theory is pinned to about 4%. Exact zeros of the theory must be
exact zeros (integer arithmetic), and the Monte Carlo must agree.
"""

import math

import numpy as np
import pytest
from tolerances import family_nsigma

from scaledetect import NetSpec, Perturbation, TaskSpec
from scaledetect.errors import ScaleDetectError
from scaledetect.nn import pooling_net
from scaledetect.sensitivity import measure
from scaledetect.theory import predict

PROBE = 1 << 15
MAX_PROBE = 1 << 20
REL_SE = 0.015  # MC relative precision required where the value exceeds 1e-3 (aim: 1%)

# (dim, size, depth, filter, stride): strided F = s = 2, unstrided F = 2 s = 1, F = s = 3
NETS = {
    1: [(32, 5, 2, 2), (32, 5, 2, 1), (27, 3, 3, 3)],
    2: [(8, 3, 2, 2), (8, 3, 2, 1), (9, 2, 3, 3)],
}
TASKS = [("points", "block"), ("points", "distance"), ("stripes", "block")]


def _cases():
    for dim, nets in NETS.items():
        for size, depth, F, s in nets:
            for shape, rule in TASKS:
                if shape == "stripes" and dim == 1:
                    continue
                for act in ("relu", "linear"):
                    yield dim, size, depth, F, s, shape, rule, act


#: Checks made by test_predict_matches_monte_carlo: D and G (G only for linear) at layers 0..K
#: and "out" of every case (an upper bound: undefined layers and exact zeros are not z-tests).
FAMILY = sum((c[2] + 2) * (1 if c[7] == "linear" else 2) for c in _cases())
NSIGMA = family_nsigma(FAMILY)


def _task(dim, size, shape, rule):
    if rule == "block":
        xi = size // 2 if size % 2 == 0 else size // 3
    else:
        xi = size // 4 + 1
    return TaskSpec(dim=dim, size=size, shape=shape, rule=rule, xi=xi)


def _net(dim, size, depth, F, s, act):
    return NetSpec(dim=dim, size=size, depth=depth, filter=F, stride=s, width=1, bias=False,
                   act=act)


def _compare(th, mc, precise=("D", "G")):
    """Largest deviation (in standard errors, relative); asserts the policy.

    ``precise``: the sensitivities compared (their Monte Carlo must reach REL_SE)."""
    worst = (0.0, 0.0)
    for name in precise:
        t, m, se = getattr(th, name), getattr(mc, name), getattr(mc, name + "_se")
        for i, k in enumerate(th.layers):
            if not np.isfinite(t[i]):  # degenerate layer: den = 0 (e.g. translation-invariant out)
                assert th.config["den"][i] == 0.0
                continue
            if t[i] == 0.0:  # exact zero: the simulation has no change at all either
                assert abs(m[i]) <= 1e-12, (name, k, m[i])
                continue
            if abs(t[i]) > 1e-3:
                assert se[i] <= REL_SE * abs(m[i]), (name, k, se[i], m[i])
            z = abs(t[i] - m[i]) / se[i]
            assert z <= NSIGMA, (name, k, t[i], m[i], se[i])
            worst = max(worst, (z, abs(t[i] - m[i]) / abs(t[i])))
    return worst


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: "-".join(map(str, c)))
def test_predict_matches_monte_carlo(case):
    """Linear cases: D equals the ReLU net's D exactly (both nets are linear on x >= 0, checked
    here), and the ReLU case compares that very number with a ~1% Monte Carlo; so the linear
    case compares G only (a second comparison of the same D would only add chances of a
    >3 s.e. fluctuation)."""
    dim, size, depth, F, s, shape, rule, act = case
    task, net = _task(dim, size, shape, rule), _net(dim, size, depth, F, s, act)
    th = predict(task, net)
    precise = ("D", "G")
    if act == "linear":
        th_relu = predict(task, _net(dim, size, depth, F, s, "relu"))
        assert np.array_equal(th.D, th_relu.D, equal_nan=True)
        precise = ("G",)
    mc = _precise_mc(th, pooling_net(net), task, Perturbation(), precise)
    _compare(th, mc, precise)


def _precise_mc(th, model, task, pert, precise=("D", "G"), seed=12345):
    """Monte Carlo with enough probes for ~1% relative s.e. on every value above 1e-3.

    A pilot run of PROBE probes fixes the probe count (s.e. ~ 1/sqrt(P)); the final run is an
    independent one (new seed) with that count, capped at MAX_PROBE."""
    mc = measure(model, task, pert, probe=PROBE, rng=seed)
    need = 1.0
    for name in precise:
        t, m, se = getattr(th, name), getattr(mc, name), getattr(mc, name + "_se")
        big = np.isfinite(t) & (np.abs(t) > 1e-3) & np.isfinite(se)
        if np.any(big):
            need = max(need, float(np.max((se[big] / (0.01 * np.abs(m[big]))) ** 2)))
    if need <= (REL_SE / 0.01) ** 2:
        return mc
    probe = min(MAX_PROBE, int(PROBE * need * 1.1))
    return measure(model, task, pert, probe=probe, rng=seed + 1)


def test_exact_zero_at_the_task_scale():
    """F = s = 2, block xi = N/2 = 2^m: every accepted move stays in its half at layer m, whose
    units are exactly the blocks, so D_m = 0 exactly (two blocks: leaving one would merge)."""
    for act in ("relu", "linear"):
        task = TaskSpec(dim=1, size=64, rule="block", xi=32)
        th = predict(task, _net(1, 64, 6, 2, 2, act))
        assert th.D[5] == 0.0 and th.R[5] == 0.0
        assert np.all(th.D[:5] > 0)


def test_linear_noise_is_exact_frobenius():
    """Linear net, unstrided F = 2: f_k = B_k x with B_k binomial, so G_k den_k / sigma^2 equals
    ||B_k||_F^2 = N C(2k, k) / 4^k (independent of the data)."""
    task = TaskSpec(dim=1, size=32, xi=16)
    th = predict(task, _net(1, 32, 4, 2, 1, "linear"))
    sig2 = th.config["sigma"] ** 2
    for k in range(1, 5):
        expect = 32 * math.comb(2 * k, k) / 4**k
        assert th.G[k] * th.config["den"][k] / sig2 == pytest.approx(expect, rel=1e-12)


def test_batch_noise_g0_equals_d0():
    th = predict(_task(1, 32, "points", "distance"), _net(1, 32, 3, 2, 2, "relu"))
    assert th.G[0] == pytest.approx(th.D[0], rel=1e-12)


def test_sample_and_batch_matching_are_told_apart():
    """``noise_match="sample"`` vs ``"batch"`` where they differ: N = 16, block xi = 2, F = s = 2,
    K = 3. Sample matching gives probe i noise of norm exactly ``||tau x_i - x_i||`` (0 when
    both moves were undone: features at a block edge, where the units of layers 1-3 see a
    different number of signal units), batch matching the same sigma to every probe; the
    correlation between a probe's norm and its configuration changes G_3 by 3.3%
    (0.30487 vs 0.31512), 10 s.e. of a 2^19-probe Monte Carlo (relative s.e. 0.3%). Each
    prediction must agree with its own Monte Carlo (2 checks: ``family_nsigma(2)`` = 3.02 s.e.;
    measured z = -0.4 and 0.1 with these seeds) and the two must differ by at least twice that.
    Layers 1-2 are left out: there the sample-matched ReLU theory is approximate in its few
    signal units (``config["method"]``; at N = 16 layer 1 is 0.8% off, 4 s.e. at 2^20 probes).
    """
    task = TaskSpec(dim=1, size=16, xi=2)
    net = _net(1, 16, 3, 2, 2, "relu")
    k, z = 3, family_nsigma(2)
    th, mc = {}, {}
    for m in ("batch", "sample"):
        pert = Perturbation(noise_match=m)
        th[m] = predict(task, net, pert).G[k]
        mc[m] = measure(pooling_net(net), task, pert, probe=1 << 19, rng=11)
        se = mc[m].G_se[k]
        assert se <= 0.004 * mc[m].G[k]  # precise enough for the difference to show
        assert abs(mc[m].G[k] - th[m]) <= z * se, (m, th[m], mc[m].G[k], se)
    se = max(mc["batch"].G_se[k], mc["sample"].G_se[k])
    assert th["batch"] - th["sample"] >= 2 * z * se, (th, se)
    assert mc["batch"].G[k] > mc["sample"].G[k]  # the Monte Carlo sees the same ordering


def test_tanh_layer_one_exact_deeper_layers_approximate():
    """tanh: D and G_0, G_1 are exact (a family of 7 + 2 checks: ``family_nsigma(9)`` = 3.3 s.e.);
    deeper G use Gaussian moment propagation, measured within 6% here (strided 1D; see the
    report for other nets), asserted 8%."""
    task, net = _task(1, 32, "points", "block"), _net(1, 32, 5, 2, 2, "tanh")
    th = predict(task, net)
    mc = measure(pooling_net(net), task, Perturbation(), probe=PROBE, rng=3)
    z = family_nsigma(len(th.D) + 2)
    assert np.all(np.abs(th.D - mc.D) <= z * mc.D_se)
    assert np.all(np.abs(th.G[:2] - mc.G[:2]) <= z * mc.G_se[:2])
    assert np.all(np.abs(th.G[2:] / mc.G[2:] - 1) <= 0.08)


# Regression pin of an APPROXIMATION: G_k of the tanh pooling net as theory.predict computed it
# on 2026-11-29 (layers 0, 1 exact; layers 2..K and "out" by Gaussian moment propagation, whose
# error is the non-Gaussian shape of the propagated noise). These are not the true values: the
# Monte Carlo (measure, 400,000 probes, rng=7) gives, for k = 2..K then "out",
#   strided   (N=32, xi=16, K=5, F=s=2): 1.6566, 1.8154, 2.5423, 60.21  (s.e. 0.0011, 0.0022,
#             0.0056, 0.39): the approximation is low by 4-6%;
#   unstrided (N=16, xi=8, K=4, F=2, s=1): 1.1305, 1.1741, 1.2034, 33.21  (s.e. <= 0.001, 0.12):
#             low by 9-18%.
# The pin detects any change of the approximation (a refactor must leave it at 1e-9); a change
# that improves it should move these numbers towards the Monte Carlo and update the pin.
TANH_PINS = [
    (TaskSpec(dim=1, size=32, xi=16), dict(size=32, depth=5, stride=2),
     [0.958888888889, 1.675778627427, 1.591638120036, 1.717136173442, 2.398955968801,
      56.535908249466, 56.535908249466]),
    (TaskSpec(dim=1, size=16, xi=8), dict(size=16, depth=4, stride=1),
     [0.913265306122, 1.033998403278, 1.030608067478, 1.00000825483, 0.981341962364,
      27.56381506039]),
]


@pytest.mark.parametrize("task, net, pinned", TANH_PINS)
def test_tanh_approximation_is_pinned(task, net, pinned):
    net = NetSpec(dim=1, filter=2, width=1, bias=False, act="tanh", **net)
    np.testing.assert_allclose(predict(task, net).G, pinned, rtol=1e-9)


@pytest.mark.parametrize("bad, message", [
    (dict(task=TaskSpec(dim=1, size=32, shape="blobs"), net=_net(1, 32, 3, 2, 2, "relu")),
     r"^shape must be points or stripes .*got shape='blobs'$"),
    (dict(task=TaskSpec(dim=1, size=32), net=NetSpec(dim=1, size=32, depth=3)),
     r"^net must be the idealized pooling net \(width 1, no bias.*got net='width=64, bias=True'$"),
    (dict(task=TaskSpec(dim=1, size=16, xi=4), net=_net(1, 32, 3, 2, 2, "relu")),
     r"^size must be the same for task and net \(task size=16\); got size=32$"),
    (dict(task=TaskSpec(dim=1, size=32), net=_net(1, 32, 3, 2, 2, "relu"),
          pert=Perturbation(diffeo="maxent")),
     r"^diffeo must be shift for the exact theory .*got diffeo='maxent'$"),
])
def test_bad_input_names_the_parameter(bad, message):
    # each message names the parameter, the constraint and the value received
    with pytest.raises(ScaleDetectError, match=message):
        predict(bad["task"], bad["net"], bad.get("pert"))


@pytest.mark.parametrize("task, net", [
    (TaskSpec(dim=1, size=81, xi=27, rule="distance"),
     NetSpec(dim=1, size=81, depth=3, filter=3, stride=3, width=1, bias=False, act="tanh")),
    (TaskSpec(dim=2, size=8, xi=4),
     NetSpec(dim=2, size=8, depth=3, filter=2, stride=2, width=1, bias=False, act="tanh")),
])
def test_tanh_diagonal_fast_path_equals_general_propagation(monkeypatch, task, net):
    # with s >= F no two units share an input, so the general O(n^2) covariance propagation
    # keeps zero off-diagonals: the O(n) diagonal path must give the same numbers (to rounding)
    from scaledetect.theory import moments

    fast = predict(task, net)
    monkeypatch.setattr(moments.MomentNoise, "diagonal_fast_path", False)
    general = predict(task, net)
    np.testing.assert_allclose(fast.G, general.G, rtol=1e-12)
    np.testing.assert_array_equal(fast.D, general.D)
