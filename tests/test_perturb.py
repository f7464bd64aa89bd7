"""Perturbations: shift with undo rules, max-entropy fields and deformation, matched noise."""

import math
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scaledetect import Perturbation, ScaleDetectError
from scaledetect.perturb import (
    GAUSSIAN_SIGMA,
    default_temperature,
    deform,
    diffeo,
    displacement_rms,
    matched_eta,
    matched_noise,
    maxent_field,
    noise_sigma,
    shift,
    shift_acceptance,
    shift_outcomes,
    temperature_range,
    typical_displacement,
)
from scaledetect.tasks import TaskSpec, enumerate_configs, labels, render, sample

SHIFT_TASKS = [
    TaskSpec(dim=1, size=16, xi=4),
    TaskSpec(dim=1, size=16, rule="distance", xi=4.5, gap=1),
    TaskSpec(dim=2, size=8, xi=3),
    TaskSpec(dim=2, size=8, rule="distance", xi=3, norm="l2", periodic=True),
    TaskSpec(dim=2, size=8, rule="distance", xi=2.5, norm="linf", gap=1),
    TaskSpec(dim=2, size=16, shape="stripes", xi=4),
]
IDS = [f"{t.dim}d-{t.shape}-{t.rule}" for t in SHIFT_TASKS]


@pytest.mark.parametrize("task", SHIFT_TASKS, ids=IDS)
def test_shift_keeps_label_never_merges_and_moves_one_pixel_or_not(task):
    # Expect on every configuration of the task: label unchanged (so features never coincide or
    # leave the image: both give label 0), each feature moved by exactly one pixel (L1) exactly
    # when `moved` says so, positions stay inside [0, N).
    pos, y = enumerate_configs(task)
    new, moved = shift(task, pos, rng=0)
    assert np.array_equal(labels(task, new), y)
    assert np.all(np.any(new[:, 0] != new[:, 1], axis=1))
    step = np.abs(new - pos).sum(-1)
    assert set(np.unique(step)) <= {0.0, 1.0}
    assert np.array_equal(step == 1, moved)
    assert np.all((new >= 0) & (new < task.size))
    assert 0 < moved.mean() < 1


@pytest.mark.parametrize("task", SHIFT_TASKS, ids=IDS)
def test_shift_outcomes_are_each_a_valid_sequential_move(task):
    # Expect: m = 4 (1D, stripes) or 16 (2D points) outcomes of probability 1/m, each one a
    # label-preserving result where each feature moved by 0 or 1 pixel along the step drawn.
    pos, y = enumerate_configs(task)
    out, prob = shift_outcomes(task, pos)
    m = 4 if task.coords == 1 else 16
    assert out.shape == (len(pos), m, 2, task.coords) and np.allclose(prob, 1 / m)
    flat = out.reshape(-1, 2, task.coords)
    assert np.array_equal(labels(task, flat), np.repeat(y, m))
    assert set(np.unique(np.abs(out - pos[:, None]).sum(-1))) <= {0.0, 1.0}


def test_shift_is_distributed_as_shift_outcomes():
    # Expect: repeating `shift` 3000 times on each of 6 configurations of a 2D task gives outcome
    # frequencies consistent with `shift_outcomes` (pooled chi-square, p > 1e-3, seeded).
    task = TaskSpec(dim=2, size=6, rule="distance", xi=2.5, norm="l2")
    pos, _ = enumerate_configs(task)
    pick = pos[np.random.default_rng(0).choice(len(pos), 6, replace=False)]
    reps = 3000
    new, _ = shift(task, np.repeat(pick, reps, axis=0), rng=1)
    out, prob = shift_outcomes(task, pick)
    chi2, dof = 0.0, 0
    for i in range(len(pick)):
        exact = Counter()
        for o, p in zip(out[i], prob[i], strict=True):
            exact[tuple(o.ravel())] += p
        seen = Counter(tuple(o.ravel()) for o in new[i * reps:(i + 1) * reps])
        assert set(seen) <= set(exact)
        for key, p in exact.items():
            chi2 += (seen[key] - reps * p) ** 2 / (reps * p)
        dof += len(exact) - 1
    assert stats.chi2.sf(chi2, dof) > 1e-3


