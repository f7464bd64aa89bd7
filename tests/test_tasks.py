"""Tasks: labels, exact counts and enumeration, the class-balanced sampler, rendering, errors."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scaledetect import ScaleDetectError
from scaledetect.tasks import (
    MAX_PAIRS,
    TaskSpec,
    class_counts,
    enumerate_configs,
    labels,
    render,
    sample,
    sample_positions,
)
from scaledetect.tasks.configs import _rejection


def naive_label(task, a, b):
    """Reference label of one pair, written as plainly as possible (independent of the package)."""
    N = task.size
    if any(not (0 <= v < N) for v in list(a) + list(b)) or list(a) == list(b):
        return 0
    if task.rule == "block":
        same = all(math.floor(u / task.xi) == math.floor(v / task.xi)
                   for u, v in zip(a, b, strict=True))
        return 1 if same else -1
    ds = []
    for u, v in zip(a, b, strict=True):
        d = abs(u - v)
        if task.periodic:
            d = min(d, N - d)
        ds.append(d)
    if len(ds) == 1:
        dist = ds[0]
    elif task.norm == "l2":
        dist = math.hypot(*ds)
    else:
        dist = max(ds)
    if dist < task.xi - task.gap / 2:
        return 1
    if dist >= task.xi + task.gap / 2:
        return -1
    return 0


TASKS = [
    TaskSpec(dim=1, size=32, shape="points", rule="block", xi=8),
    TaskSpec(dim=1, size=30, shape="points", rule="block", xi=8),  # partial last block
    TaskSpec(dim=1, size=32, shape="points", rule="distance", xi=6, gap=2),
    TaskSpec(dim=1, size=32, shape="points", rule="distance", xi=6, periodic=True),
    TaskSpec(dim=2, size=16, shape="points", rule="block", xi=4),
    TaskSpec(dim=2, size=16, shape="points", rule="distance", xi=4.5, norm="l2", gap=1),
    TaskSpec(dim=2, size=16, shape="points", rule="distance", xi=4, norm="linf", periodic=True),
    TaskSpec(dim=2, size=64, shape="points", rule="distance", xi=5, norm="l2"),  # rejection path
    TaskSpec(dim=2, size=64, shape="points", rule="block", xi=16),  # rejection path
    TaskSpec(dim=2, size=16, shape="stripes", rule="block", xi=4),
    TaskSpec(dim=2, size=16, shape="stripes", rule="distance", xi=5, periodic=True),
    TaskSpec(dim=1, size=32, shape="blobs", rule="block", xi=8),
    TaskSpec(dim=1, size=32, shape="blobs", rule="distance", xi=6.5, gap=1, periodic=True),
    TaskSpec(dim=2, size=16, shape="blobs", rule="block", xi=6),
    TaskSpec(dim=2, size=16, shape="blobs", rule="distance", xi=4, norm="linf"),
    TaskSpec(dim=2, size=16, shape="blobs", rule="distance", xi=5, norm="l2", periodic=True),
]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: f"{t.dim}d-{t.shape}-{t.rule}-{t.size}")
def test_sampled_labels_match_independent_rule_and_classes_are_balanced(task):
    # Expect: every label re-derived by the plain loop `naive_label` from the positions, exactly
    # 200 samples of each class out of 400, positions in canonical order and in the image.
    pos, y = sample_positions(task, 400, rng=1)
    assert pos.shape == (400, 2, task.coords) and pos.dtype == np.float64
    assert [naive_label(task, a, b) for a, b in pos] == y.tolist()
    assert np.array_equal(labels(task, pos), y)
    assert (y == 1).sum() == 200 and (y == -1).sum() == 200
    a, b = pos[:, 0], pos[:, 1]
    assert all(tuple(u) < tuple(v) for u, v in zip(a, b, strict=True))
    assert np.all((pos >= 0) & (pos < task.size))
    if task.shape != "blobs":
        assert np.array_equal(pos, np.round(pos))


def test_odd_count_and_reproducibility():
    # Expect: n = 0 is empty; n = 7 splits 3/4 or 4/3; the same seed gives identical samples,
    # another seed not.
    task = TASKS[0]
    for t in (task, TASKS[-1]):  # enumeration and rejection paths: n = 0 gives empty arrays
        pos, y = sample_positions(t, 0, rng=3)
        assert pos.shape == (0, 2, t.coords) and y.shape == (0,)
    _, y = sample_positions(task, 7, rng=3)
    assert sorted([(y == 1).sum(), (y == -1).sum()]) == [3, 4]
    p1, _ = sample_positions(task, 50, rng=5)
    p2, _ = sample_positions(task, 50, rng=5)
    p3, _ = sample_positions(task, 50, rng=6)
    assert np.array_equal(p1, p2) and not np.array_equal(p1, p3)


def comb2(m):
    return m * (m - 1) // 2


# Closed forms written out by hand: (task, n_plus, n_minus) with the reasoning in the comment.
CLOSED_FORMS = [
    # 1D block, xi | N: (N / xi) C(xi, 2) same-block pairs; the rest of C(N, 2) are -1.
    (TaskSpec(dim=1, size=32, xi=8), 4 * comb2(8), comb2(32) - 4 * comb2(8)),
    # partial last block of side N mod xi = 6
    (TaskSpec(dim=1, size=30, xi=8), 3 * comb2(8) + comb2(6), comb2(30) - 3 * comb2(8) - comb2(6)),
    # 1D distance, non periodic: N - d pairs at distance d; +1: d < 5 - 1 = 4, -1: d >= 6.
    (TaskSpec(dim=1, size=32, rule="distance", xi=5, gap=2),
     sum(32 - d for d in range(1, 4)), sum(32 - d for d in range(6, 32))),
    # 1D periodic: N pairs at each torus distance 1 <= d < N/2, N/2 pairs at d = N/2.
    (TaskSpec(dim=1, size=32, rule="distance", xi=5, periodic=True),
     32 * 4, 32 * (15 - 4) + 16),
    # 2D block, xi | N: (N / xi)^2 blocks of xi^2 pixels.
    (TaskSpec(dim=2, size=16, xi=4), 16 * comb2(16), comb2(256) - 16 * comb2(16)),
    # 2D block with partial blocks: sides (5, 5, 2) per axis.
    (TaskSpec(dim=2, size=12, xi=5), sum(comb2(a * b) for a in (5, 5, 2) for b in (5, 5, 2)),
     comb2(144) - sum(comb2(a * b) for a in (5, 5, 2) for b in (5, 5, 2))),
    # 2D linf distance d: (N - |dx|)(N - |dy|) ordered pairs per offset; +1 for d < 2.5 - 0.5
    # means the 8 neighbours: 2 (N-1) N horizontal/vertical + 2 (N-1)^2 diagonal unordered pairs.
    (TaskSpec(dim=2, size=10, rule="distance", xi=2.5, norm="linf", gap=1),
     2 * 9 * 10 + 2 * 9 * 9, comb2(100) - (2 * 9 * 10 + 2 * 9 * 9)
     - (2 * 8 * 10 + 2 * 2 * 8 * 9 + 2 * 8 * 8)),  # minus the d = 2 ring (in the gap)
    # stripes: pairs of columns, as 1D
    (TaskSpec(dim=2, size=32, shape="stripes", xi=8), 4 * comb2(8), comb2(32) - 4 * comb2(8)),
]


@pytest.mark.parametrize("task, plus, minus", CLOSED_FORMS)
def test_counts_and_enumeration_equal_closed_forms(task, plus, minus):
    # Expect: class_counts and the enumeration sizes both equal the hand-derived closed forms.
    assert class_counts(task) == (plus, minus)
    pos, y = enumerate_configs(task)
    assert ((y == 1).sum(), (y == -1).sum()) == (plus, minus)


@pytest.mark.parametrize("task", [t for t in TASKS if t.shape != "blobs" and t.size <= 32]
                         + [TaskSpec(dim=2, size=9, rule="distance", xi=3.2, norm="l2", gap=0.5,
                                     periodic=True)])
def test_enumeration_is_every_valid_pair_once(task):
    # Expect: the enumeration equals the brute-force list of unordered pairs with a nonzero naive
    # label, in lexicographic order, with those labels; class_counts agrees with it.
    pos, y = enumerate_configs(task)
    if task.coords == 1:
        sites = [(i,) for i in range(task.size)]
    else:
        sites = [(i, j) for i in range(task.size) for j in range(task.size)]
    if len(sites) <= 100:  # brute force only where a Python loop is cheap
        ref = [(a, b, naive_label(task, a, b)) for k, a in enumerate(sites) for b in sites[k + 1:]]
        ref = [r for r in ref if r[2] != 0]
        assert pos.tolist() == [[list(a), list(b)] for a, b, _ in ref]
        assert y.tolist() == [r[2] for r in ref]
    assert class_counts(task) == ((y == 1).sum(), (y == -1).sum())
    assert len({tuple(p.ravel()) for p in pos}) == len(pos)


def test_enumeration_of_2d_points_up_to_size_32():
    # Expect: N = 32 in 2D enumerates C(1024, 2) = 523776 pairs minus the gap, within MAX_PAIRS.
    task = TaskSpec(dim=2, size=32, rule="distance", xi=8, gap=2)
    assert math.comb(1024, 2) <= MAX_PAIRS
    pos, y = enumerate_configs(task)
    assert sum(class_counts(task)) == len(y)
    assert len(y) < math.comb(1024, 2)


def test_enumeration_sampler_is_uniform_within_each_class():
    # Expect: 30000 samples of the 1D block task N=8, xi=4 hit each of the 12 (+1) and 16 (-1)
    # configurations with equal probability: chi-square p-value above 1e-3 (seeded, so fixed).
    task = TaskSpec(dim=1, size=8, xi=4)
    pos, y = sample_positions(task, 30000, rng=11)
    for c in (1, -1):
        _, counts = np.unique(pos[y == c].reshape(-1, 2), axis=0, return_counts=True)
        assert len(counts) == class_counts(task)[0 if c == 1 else 1]
        assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("task", [
    TaskSpec(dim=1, size=12, rule="distance", xi=3, periodic=True),
    TaskSpec(dim=1, size=12, rule="distance", xi=3.5, gap=1),
    TaskSpec(dim=2, size=6, rule="distance", xi=2.5, norm="l2"),
    TaskSpec(dim=2, size=6, rule="block", xi=3),
    TaskSpec(dim=2, size=7, rule="distance", xi=2, norm="linf", periodic=True),
])
def test_rejection_sampler_is_uniform_over_every_valid_pair(task):
    # Expect: the rejection sampler (used for large tasks and blobs) reaches every valid
    # configuration of the class and no other, uniformly (chi-square p > 1e-3, seeded).
    rng = np.random.default_rng(12)
    enum_pos, enum_y = enumerate_configs(task)
    for c in (1, -1):
        n_c = int((enum_y == c).sum())
        got = _rejection(task, c, 60 * n_c, rng)
        keys, counts = np.unique(got.reshape(len(got), -1), axis=0, return_counts=True)
        assert np.array_equal(keys, enum_pos[enum_y == c].reshape(n_c, -1))
        assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("periodic", [False, True])
def test_continuous_sampler_distance_law(periodic):
    # Uniform pairs in [0, N)^2 have distance density proportional to N - d (periodic: uniform
    # on [0, N/2]), so the +1 class (d < r) has mean distance r (3N - 2r) / (3 (2N - r))
    # (periodic: r / 2). Expect the sample mean within 3 standard errors.
    N, r = 32, 6.0
    task = TaskSpec(dim=1, size=N, shape="blobs", rule="distance", xi=r, periodic=periodic)
    pos, y = sample_positions(task, 20000, rng=13)
    d = np.abs(pos[y == 1, 0, 0] - pos[y == 1, 1, 0])
    if periodic:
        d = np.minimum(d, N - d)
    expected = r / 2 if periodic else r * (3 * N - 2 * r) / (3 * (2 * N - r))
    assert abs(d.mean() - expected) < 3 * d.std() / np.sqrt(len(d))
    assert d.max() < r


def test_render_points_and_stripes_amplitude_and_place():
    # Points: one pixel of value sqrt(N^dim / 2) per feature, mean x^2 = 1 exactly; stripes: a
    # full column of sqrt(N / 2). The active pixels sit exactly at the positions.
    for task in [TaskSpec(dim=1, size=32, xi=8), TaskSpec(dim=2, size=16, xi=4),
                 TaskSpec(dim=2, size=16, shape="stripes", xi=4)]:
        b = sample(task, 40, rng=2)
        x = b.images.astype(np.float64)
        assert b.images.dtype == np.float32 and b.images.shape == (40,) + task.image_shape
        assert np.allclose((x**2).mean(axis=tuple(range(1, x.ndim))), 1.0, rtol=1e-6)
        for img, p in zip(x, b.positions, strict=True):
            if task.shape == "stripes":
                cols = np.flatnonzero(img[0, 0])
                assert cols.tolist() == sorted(p[:, 0].astype(int).tolist())
                assert np.allclose(img[0][:, cols], np.sqrt(task.size / 2))
            else:
                active = np.argwhere(img[0] != 0)
                assert active.tolist() == p.astype(int).tolist()
                assert np.allclose(img[0][tuple(active.T)], np.sqrt(task.size**task.dim / 2))


def test_render_blobs_normalised_periodic_and_additive():
    # Each bump has sum of squares N^dim / 2; two bumps at the same centre add (sum of squares
    # 4 N^dim / 2 = 2 N^dim exactly); on a periodic task a bump at 0 is symmetric under
    # x -> -x mod N (it wraps).
    for dim in (1, 2):
        task = TaskSpec(dim=dim, size=16, shape="blobs", xi=4, blob_width=1.5, periodic=True)
        c = np.array([[[3.3] * dim, [3.3] * dim], [[0.0] * dim, [0.0] * dim]])
        x = render(task, c).astype(np.float64)
        assert np.allclose((x**2).sum(axis=tuple(range(1, x.ndim))), 2 * 16**dim, rtol=1e-6)
        img = x[1, 0]
        flipped = np.roll(np.flip(img, axis=tuple(range(dim))), 1, axis=tuple(range(dim)))
        assert np.allclose(img, flipped, rtol=1e-6)
        assert np.unravel_index(np.argmax(x[0, 0]), x[0, 0].shape) == (3,) * dim
    # a very narrow blob between pixels does not underflow to an empty image
    narrow = TaskSpec(dim=1, size=16, shape="blobs", xi=4, blob_width=0.02)
    x = render(narrow, np.array([[[2.5], [9.5]]]))
    assert np.isclose((x.astype(np.float64) ** 2).sum(), 16, rtol=1e-6)


def expect_error(name, fn, *args, **kwargs):
    # the parameter is the subject of "<name> must <constraint>" (alone or with the one it is
    # checked against: "xi and gap must ...") and its value is echoed: "; got <name>=<value>"
    n = re.escape(name)
    pattern = rf"^([\w.]+ and )?{n}( and [\w.]+)? must .+; got (.+, )?{n}="
    with pytest.raises(ScaleDetectError, match=pattern):
        fn(*args, **kwargs)


def test_invalid_parameters_name_the_parameter():
    # Expect: each invalid input raises ScaleDetectError whose message names the parameter.
    expect_error("xi", TaskSpec, dim=1, size=16, xi=40)
    expect_error("xi", TaskSpec, dim=1, size=16, xi=0.5)
    expect_error("xi", TaskSpec, size=16, xi=2.5)  # block needs an integer xi
    expect_error("dim", TaskSpec, dim=3)
    expect_error("dim", TaskSpec, dim=1, shape="stripes")
    expect_error("shape", TaskSpec, shape="squares")
    expect_error("rule", TaskSpec, rule="angle")
    expect_error("norm", TaskSpec, norm="l1")
    expect_error("size", TaskSpec, size=1)
    expect_error("gap", TaskSpec, gap=-1)
    expect_error("blob_width", TaskSpec, blob_width=0)
    # a class with no valid configuration
    expect_error("xi", sample_positions, TaskSpec(size=16, xi=16), 4)  # one block: no -1
    expect_error("xi", sample_positions, TaskSpec(size=16, xi=1), 4)  # 1-pixel blocks: no +1
    expect_error("gap", sample_positions, TaskSpec(size=16, rule="distance", xi=3, gap=4), 4)
    expect_error("xi", enumerate_configs, TaskSpec(size=16, rule="distance", xi=16))
    expect_error("xi", sample_positions,
                 TaskSpec(size=16, shape="blobs", rule="distance", xi=8, periodic=True), 4)
    expect_error("xi", sample_positions, TaskSpec(size=16, shape="blobs", xi=16), 4)
    task = TaskSpec(size=16, xi=4)
    expect_error("n", sample_positions, task, -1)
    expect_error("shape", enumerate_configs, TaskSpec(size=16, shape="blobs", xi=4))
    expect_error("shape", class_counts, TaskSpec(size=16, shape="blobs", xi=4))
    expect_error("size", enumerate_configs, TaskSpec(dim=2, size=64, xi=4))
    expect_error("positions", render, task, np.array([[[1.5], [3.0]]]))
    expect_error("positions", render, task, np.array([[[1.0], [16.0]]]))
    expect_error("positions.shape", labels, task, np.zeros((3, 2)))
    expect_error("positions.shape", labels, TaskSpec(dim=2, size=16, xi=4), np.zeros((3, 2, 1)))


@st.composite
def valid_tasks(draw):
    dim = draw(st.sampled_from([1, 2]))
    shape = draw(st.sampled_from(["points", "blobs"] + (["stripes"] if dim == 2 else [])))
    size = draw(st.integers(8, 40 if dim == 1 else 20))
    rule = draw(st.sampled_from(["block", "distance"]))
    if rule == "block":
        xi = draw(st.integers(2, size - 1))
        return TaskSpec(dim=dim, size=size, shape=shape, rule=rule, xi=xi)
    periodic = draw(st.booleans())
    xi = draw(st.floats(2.0, size / 2 - 1.5))
    gap = draw(st.sampled_from([0.0, 0.5, 1.0]))
    norm = draw(st.sampled_from(["l2", "linf"]))
    return TaskSpec(dim=dim, size=size, shape=shape, rule=rule, xi=xi, gap=gap, norm=norm,
                    periodic=periodic, blob_width=draw(st.floats(0.3, 3.0)))


@settings(max_examples=40, deadline=None)
@given(task=valid_tasks(), seed=st.integers(0, 2**16))
def test_property_labels_and_balance_for_random_valid_tasks(task, seed):
    # Expect, for any valid task: 10 samples of each class, every label equal to the naive rule,
    # rendering finite float32 images of the right shape.
    b = sample(task, 20, rng=seed)
    assert (b.labels == 1).sum() == 10
    assert [naive_label(task, a, c) for a, c in b.positions] == b.labels.tolist()
    assert b.images.shape == (20,) + task.image_shape and np.isfinite(b.images).all()


def test_rejection_gives_up_with_a_clear_error(monkeypatch):
    # A class too rare for the proposal budget is an error naming xi, not an endless loop:
    # with a budget of 1000 proposals, the 1D block task N = 4096, xi = 4095 (-1 pairs are a
    # fraction 2 * 4095 / (4096 * 4095) = 5e-4 of all pairs) cannot collect 1000 -1 samples.
    monkeypatch.setattr("scaledetect.tasks.configs.MAX_PROPOSALS", 1000)
    with pytest.raises(ScaleDetectError, match="xi"):
        sample_positions(TaskSpec(dim=1, size=4096, xi=4095), 2000, rng=0)
