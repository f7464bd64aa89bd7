"""The distance-rule theory without pair enumeration against the enumeration and Monte Carlo."""

import numpy as np
import pytest
from tolerances import assert_same_sensitivities

from scaledetect import Perturbation, ScaleDetectError
from scaledetect.nn import NetSpec, pooling_net
from scaledetect.sensitivity import measure
from scaledetect.tasks import TaskSpec
from scaledetect.theory import exact, predict

# (dim, N, xi, K, F, s, gap, norm, periodic, act): strided, unstrided, overlapping (F > s),
# F = s = 3, rows of C_k that wrap around (F = 3, s = 2 deep; s = 1), gap bands, both norms,
# periodic and not, ReLU and linear
GEOMS = [
    (1, 32, 8, 4, 2, 2, 0, "l2", False, "relu"),
    (1, 32, 8, 4, 2, 2, 0, "l2", True, "relu"),
    (1, 24, 6, 3, 3, 2, 2, "l2", False, "relu"),
    (1, 16, 5, 3, 2, 1, 1, "l2", True, "relu"),
    (1, 27, 7, 2, 3, 3, 1, "linf", False, "linear"),
    (1, 64, 13, 5, 3, 2, 3, "l2", True, "relu"),
    (1, 64, 20, 6, 2, 1, 0, "l2", False, "relu"),
    (2, 16, 5, 3, 2, 1, 0, "l2", False, "relu"),
    (2, 16, 5, 3, 2, 2, 1, "l2", True, "relu"),
    (2, 16, 6, 3, 2, 2, 2, "linf", False, "relu"),
    (2, 24, 4, 2, 3, 2, 0, "linf", True, "relu"),
    # layers whose last rows of C_k wrap around the image (F = 3, s = 2 deep; s = 1), the
    # geometries that once checked the diagonal sums of C_k^T C_k against the dense Gram
    (1, 32, 9, 4, 2, 2, 1, "l2", False, "relu"),
    (1, 32, 9, 4, 3, 2, 1, "l2", False, "relu"),
    (1, 32, 9, 5, 2, 1, 1, "l2", False, "relu"),
    (1, 54, 13, 2, 3, 3, 1, "l2", False, "relu"),
]


def _setup(geom):
    dim, N, xi, K, F, s, gap, norm, periodic, act = geom
    task = TaskSpec(dim=dim, size=N, xi=xi, rule="distance", gap=gap, norm=norm,
                    periodic=periodic)
    net = NetSpec(dim=dim, size=N, depth=K, filter=F, stride=s, width=1, bias=False, act=act)
    return task, net


@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_distance_theory_equals_the_enumeration(geom):
    # Expect: D, G, R of the offset sums identical to the enumeration of every configuration and
    # move outcome to 1e-12 relative (float64 sums in another order; observed <= 5e-14), the
    # same exact zeros and the same undefined (nan/inf) layers, and predict takes this path.
    task, net = _setup(geom)
    pert = Perturbation()
    assert not exact.enumerates_pairs(task, net, pert)
    fast = predict(task, net, pert, method="translation")
    ref = predict(task, net, pert, method="enumerate")
    assert_same_sensitivities(fast, ref)
    assert fast.config["sigma"] == pytest.approx(ref.config["sigma"], rel=1e-12)


def test_templates_longer_than_the_image_go_to_the_enumeration():
    # Expect: F = 4, s = 2, K = 3 at N = 16: the layer-3 window spans 1 + 3 (1 + 2 + 4) = 22 > 16
    # pixels (a row of C_3 overlaps itself around the torus), so the offset sums refuse it
    # (method="translation" raises, for the linear net too) and predict enumerates; at K = 2
    # (10 pixels) they apply to the linear net (which needs no layer-1 patch) and equal the
    # enumeration.
    task = TaskSpec(dim=1, size=16, xi=5, rule="distance")
    for act in ("relu", "linear"):
        net = NetSpec(dim=1, size=16, depth=3, filter=4, stride=2, width=1, bias=False, act=act)
        assert exact.enumerates_pairs(task, net, Perturbation())
        with pytest.raises(ScaleDetectError, match="method must be auto or enumerate here"):
            predict(task, net, method="translation")
    net2 = NetSpec(dim=1, size=16, depth=2, filter=4, stride=2, width=1, bias=False, act="linear")
    assert_same_sensitivities(predict(task, net2, method="translation"),
                              predict(task, net2, method="enumerate"))


@pytest.mark.parametrize("periodic", [False, True])
def test_distance_theory_matches_monte_carlo_2d(periodic):
    # Expect: 2D N = 64, xi = 12, gap 2, linf norm, K = 5, F = s = 2 (8.4e6 pairs: beyond the
    # enumeration), every finite D_k, G_k within 3 standard errors of a 4096-probe Monte Carlo.
    task = TaskSpec(dim=2, size=64, xi=12, rule="distance", gap=2, norm="linf",
                    periodic=periodic)
    net = NetSpec(dim=2, size=64, depth=5, filter=2, stride=2, width=1, bias=False)
    th = predict(task, net)
    mc = measure(pooling_net(net), task, Perturbation(), probe=4096, rng=5)
    for name in ("D", "G"):
        t, m, se = getattr(th, name), getattr(mc, name), getattr(mc, name + "_se")
        for i in range(len(t)):
            if np.isfinite(t[i]):
                assert abs(t[i] - m[i]) <= 3 * se[i], (name, i, t[i], m[i], se[i])