@pytest.mark.parametrize("task", [SHIFT_TASKS[0], SHIFT_TASKS[2], SHIFT_TASKS[5]], ids=str)
def test_shift_acceptance_rate_matches_exact_value(task):
    # Expect: the fraction of features moved by `shift` on a 20000-sample batch equals the exact
    # expectation from `shift_outcomes` for that batch within 3 standard errors, and the
    # distribution-level value (class-balanced) within 3 s.e. of the batch's.
    rng = np.random.default_rng(4)
    b = sample(task, 20000, rng)
    _, moved = shift(task, b.positions, rng)
    per = moved.mean(1)
    se = per.std() / np.sqrt(len(per))
    assert abs(per.mean() - shift_acceptance(task, b.positions)) < 3 * se
    assert abs(per.mean() - shift_acceptance(task)) < 3 * se


def test_shift_acceptance_equals_hand_written_sequential_rule():
    # Expect: the exact acceptance of the +1 class of the 1D block task (N = 16, xi = 8), from
    # shift_outcomes, equals a plain loop over the 4 equally likely direction pairs applying the
    # rule by hand (first feature then second; refused if it leaves the block or the image or
    # lands on the other feature), to 1e-12.
    task = TaskSpec(dim=1, size=16, xi=8)
    pos, y = enumerate_configs(task)
    plus = pos[y == 1]
    manual = []
    for a, b in plus[:, :, 0].astype(int).tolist():
        total = 0.0
        for s1 in (1, -1):
            for s2 in (1, -1):
                a1 = a + s1 if (0 <= a + s1 < 16 and (a + s1) // 8 == b // 8 and a + s1 != b) else a
                b1 = b + s2 if (0 <= b + s2 < 16 and (b + s2) // 8 == a1 // 8 and b + s2 != a1) \
                    else b
                total += (int(a1 != a) + int(b1 != b)) / 2 / 4
        manual.append(total)
    assert np.isclose(shift_acceptance(task, plus), np.mean(manual), rtol=1e-12)


def test_blob_shift_moves_by_delta_or_not():
    # Expect: each blob moves by exactly delta (any direction in 2D, +-delta in 1D) or stays,
    # the label never changes, centres stay in [0, N), some but not all moves are refused.
    for task in [TaskSpec(dim=1, size=16, shape="blobs", xi=4),
                 TaskSpec(dim=2, size=16, shape="blobs", rule="distance", xi=4, gap=1)]:
        b = sample(task, 4000, rng=6)
        new, moved = shift(task, b.positions, rng=7, delta=0.7)
        length = np.linalg.norm(new - b.positions, axis=-1)
        assert np.allclose(length[moved], 0.7) and np.all(length[~moved] == 0)
        assert np.array_equal(labels(task, new), b.labels)
        assert np.all((new >= 0) & (new < task.size)) and 0.5 < moved.mean() < 1
        if task.dim == 2:  # directions uniform: mean of cos(angle) ~ 0 within 3 s.e.
            step = (new - b.positions)[moved]
            cos = step[:, 0] / 0.7
            assert abs(cos.mean()) < 3 * cos.std() / np.sqrt(len(cos))


@settings(max_examples=30, deadline=None)
@given(dim=st.sampled_from([1, 2]), size=st.integers(5, 24), shape=st.sampled_from(
    ["points", "stripes", "blobs"]), rule=st.sampled_from(["block", "distance"]),
    frac=st.floats(0.2, 0.4), periodic=st.booleans(), seed=st.integers(0, 1000))
def test_property_shift_never_changes_a_label(dim, size, shape, rule, frac, periodic, seed):
    if shape == "stripes":
        dim = 2
    xi = max(2, round(frac * size)) if rule == "block" else max(2.0, frac * size)
    task = TaskSpec(dim=dim, size=size, shape=shape, rule=rule, xi=xi, periodic=periodic)
    b = sample(task, 30, rng=seed)
    new, moved = shift(task, b.positions, rng=seed + 1)
    assert np.array_equal(labels(task, new), b.labels)
    assert np.array_equal(np.any(new != b.positions, axis=-1), moved)


# ---------------------------------------------------------------- maxent


def test_temperature_range_and_typical_displacement_published_formulas():
    # Petrini et al.: T1 = 1/(pi N^2 ln c) makes the typical displacement 1/2 pixel, and
    # T2 = 4/(pi^3 c^2 ln c) makes it N/(pi c); typical = N sqrt(pi T ln c) / 2.
    N, c = 32, 3.0
    t1, t2 = temperature_range(N, c)
    assert np.isclose(t1, 1 / (math.pi * N**2 * math.log(c)), rtol=1e-14)
    assert np.isclose(t2, 4 / (math.pi**3 * c**2 * math.log(c)), rtol=1e-14)
    assert np.isclose(typical_displacement(t1, c, N), 0.5, rtol=1e-14)
    assert np.isclose(typical_displacement(t2, c, N), N / (math.pi * c), rtol=1e-14)
    # 32 sqrt(pi 0.01 ln 3) / 2 = 2.97244... (ln 3 = 1.098612, pi * 0.01 * ln 3 = 0.0345139)
    assert np.isclose(typical_displacement(0.01, 3, 32), 2.97244, rtol=1e-5)
    assert np.isclose(default_temperature(N, c), math.sqrt(t1 * t2), rtol=1e-14)


def _centre_mode_sum(c: float) -> float:
    """S(c) = sum over kept modes (i^2 + j^2 < (c + 1/2)^2) of sin^2(pi i/2) sin^2(pi j/2) /
    (i^2 + j^2): at the image centre (u = 1/2) only odd i, j count. Written out from SPEC
    section 3, independently of the module (which sums a mode array)."""
    i = np.arange(1, int(c) + 2)
    odd = i[i % 2 == 1].astype(float)
    r2 = odd[:, None] ** 2 + odd[None, :] ** 2
    return float(np.sum(np.where(r2 < (c + 0.5) ** 2, 1 / r2, 0.0)))


def test_typical_over_exact_ratios_documented():
    # One displacement component at the centre has variance N^2 T S(c) (its sine-series
    # coefficients are independent N(0, T / (i^2 + j^2))), so typical / rms =
    # sqrt(pi ln c / 4) / sqrt(S(c)), e.g. c = 3: S = 1/2 + 2/10 = 0.7, ratio = 1.1103. Checked:
    # displacement_rms against N sqrt(T S(c)) to 1e-12; the ratios typical_displacement's
    # docstring states (3 decimals) against this formula; their limit sqrt(2) (S ~ (pi/8) ln c)
    # approached from below; and the vector length sqrt(2) x one component.
    N, T = 32, 0.01  # centre (N - 1)/2 = 15.5 is u = 1/2 exactly
    stated = {3: 1.110, 15: 1.311, 100: 1.354}
    stated_vector = {3: 0.785, 15: 0.927, 100: 0.958}
    ratios = {}
    for c in (3, 15, 100, 1000):
        S = _centre_mode_sum(c)
        assert displacement_rms(T, c, N) == pytest.approx(N * math.sqrt(T * S), rel=1e-12)
        ratios[c] = math.sqrt(math.pi * math.log(c) / 4 / S)
        assert typical_displacement(T, c, N) / displacement_rms(T, c, N) == \
            pytest.approx(ratios[c], rel=1e-12)
    assert _centre_mode_sum(3) == pytest.approx(0.7, rel=1e-15)
    for c, value in stated.items():
        assert abs(ratios[c] - value) < 6e-4, (c, ratios[c])
        assert abs(ratios[c] / math.sqrt(2) - stated_vector[c]) < 6e-4, (c, ratios[c])
    seq = [ratios[c] for c in (3, 15, 100, 1000)]
    assert seq == sorted(seq) and seq[-1] < math.sqrt(2)


@pytest.mark.parametrize("dim, at", [(1, None), (1, (5,)), (2, None), (2, (5, 20))])
def test_field_variance_equals_mode_sum(dim, at):
    # Expect: over 4000 fields, the mean of tau_c(at)^2 (tau has mean 0) equals the exact mode
    # sum displacement_rms^2 within 3 standard errors, for each component; N = 33 puts the
    # centre on pixel 16, i.e. u = 1/2 exactly.
    N, T, cut = 33, 0.004, 4.0
    f = maxent_field(dim, N, 4000, T, cut, rng=8)
    where = (16,) * dim if at is None else at
    exact = displacement_rms(T, cut, N, at=at, dim=dim) ** 2
    for comp in range(dim):
        v = f[(slice(None), comp) + tuple(where)] ** 2
        assert abs(v.mean() - exact) < 3 * v.std() / np.sqrt(len(v))


def test_field_vanishes_on_border_and_scales_with_sqrt_t():
    # sin(pi k u) = 0 at u = 0 and u = 1: every component is 0 on every border (to 1e-12 px);
    # the same seed at 4x the temperature gives exactly 2x the field.
    f = maxent_field(2, 16, 5, 0.01, 5, rng=9)
    for border in (f[..., 0, :], f[..., -1, :], f[..., :, 0], f[..., :, -1]):
        assert np.abs(border).max() < 1e-12
    assert np.allclose(maxent_field(2, 16, 5, 0.04, 5, rng=9), 2 * f, rtol=1e-12)
    assert np.abs(maxent_field(1, 16, 5, 0.01, 5, rng=9)[..., [0, -1]]).max() < 1e-12


# Modes kept by the max-entropy cutoff rule i^2 + j^2 < (c + 1/2)^2 (1D: i < c + 1/2), listed
# by hand. The neighbouring rules differ on each: i^2 + j^2 <= c^2 keeps 4 modes at c = 3 (not
# (1, 3), (3, 1)) and < (c + 1)^2 keeps 8 (adds (2, 3), (3, 2)); c = 2.6 drops (1, 3) (10 > 9.61);
# c = 4 keeps (2, 4), (4, 2) (20 < 20.25) but not (3, 4) (25).
KEPT_MODES = {
    (2, 3.0): {(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1)},
    (2, 2.6): {(1, 1), (1, 2), (2, 1), (2, 2)},
    (2, 4.0): {(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3), (3, 2), (1, 4), (4, 1),
               (3, 3), (2, 4), (4, 2)},
    (1, 3.0): {(1,), (2,), (3,)},
    (1, 2.4): {(1,), (2,)},
}


def _sine_coefficients(field, size):
    """Coefficients C of ``field = size * sum_k C_k prod_c sin(pi k_c u_c)``, by the discrete sine
    transform on the size - 2 interior pixels (u = x / (size - 1)): the sines of modes
    1..size-2 are orthogonal there, sum_x sin(pi k x / L1) sin(pi m x / L1) = L1/2 delta_km."""
    l1 = size - 1
    x = np.arange(1, l1)
    basis = np.sin(np.pi * np.outer(x, x) / l1) * (2 / l1)  # (pixel, mode), rows x = 1..L1-1
    inner = field[..., 1:-1] if field.ndim == 3 else field[..., 1:-1, 1:-1]
    if field.ndim == 3:
        return inner @ basis / size  # (n, 1, modes)
    return np.einsum("ncxy,xi,yj->ncij", inner, basis, basis) / size


@pytest.mark.parametrize("dim, cut", sorted(KEPT_MODES))
def test_maxent_cutoff_keeps_exactly_the_modes_inside_the_circle(dim, cut):
    # Expect: (1) the fields contain exactly the hand-listed modes (others 0 to 1e-9 of the
    # largest); (2) each kept coefficient has variance T / |k|^2: z = C^2 |k|^2 / T is chi-square
    # with 1 degree of freedom (mean 1, variance 2), so its mean over 1000 fields x dim
    # components lies within 4 s.e. = 4 sqrt(2 / samples) of 1; (3) the total field variance
    # sum_pixels E tau^2 = N^2 T sum_kept |k|^-2 ((N - 1) / 2)^dim, from the hand list, within
    # 4 s.e. of the mean over the fields.
    N, T, n = 16, 0.003, 1000
    f = maxent_field(dim, N, n, T, cut, rng=31)
    c = _sine_coefficients(f, N)
    rms = np.sqrt((c**2).mean(axis=(0, 1)))
    kept = {tuple(int(i) + 1 for i in k) for k in zip(*np.nonzero(rms > 1e-9 * rms.max()),
                                                       strict=True)}
    assert kept == KEPT_MODES[(dim, cut)]
    for k in kept:
        z = c[(slice(None), slice(None)) + tuple(i - 1 for i in k)] ** 2 * sum(np.square(k)) / T
        assert abs(z.mean() - 1) < 4 * np.sqrt(2 / z.size), (k, z.mean())
    total = (f**2).sum(axis=tuple(range(2, 2 + dim)))  # (n, dim) per field and component
    expect = N**2 * T * sum(1 / sum(np.square(k)) for k in kept) * ((N - 1) / 2) ** dim
    assert abs(total.mean() - expect) < 4 * total.std() / np.sqrt(total.size)


def naive_deform(img, field, interp):
    """Per-pixel reference of out(x) = img(x - tau(x)), source clamped to [0, N-1] (2D)."""
    N = img.shape[-1]
    out = np.zeros_like(img, dtype=np.float64)
    for r in range(N):
        for c in range(N):
            sr = min(max(r - field[0, r, c], 0), N - 1)
            sc = min(max(c - field[1, r, c], 0), N - 1)
            if interp == "nearest":
                out[r, c] = img[int(np.rint(sr)), int(np.rint(sc))]
            elif interp == "linear":
                r0, c0 = math.floor(sr), math.floor(sc)
                fr, fc = sr - r0, sc - c0
                r1, c1 = min(r0 + 1, N - 1), min(c0 + 1, N - 1)
                out[r, c] = ((1 - fr) * (1 - fc) * img[r0, c0] + (1 - fr) * fc * img[r0, c1]
                             + fr * (1 - fc) * img[r1, c0] + fr * fc * img[r1, c1])
            else:  # untruncated Gaussian weights over the whole image
                rr, cc = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
                w = np.exp(-((rr - sr) ** 2 + (cc - sc) ** 2) / (2 * GAUSSIAN_SIGMA**2))
                out[r, c] = (w * img).sum() / w.sum()
    return out


@pytest.mark.parametrize("interp", ["linear", "nearest", "gaussian"])
def test_deform_matches_per_pixel_reference(interp):
    # Expect: deform equals the per-pixel loop to 1e-10 (float64), for 3 random images and
    # large random fields (several pixels, exercising the clamped border).
    rng = np.random.default_rng(10)
    N = 9
    x = rng.standard_normal((3, 1, N, N))
    f = 3 * rng.standard_normal((3, 2, N, N))
    got = deform(x, f, interp)
    for i in range(3):
        assert np.allclose(got[i, 0], naive_deform(x[i, 0], f[i], interp), atol=1e-10)
    # 1D is the 2D map on images constant along the other axis with zero field there
    x1 = x[:, :, :, 0]
    f1 = f[:, :1, :, 0]
    f2 = np.stack([np.repeat(f1[:, 0, :, None], N, 2), np.zeros((3, N, N))], 1)
    wide = deform(np.repeat(x1[..., None], N, -1), f2, interp)
    # (gaussian: the weights along the constant axis sum to 1, so they drop out)
    assert np.allclose(deform(x1, f1, interp), wide[..., N // 2], atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(dim=st.sampled_from([1, 2]), size=st.integers(2, 12), channels=st.integers(1, 3),
       interp=st.sampled_from(["linear", "nearest"]), seed=st.integers(0, 1000))
def test_property_zero_field_is_identity(dim, size, channels, interp, seed):
    x = np.random.default_rng(seed).standard_normal((2, channels) + (size,) * dim)
    assert np.array_equal(deform(x, np.zeros((2, dim) + (size,) * dim), interp), x)


def test_gaussian_interpolation_smooths_at_zero_field():
    # Documented: a zero field with gaussian interpolation keeps weight 1/(1 + 2 e^{-1/(2 s^2)} +
    # 2 e^{-4/(2 s^2)} + ...) = 0.8256 at an interior pixel in 1D (s = 0.4715).
    x = np.zeros((1, 1, 15))
    x[0, 0, 7] = 1.0
    y = deform(x, np.zeros((1, 1, 15)), "gaussian")
    w = np.exp(-np.arange(-7, 8) ** 2 / (2 * GAUSSIAN_SIGMA**2))
    assert np.isclose(y[0, 0, 7], 1 / w.sum(), rtol=1e-10) and np.isclose(y[0, 0, 7], 0.8256,
                                                                           atol=1e-4)


# ---------------------------------------------------------------- noise


def test_batch_matched_noise_norm():
    # Expect: mean ||eta||^2 over the batch equals mean ||tau x - x||^2 within 3 s.e.
    task = TaskSpec(dim=2, size=16, xi=4)
    b = sample(task, 3000, rng=11)
    tx = diffeo(task, Perturbation(), b.images, b.positions, rng=12)
    noisy = matched_noise(b.images, tx, "batch", rng=13)
    eta2 = ((noisy.astype(np.float64) - b.images) ** 2).sum((1, 2, 3))
    change2 = ((tx.astype(np.float64) - b.images) ** 2).sum((1, 2, 3))
    assert abs(eta2.mean() - change2.mean()) < 3 * eta2.std() / np.sqrt(len(eta2))
    sigma = noise_sigma(b.images, tx)
    assert np.isclose(sigma**2, change2.mean() / 256, rtol=1e-12)
    # a given sigma is used as is: ||eta||^2 / (N^2 sigma^2) ~ 1 within 3 s.e.
    fixed = matched_noise(b.images, tx, "batch", rng=14, sigma=0.1)
    r = ((fixed.astype(np.float64) - b.images) ** 2).sum((1, 2, 3)) / (256 * 0.01)
    assert abs(r.mean() - 1) < 3 * r.std() / np.sqrt(len(r))


def test_matched_noise_is_one_float32_draw_and_one_float32_sum():
    # Expect: batch eta = float32(sigma) * g with g = standard_normal(dtype=float32) from the
    # given seed, bit for bit; the noisy image is x + eta summed once in float32 (float32 x).
    task = TaskSpec(dim=2, size=16, xi=4)
    b = sample(task, 20, rng=3)
    tx = diffeo(task, Perturbation(), b.images, b.positions, rng=4)
    eta = matched_eta(b.images, tx, "batch", rng=5, sigma=0.3)
    g = np.random.default_rng(5).standard_normal(b.images.shape, dtype=np.float32)
    assert eta.dtype == np.float32 and np.array_equal(eta, np.float32(0.3) * g)
    noisy = matched_noise(b.images, tx, "batch", rng=5, sigma=0.3)
    assert noisy.dtype == np.float32 and np.array_equal(noisy, b.images + eta)


@pytest.mark.parametrize("diffeo_name", ["shift", "maxent"])
def test_sample_matched_noise_norm_exact(diffeo_name):
    # Expect: ||eta_i|| = ||tau x_i - x_i|| to 1e-6 relative for every sample (float32 output).
    task = TaskSpec(dim=2, size=16, shape="blobs", rule="distance", xi=5, blob_width=1.5)
    b = sample(task, 200, rng=15)
    tx = diffeo(task, Perturbation(diffeo=diffeo_name), b.images, b.positions, rng=16)
    noisy = matched_noise(b.images, tx, "sample", rng=17)
    eta = np.linalg.norm((noisy.astype(np.float64) - b.images).reshape(200, -1), axis=1)
    change = np.linalg.norm((tx.astype(np.float64) - b.images).reshape(200, -1), axis=1)
    assert noisy.dtype == np.float32
    assert np.allclose(eta, change, rtol=1e-6, atol=0)


def test_diffeo_dispatch():
    # shift: exactly the re-rendered shifted positions (same seed); maxent at T = 0 with linear
    # interpolation: the identity; temperature None: default_temperature.
    task = TaskSpec(dim=2, size=16, xi=4)
    b = sample(task, 50, rng=18)
    got = diffeo(task, Perturbation(), b.images, b.positions, rng=19)
    assert np.array_equal(got, render(task, shift(task, b.positions, rng=19)[0]))
    same = diffeo(task, Perturbation(diffeo="maxent", temperature=1e-300), b.images, b.positions,
                  rng=20)
    assert np.array_equal(same, b.images) and same.dtype == np.float32
    auto = diffeo(task, Perturbation(diffeo="maxent"), b.images, b.positions, rng=21)
    field = maxent_field(2, 16, 50, default_temperature(16, 3.0), 3.0, rng=21)
    assert np.allclose(auto, deform(b.images, field, "linear"), atol=1e-6)


def expect_error(name, fn, *args, **kwargs):
    # the parameter is the subject of "<name> must <constraint>" (alone or with the one it is
    # checked against: "xi and gap must ...") and its value is echoed: "; got <name>=<value>"
    n = re.escape(name)
    pattern = rf"^([\w.]+ and )?{n}( and [\w.]+)? must .+; got (.+, )?{n}="
    with pytest.raises(ScaleDetectError, match=pattern):
        fn(*args, **kwargs)


def test_invalid_parameters_name_the_parameter():
    task = TaskSpec(dim=1, size=16, xi=4)
    blobs = TaskSpec(dim=1, size=16, shape="blobs", xi=4)
    good = np.array([[[1.0], [2.0]]])
    expect_error("positions", shift, task, np.array([[[1.0], [1.0]]]))  # coinciding: label 0
    expect_error("positions", shift, task, np.array([[[1.0], [20.0]]]))  # outside the image
    expect_error("positions.shape", shift, task, np.zeros((2, 2)))
    expect_error("shape", shift_outcomes, blobs, good)
    expect_error("shape", shift_acceptance, blobs)
    expect_error("delta", shift, blobs, good, 0, delta=0)
    expect_error("dim", maxent_field, 3, 16, 2, 0.01, 3)
    expect_error("size", maxent_field, 1, 1, 2, 0.01, 3)
    expect_error("cutoff", maxent_field, 1, 16, 2, 0.01, 0.5)
    expect_error("temperature", maxent_field, 1, 16, 2, -1.0, 3)
    expect_error("n", maxent_field, 1, 16, -2, 0.01, 3)
    expect_error("cutoff", temperature_range, 16, 1.0)
    expect_error("temperature", displacement_rms, -1.0, 3, 16)
    expect_error("dim", displacement_rms, 0.01, 3, 16, dim=3)
    expect_error("interp", deform, np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), "cubic")
    expect_error("field.shape", deform, np.zeros((1, 1, 4)), np.zeros((1, 2, 4)))
    expect_error("images.shape", deform, np.zeros((1, 1, 4, 5)), np.zeros((1, 2, 4, 5)))
    expect_error("match", matched_noise, np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), "pixel")
    expect_error("deformed.shape", noise_sigma, np.zeros((2, 1, 4)), np.zeros((2, 1, 5)))
    expect_error("sigma", matched_noise, np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), sigma=-1.0)
    expect_error("images.shape", diffeo, task, Perturbation(), np.zeros((1, 1, 8)), good)
    expect_error("diffeo", Perturbation, diffeo="rotate")
    expect_error("interp", Perturbation, interp="cubic")
    expect_error("noise_match", Perturbation, noise_match="pixel")
    expect_error("cutoff", Perturbation, cutoff=0.5)
    expect_error("temperature", Perturbation, temperature=0)
