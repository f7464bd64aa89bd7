"""The distance-rule theory without pair enumeration against the enumeration and Monte Carlo."""

import numpy as np
import pytest
from tolerances import assert_same_sensitivities

from scaledetect import Perturbation
from scaledetect.nn import NetSpec, pooling_net
from scaledetect.sensitivity import measure
from scaledetect.tasks import TaskSpec
from scaledetect.theory import exact, predict
from scaledetect.theory._distance import diagonal_sums, pool_templates
from scaledetect.theory._operators import Operators

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
    ops = Operators(net)
    assert exact._translation_applies(task, net, pert, ops)
    fast = exact._predict_block(task, net, pert, ops)
    ref = exact._predict_enumerated(task, net, pert)
    assert_same_sensitivities(fast, ref)
    assert fast.config["sigma"] == pytest.approx(ref.config["sigma"], rel=1e-12)


@pytest.mark.parametrize("F, s, K", [(2, 2, 4), (3, 2, 4), (2, 1, 5), (3, 3, 2)])
def test_diagonal_sums_equal_the_dense_gram(F, s, K):
    # Expect: A0(d) = sum over x with x, x + d inside of (C_k^T C_k)[x, x + d], the non-cyclic
    # diagonals of the dense Gram, exactly (integers), for every layer, including layers
    # whose last rows wrap around the image (F = 3, s = 2 and s = 1).
    N = 54 if s == 3 else 32
    net = NetSpec(dim=1, size=N, depth=K, filter=F, stride=s, width=1, bias=False)
    ops = Operators(net)
    temps = pool_templates(N, K, F, s)
    for k in range(K + 1):
        G = (ops.C[k].T @ ops.C[k]).toarray()
        ref = np.array([np.trace(G, offset=d) for d in range(-(N - 1), N)])
        got = diagonal_sums(temps[k], ops.C[k].shape[0], s**k, N)
        np.testing.assert_array_equal(got, ref)


def test_templates_longer_than_the_image_go_to_the_enumeration():
    # Expect: F = 4, s = 2, K = 3 at N = 16: the layer-3 window spans 1 + 3 (1 + 2 + 4) = 22 > 16
    # pixels (a row of C_3 overlaps itself around the torus), so the offset sums refuse it and
    # predict enumerates; at K = 2 (10 pixels) they apply.
    task = TaskSpec(dim=1, size=16, xi=5, rule="distance")
    net = NetSpec(dim=1, size=16, depth=3, filter=4, stride=2, width=1, bias=False)
    assert pool_templates(16, 3, 4, 2) is None and len(pool_templates(16, 2, 4, 2)[2]) == 10
    assert not exact._translation_applies(task, net, Perturbation(), Operators(net))


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
