"""Shift undo rules: an independent plain-Python reference for ``shift_outcomes`` and the exact
zero of D at the block layer (theory and Monte Carlo) that the block rule guarantees."""

import math
from collections import defaultdict

import numpy as np
import pytest

from scaledetect import Perturbation, ScaleDetectError
from scaledetect.nn import NetSpec, pooling_net
from scaledetect.perturb import shift, shift_outcomes
from scaledetect.sensitivity import measure
from scaledetect.tasks import TaskSpec, enumerate_configs
from scaledetect.theory import predict


# ---------------------------------------------------------------- plain reference (no numpy)
def _label(task, a, b):
    """+1 / -1 / 0 of the pair (a, b) of integer tuples, written out from the task definition."""
    n = task.size
    if a == b or any(not 0 <= c < n for c in a + b):
        return 0
    if task.rule == "block":
        return 1 if all(x // task.xi == y // task.xi for x, y in zip(a, b, strict=True)) else -1
    d = [abs(x - y) for x, y in zip(a, b, strict=True)]
    if task.periodic:
        d = [min(t, n - t) for t in d]
    dist = d[0] if len(d) == 1 else (math.hypot(*d) if task.norm == "l2" else max(d))
    if dist < task.xi - task.gap / 2:
        return 1
    return -1 if dist >= task.xi + task.gap / 2 else 0


def _ref_steps(task, rule):
    if rule == "authors2d":  # round(cos t), round(sin t): axis arcs 60 deg, diagonal arcs 30 deg
        axis = [((1, 0), 1 / 6), ((-1, 0), 1 / 6), ((0, 1), 1 / 6), ((0, -1), 1 / 6)]
        diag = [((sx, sy), 1 / 12) for sx in (1, -1) for sy in (1, -1)]
        return axis + diag
    if task.dim == 1 or task.shape == "stripes":
        return [((1,), 0.5), ((-1,), 0.5)]
    return [((1, 0), 0.25), ((-1, 0), 0.25), ((0, 1), 0.25), ((0, -1), 0.25)]


def _ok(task, rule, new, other, start, y):
    lab = _label(task, new, other)
    if rule == "authors2d":
        return lab != 0
    if rule == "label" or task.rule == "distance":
        return lab == y
    return lab != 0 and all(x // task.xi == s // task.xi for x, s in zip(new, start, strict=True))


def _reference(task, a, b, rule):
    """{(a', b'): probability} of the sequential moves, by hand."""
    y = _label(task, a, b)
    out = defaultdict(float)
    for s1, p1 in _ref_steps(task, rule):
        a1 = tuple(x + s for x, s in zip(a, s1, strict=True))
        a1 = a1 if _ok(task, rule, a1, b, a, y) else a
        for s2, p2 in _ref_steps(task, rule):
            b1 = tuple(x + s for x, s in zip(b, s2, strict=True))
            b1 = b1 if _ok(task, rule, b1, a1, b, y) else b
            out[(a1, b1)] += p1 * p2
    return out


CASES = [
    (TaskSpec(dim=2, size=8, xi=3), "auto"),
    (TaskSpec(dim=2, size=8, xi=3), "label"),
    (TaskSpec(dim=2, size=9, shape="stripes", xi=3), "auto"),
    (TaskSpec(dim=2, size=9, shape="stripes", xi=3), "label"),
    (TaskSpec(dim=1, size=12, xi=3), "auto"),
    (TaskSpec(dim=2, size=8, rule="distance", xi=3, gap=1, norm="l2"), "auto"),
    (TaskSpec(dim=2, size=8, rule="distance", xi=2.5, gap=1, norm="linf", periodic=True), "auto"),
    (TaskSpec(dim=2, size=9, shape="stripes", rule="distance", xi=3.5, gap=1), "auto"),
    (TaskSpec(dim=2, size=7, xi=3), "authors2d"),
]


@pytest.mark.parametrize("task,rule", CASES, ids=lambda c: str(c)[:60])
def test_shift_outcomes_equal_a_plain_python_reference(task, rule):
    # Expect: for every configuration, the outcome distribution of shift_outcomes equals the
    # hand-written loop over step pairs (probabilities to 1e-15: sums of at most 64 products).
    pos, _ = enumerate_configs(task)
    out, prob = shift_outcomes(task, pos, rule)
    for i in range(len(pos)):
        a, b = (tuple(int(c) for c in pos[i, f]) for f in range(2))
        got = defaultdict(float)
        for o, q in zip(out[i], prob[i], strict=True):
            got[(tuple(int(c) for c in o[0]), tuple(int(c) for c in o[1]))] += q
        ref = _reference(task, a, b, rule)
        assert set(got) == set(ref), (a, b)
        assert all(abs(got[k] - ref[k]) < 1e-15 for k in ref)


def test_block_rule_keeps_features_in_their_blocks_label_rule_does_not():
    # Expect: 1D N = 16, xi = 4 (four blocks): no outcome of the default rule leaves a block;
    # the old "label" rule lets a -1 pair's feature cross into a third block (some outcome does).
    task = TaskSpec(dim=1, size=16, xi=4)
    pos, _ = enumerate_configs(task)
    blk = np.floor(pos / 4)
    out, _ = shift_outcomes(task, pos)
    assert np.all(np.floor(out / 4) == blk[:, None])
    out, _ = shift_outcomes(task, pos, "label")
    assert np.any(np.floor(out / 4) != blk[:, None])


def test_authors2d_moves_diagonally_and_is_refused_elsewhere():
    # Expect: a sampled authors2d shift moves some feature diagonally (|dx| = |dy| = 1), and the
    # rule is refused for 1D tasks with an error naming it.
    task = TaskSpec(dim=2, size=16, xi=8)
    pos, _ = enumerate_configs(task)
    new, _ = shift(task, pos[:2000], rng=0, rule="authors2d")
    step = np.abs(new - pos[:2000])
    assert np.any(np.all(step == 1, axis=-1))
    with pytest.raises(ScaleDetectError, match="rule"):
        shift_outcomes(TaskSpec(dim=1, size=16, xi=4), [[[0.0], [1.0]]], "authors2d")
    with pytest.raises(ScaleDetectError, match="shift_rule"):
        Perturbation(shift_rule="nope")


@pytest.mark.parametrize("dim,size,xi", [(1, 32, 8), (2, 16, 4)])
def test_D_is_exactly_zero_at_the_block_layer_theory_and_monte_carlo(dim, size, xi):
    # Expect: N = 4 xi (16 blocks in 2D, 4 in 1D), F = s = 2, k* = log2(xi): units of layer k*
    # are the blocks and no move leaves its block, so D_k = 0 exactly for k >= k* in the exact
    # theory and in a Monte Carlo of the pooling net (dyadic sums: bit-exact), and D_k* > 0 with
    # the old label rule (a -1 feature may enter a third block).
    k = int(np.log2(xi))
    task = TaskSpec(dim=dim, size=size, xi=xi)
    net = NetSpec(dim=dim, size=size, depth=k + 1, filter=2, stride=2, width=1, bias=False)
    th = predict(task, net)
    assert th.D[k] == 0.0 and th.D[k + 1] == 0.0 and th.D[k - 1] > 0
    mc = measure(pooling_net(net), task, Perturbation(), probe=512, rng=0)
    assert mc.D[k] == 0.0 and mc.D[k + 1] == 0.0 and mc.D[k - 1] > 0
    old = predict(task, net, Perturbation(shift_rule="label"))
    assert old.D[k] > 0
