"""The block-rule theory without pair enumeration against the enumeration and Monte Carlo."""

import numpy as np
import pytest
from tolerances import assert_same_sensitivities

from scaledetect import Perturbation, ScaleDetectError
from scaledetect.nn import NetSpec, pooling_net
from scaledetect.sensitivity import measure
from scaledetect.tasks import TaskSpec
from scaledetect.theory import exact, predict

# (dim, N, xi, K, F, s, shape, act): strided, unstrided, overlapping (F > s), F = s = 3,
# partial blocks (xi not dividing N), stripes (linear only: ``predict`` sends stripes, and nets
# too small for the ReLU patch, to the enumeration; the block path is called directly here)
GEOMS = [
    (1, 32, 8, 4, 2, 2, "points", "relu"),
    (1, 24, 6, 3, 3, 2, "points", "relu"),
    (1, 16, 4, 4, 2, 1, "points", "relu"),
    (1, 27, 7, 2, 3, 3, "points", "relu"),
    (1, 64, 16, 6, 2, 1, "points", "relu"),
    (1, 64, 16, 5, 3, 2, "points", "relu"),
    (2, 16, 4, 3, 2, 1, "points", "relu"),
    (2, 16, 8, 4, 2, 2, "points", "relu"),
    (2, 12, 3, 2, 3, 2, "points", "linear"),
    (2, 16, 4, 3, 2, 2, "stripes", "linear"),
    (2, 12, 5, 3, 2, 1, "stripes", "linear"),
]


def _setup(geom):
    dim, N, xi, K, F, s, shape, act = geom
    task = TaskSpec(dim=dim, size=N, xi=xi, shape=shape)
    net = NetSpec(dim=dim, size=N, depth=K, filter=F, stride=s, width=1, bias=False, act=act)
    return task, net


@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_translation_theory_equals_the_enumeration(geom):
    # Expect: D, G, R of the block path identical to the enumeration of every configuration and
    # move outcome to 1e-12 relative (float64 sums in a different order; observed <= 3e-14),
    # the same exact zeros and the same undefined (nan/inf) layers.
    task, net = _setup(geom)
    pert = Perturbation()
    fast = predict(task, net, pert, method="translation")
    ref = predict(task, net, pert, method="enumerate")
    assert_same_sensitivities(fast, ref)
    assert fast.config["configs"] == ref.config["configs"]


def test_predict_takes_the_block_path_only_where_it_applies():
    # Expect: 2D points N = 16 (F = s = 2) -> translation path, block and distance rule alike;
    # stripes, the label shift rule, sample-matched noise and tanh -> enumeration, where
    # method="translation" is refused with a one-line error naming the method.
    task, net = _setup((2, 16, 8, 4, 2, 2, "points", "relu"))
    dist = TaskSpec(dim=2, size=16, xi=5, rule="distance")
    for t in (task, dist):
        assert not exact.enumerates_pairs(t, net, Perturbation())
    stripes = TaskSpec(dim=2, size=16, xi=8, shape="stripes")
    tanh = NetSpec(dim=2, size=16, depth=4, width=1, bias=False, act="tanh")
    cases = [(stripes, net, Perturbation()), (dist, net, Perturbation(shift_rule="label")),
             (task, net, Perturbation(shift_rule="label")),
             (task, net, Perturbation(noise_match="sample")), (task, tanh, Perturbation())]
    for t, n, p in cases:
        assert exact.enumerates_pairs(t, n, p)
        with pytest.raises(ScaleDetectError, match=r"^method must be auto or enumerate here .*"
                           r"got method='translation'$"):
            predict(t, n, p, method="translation")


def test_block_layer_D_is_exactly_zero_1d_512_theory_and_monte_carlo():
    # Expect: 1D N = 512, xi = 128, F = s = 2: k* = 7, D_7 = 0 exactly in the theory (integer
    # sums) and in a 2048-probe Monte Carlo (dyadic averages are exact), D_6 > 0.
    task = TaskSpec(dim=1, size=512, xi=128)
    net = NetSpec(dim=1, size=512, depth=8, filter=2, stride=2, width=1, bias=False)
    th = predict(task, net)
    assert th.D[7] == 0.0 and th.D[8] == 0.0 and th.D[6] > 0
    mc = measure(pooling_net(net), task, Perturbation(), probe=2048, rng=1)
    assert mc.D[7] == 0.0 and mc.D[6] > 0


@pytest.mark.parametrize("stride", [2, 1])
def test_translation_theory_matches_monte_carlo_2d(stride):
    # Expect: 2D N = 64, xi = 16, K = 5 (beyond the enumeration's reach: 8.4e6 pairs), every
    # finite D_k, G_k within 3 standard errors of an 8192-probe Monte Carlo (seeded), and
    # D = 0 exactly where the theory says 0.
    task = TaskSpec(dim=2, size=64, xi=16)
    net = NetSpec(dim=2, size=64, depth=5, filter=2, stride=stride, width=1, bias=False)
    th = predict(task, net)
    mc = measure(pooling_net(net), task, Perturbation(), probe=8192, rng=7)
    for name in ("D", "G"):
        t, m, se = getattr(th, name), getattr(mc, name), getattr(mc, name + "_se")
        for i in range(len(t)):
            if not np.isfinite(t[i]):
                continue
            if t[i] == 0:
                assert m[i] == 0.0
                continue
            assert abs(t[i] - m[i]) <= 3 * se[i], (name, i, t[i], m[i], se[i])


def test_block_path_refuses_an_empty_class():
    # Expect: xi = N (one block, no -1 configuration) raises the task error naming xi, as the
    # enumeration does, instead of dividing by zero.
    task = TaskSpec(dim=1, size=64, xi=64)
    net = NetSpec(dim=1, size=64, depth=3, width=1, bias=False)
    with pytest.raises(ScaleDetectError, match="xi"):
        predict(task, net)
