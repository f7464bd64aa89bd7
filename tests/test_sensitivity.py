"""Tests of ``scaledetect.sensitivity.measure`` (SPEC section 5).

Tolerances: exact identities of float64 arithmetic 1e-9 relative; float32 images 1e-6 relative;
Monte Carlo against exact enumeration 3 standard errors; coverage of the 1.96 s.e. interval
>= 88% over 50 seeds.
"""

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from tolerances import family_nsigma

from scaledetect import NetSpec, Perturbation, ScaleDetectError, TaskSpec
from scaledetect.nn import init_cnn, pooling_net
from scaledetect.perturb import noise
from scaledetect.sensitivity import measure, probe

# --------------------------------------------------------------------------- references


def exact_pooling_D(N, xi, depth):
    """Exact D_0..D_depth of the 1D strided pooling net (F = s = 2), block rule, points.

    Independent of scaledetect: enumerates every configuration i < j, the four equally likely
    sequential moves (first feature, then second; a move leaving the image, merging the features
    or leaving the feature's own block is undone), renders with amplitude sqrt(N/2), and pools
    by block means (ReLU is the identity on non-negative inputs). Class-balanced weights: each
    class has mass 1/2.
    """
    a = np.sqrt(N / 2)
    same = lambda p, q: p // xi == q // xi  # noqa: E731
    cfgs = list(itertools.combinations(range(N), 2))
    ys = [same(i, j) for i, j in cfgs]
    n_plus = sum(ys)
    w = np.array([1 / (2 * n_plus) if y else 1 / (2 * (len(cfgs) - n_plus)) for y in ys])

    def img(p):
        x = np.zeros(N)
        x[p[0]] += a
        x[p[1]] += a
        return x

    X, XM = [], []
    for i, j in cfgs:
        outs = []
        for s1, s2 in itertools.product((1, -1), repeat=2):
            cur = [i, j]
            for f, s in ((0, s1), (1, s2)):
                t = list(cur)
                t[f] += s
                if 0 <= t[f] < N and t[0] != t[1] and same(t[f], cur[f]):
                    cur = t
            outs.append(img(cur))
        X.append(img((i, j)))
        XM.append(outs)
    X, XM = np.array(X), np.array(XM)
    D = []
    for k in range(depth + 1):
        f = X.reshape(len(X), N >> k, 1 << k).mean(-1)
        fm = XM.reshape(len(X), 4, N >> k, 1 << k).mean(-1)
        num = np.sum(w * ((fm - f[:, None]) ** 2).sum(-1).mean(1))
        den = 2 * (np.sum(w * (f**2).sum(1)) - np.sum((w[:, None] * f).sum(0) ** 2))
        D.append(num / den)
    return np.array(D)


def all_batches(model, task, pert, P, seed, channel_mean=False):
    """Every probe's images and layers in one batch (the measurement's own streams)."""
    ps = probe.draw(task, pert, P, seed)
    size = -(-P // probe.BLOCK) * probe.BLOCK
    (b,) = list(probe.batches(model, ps, size, channel_mean))
    return ps, b


def pooling(N, depth, dtype=np.float64):
    return pooling_net(NetSpec(dim=1, size=N, depth=depth, filter=2, stride=2, width=1,
                               bias=False), dtype=dtype)


def small_cnn(N=16, depth=2, width=4, seed=0):
    return init_cnn(NetSpec(dim=1, size=N, depth=depth, filter=2, stride=2, width=width,
                            bias=True), seed)


# --------------------------------------------------------------------------- G_0 = D_0


def test_G0_equals_D0_for_batch_matched_noise():
    # sigma^2 = mean_i ||tau x_i - x_i||^2 / N, so E[||eta_i||^2 | sigma] = mean d_i exactly and
    # G_0 - D_0 = (mean ||eta_i||^2 - mean d_i) / den_0 has sd D_0 sqrt(2 / (N P))
    # (chi-square with N P degrees of freedom): 4 sd, and within G_0's standard error.
    N, P = 64, 4096
    s = measure(pooling(N, 3), TaskSpec(size=N, xi=16), probe=P, rng=3)
    sd = s.D[0] * np.sqrt(2 / (N * P))
    assert abs(s.G[0] - s.D[0]) < 4 * sd
    assert abs(s.G[0] - s.D[0]) < s.G_se[0]


def test_G0_equals_D0_per_sample_for_sample_matched_noise():
    # sample matching rescales eta_i to ||eta_i|| = ||tau x_i - x_i||: the layer-0 numerators are
    # equal probe by probe (float32 images: 1e-6), hence G_0 = D_0 to 1e-6.
    task, pert = TaskSpec(size=32, xi=8), Perturbation(noise_match="sample")
    _, b = all_batches(pooling(32, 2), task, pert, 700, seed=5)
    d0 = probe.change_sq(b.x, b.x_diffeo)
    g0 = probe.change_sq(b.x, b.x_noise)
    np.testing.assert_allclose(g0, d0, rtol=1e-6, atol=1e-6)
    s = measure(pooling(32, 2), task, pert, probe=700, rng=5)
    assert s.G[0] == pytest.approx(s.D[0], rel=1e-6)
    assert s.config["sigma"] is None


# --------------------------------------------------------------------------- exact values


def test_D0_matches_exact_enumeration():
    # D_0 of the 1D block task (N = 64, xi = 16, four blocks) from enumerating all 2016
    # configurations and their 4 moves: 0.927957 (see exact_pooling_D; 0.944086 under the old
    # "label unchanged" undo rule, which let a -1 feature enter a third block); Monte Carlo
    # within 3 s.e.
    exact = exact_pooling_D(64, 16, 0)[0]
    assert exact == pytest.approx(0.92795699, rel=1e-7)
    s = measure(pooling(64, 2), TaskSpec(size=64, xi=16), probe=4096, rng=11)
    assert abs(s.D[0] - exact) < 3 * s.D_se[0]
    assert s.D_se[0] < 0.01  # the check has teeth: 3 s.e. is < 3% of D_0


def test_strided_pooling_D_vanishes_at_block_scale_and_halves_before():
    # N = 64, xi = 32 = 2^5 (two blocks): a move across the block boundary puts a feature in the
    # other one's block or changes the label, so it is undone -- f_5 (block means over 32 pixels)
    # never changes: D_5 = 0 up to rounding. Before, only moves crossing a 2^k boundary change
    # f_k, a fraction ~2^-k, so D_k ~ D_0 2^-k; the exact ratios D_{k+1}/D_k are 0.494, 0.482,
    # 0.459, 0.388 (finite size: crossings at xi-boundaries are undone). Measured D_k must match
    # the exact values within 3 s.e.
    exact = exact_pooling_D(64, 32, 5)
    ratios = exact[1:5] / exact[:4]
    np.testing.assert_allclose(ratios, [0.4935, 0.4820, 0.4586, 0.3877], atol=1e-4)
    assert exact[5] == 0
    s = measure(pooling(64, 5), TaskSpec(size=64, xi=32), probe=4096, rng=7)
    assert abs(s.D[5]) <= 1e-12 * s.D[0]
    assert s.D_se[5] <= 1e-12 * s.D[0]
    z = np.abs(s.D[:5] - exact[:5]) / s.D_se[:5]
    assert np.all(z < 3), z


# --------------------------------------------------------------------------- coverage


def _coverage(model, task, refs, seeds=50, P=512):
    """Fraction of seeds whose 1.96 s.e. interval covers refs, per layer; rms of the z-scores."""
    z = {q: [] for q in ("D", "G", "R")}
    for seed in range(seeds):
        s = measure(model, task, probe=P, rng=1000 + seed)
        for q in z:
            n = len(refs[q])
            z[q].append((getattr(s, q)[:n] - refs[q]) / getattr(s, q + "_se")[:n])
    return {q: ((np.abs(v) <= 1.96).mean(0), np.sqrt((np.array(v) ** 2).mean()))
            for q, v in z.items()}


def _check_coverage(cov):
    # A correct 95% interval covers in >= 88% of 50 seeds per quantity pooled over layers, and
    # >= 80% for every layer (Bin(50, 0.05) >= 11 has probability 1e-4). The z-scores have
    # rms 1 when the s.e. is right; over >= 200 of them its sampling error is ~5%, so
    # [0.8, 1.25] flags a s.e. off by 20-25%.
    for q, (c, rms) in cov.items():
        assert c.mean() >= 0.88 and c.min() >= 0.80, (q, c)
        assert 0.8 <= rms <= 1.25, (q, rms)


def test_coverage_pooling_net():
    # Pooling net N = 128, xi = 64, K = 5 (D_k > 0 at every layer; the noise numerator grows
    # with depth while den_k shrinks, so den_k's own U-statistic variance is a large part of
    # se(G_k) at k = 3..5: dropping it brings coverage to ~0.8 and the z rms to ~1.3).
    # True D_k: exact enumeration; true G_k, R_k: one run with P = 40,000 (its s.e. is 0.11 of a
    # P = 512 run's: negligible).
    model, task = pooling(128, 5), TaskSpec(size=128, xi=64)
    big = measure(model, task, probe=40_000, rng=99)
    refs = {"D": exact_pooling_D(128, 64, 5), "G": big.G[:6], "R": big.R[:6]}
    assert np.all(np.abs(big.D[:6] - refs["D"]) < family_nsigma(6) * big.D_se[:6])
    _check_coverage(_coverage(model, task, refs))


def test_coverage_random_cnn_with_biases():
    # A random ReLU CNN with biases (width 4, K = 2, N = 16): the response to noise is not
    # homogeneous in sigma, so se(G), se(R) rely on the estimated elasticity. True values from a
    # P = 40,000 run; same criteria, every layer including the output.
    model, task = small_cnn(), TaskSpec(size=16, xi=8)
    big = measure(model, task, probe=40_000, rng=99)
    _check_coverage(_coverage(model, task, {"D": big.D, "G": big.G, "R": big.R}))


# --------------------------------------------------------------------------- estimators


def _direct_mean(clean, diffeo, noise):
    """D, G, R from the SPEC definitions: explicit pairwise sum over i != j."""
    out = []
    for a, b, e in zip(clean, diffeo, noise, strict=True):
        a, b, e = (np.asarray(z, np.float64) for z in (a, b, e))
        den = 2 * pdist(a, "sqeuclidean").sum() / (len(a) * (len(a) - 1))
        d = ((b - a) ** 2).sum(1).mean()
        g = ((e - a) ** 2).sum(1).mean()
        out.append((d / den, g / den, d / g))
    return np.array(out).T


def test_channel_mean_equals_channel_averaged_representation_by_hand():
    # measure(channel_mean=True) must equal the SPEC formulas applied to f_k averaged over its
    # channel axis by hand (explicit pairwise denominator), to float64 rounding.
    model, task, P = small_cnn(width=3), TaskSpec(size=16, xi=8), 600
    ps, b = all_batches(model, task, Perturbation(), P, seed=2)

    def by_hand(reps):
        layers = model.forward(reps, layers=True)
        return [f.mean(axis=1).reshape(P, -1) if k < len(layers) - 1 else f.reshape(P, 1)
                for k, f in enumerate(layers)]

    D, G, R = _direct_mean(by_hand(b.x), by_hand(b.x_diffeo), by_hand(b.x_noise))
    s = measure(model, task, probe=P, rng=2, channel_mean=True)
    np.testing.assert_allclose(s.D, D, rtol=1e-9)
    np.testing.assert_allclose(s.G, G, rtol=1e-9)
    np.testing.assert_allclose(s.R, R, rtol=1e-9)
    plain = measure(model, task, probe=P, rng=2)
    assert not np.allclose(plain.D[1:-1], s.D[1:-1])  # averaging channels does change D_k


def test_mean_standard_errors_match_direct_delta_method():
    # The streamed delta-method s.e. equals the same formula evaluated with all per-probe values
    # in memory (exact centring, q_i = ||a_i - abar||^2); the only streaming approximation is
    # v^T S v estimated on the first block, O(1/256) of Var(q): rtol 1e-3.
    model, task, P = small_cnn(width=3), TaskSpec(size=16, xi=8), 900
    ps, b = all_batches(model, task, Perturbation(), P, seed=4)
    s = measure(model, task, probe=P, rng=4)
    d0 = probe.change_sq(b.x, b.x_diffeo)
    e = _finite_difference_elasticity(model, b.x[:256], b.x_noise[:256])
    for k, (a, fd, fn) in enumerate(zip(b.clean, b.diffeo, b.noise, strict=True)):
        a, fd, fn = (np.asarray(z, np.float64) for z in (a, fd, fn))
        d, g = ((fd - a) ** 2).sum(1), ((fn - a) ** 2).sum(1)
        q = ((a - a.mean(0)) ** 2).sum(1)
        den = 2 * q.sum() / (P - 1)
        D, G, R = d.mean() / den, g.mean() / den, d.mean() / g.mean()
        kap = e[k] * g.mean() / d0.mean()
        gk = (g - g.mean()) + kap * (d0 - d0.mean())
        psi_D = ((d - d.mean()) - 2 * D * (q - q.mean())) / den
        psi_G = (gk - 2 * G * (q - q.mean())) / den
        psi_R = ((d - d.mean()) - R * gk) / g.mean()
        for name, psi, val in (("D", psi_D, D), ("G", psi_G, G), ("R", psi_R, R)):
            assert getattr(s, name)[k] == pytest.approx(val, rel=1e-9)
            se = np.sqrt((psi**2).sum() / (P * (P - 1)))
            assert getattr(s, name + "_se")[k] == pytest.approx(se, rel=1e-3), (name, k)


def test_change_sq_row_chunks_do_not_change_the_sums(monkeypatch):
    # change_sq (batch-matched sigma, the accumulator's first block) converts a few rows at a
    # time to float64; chunks of one row give the same numbers up to float64 summation order
    # (1e-12), and change_sq equals the plain float64 formula. (The kernel of the per-batch sums
    # has its own plain-numpy reference test in test_moments_kernel.py.)
    model, task = small_cnn(width=3), TaskSpec(size=16, xi=8)
    ref = measure(model, task, probe=600, rng=9)
    monkeypatch.setattr(noise, "_ROWS_BYTES", 1)
    one = measure(model, task, probe=600, rng=9)
    for name in ("D", "G", "R", "D_se", "G_se", "R_se"):
        np.testing.assert_allclose(getattr(one, name), getattr(ref, name), rtol=1e-12)
    x = np.random.default_rng(0).standard_normal((5, 1, 16, 16)).astype(np.float32)
    y = x[::-1].copy()
    want = ((y.astype(np.float64) - x) ** 2).sum((1, 2, 3))
    np.testing.assert_allclose(probe.change_sq(x, y), want, rtol=1e-13)
    np.testing.assert_allclose(probe.change_sq(x), (x.astype(np.float64) ** 2).sum((1, 2, 3)),
                               rtol=1e-13)


def _finite_difference_elasticity(model, x, xn, h=0.2):
    eta = xn.astype(np.float64) - x
    reps = [model.forward(x, layers=True)] + [
        model.forward((x + np.sqrt(1 + t) * eta).astype(np.float32), layers=True) for t in (-h, h)]
    e = []
    for f0, flo, fhi in zip(*reps, strict=True):
        f0, flo, fhi = (np.asarray(z, np.float64).reshape(len(x), -1) for z in (f0, flo, fhi))
        glo, ghi = ((flo - f0) ** 2).sum(1).mean(), ((fhi - f0) ** 2).sum(1).mean()
        e.append(np.log(ghi / glo) / np.log((1 + h) / (1 - h)))
    return np.array(e)


def test_median_estimator_equals_direct_numpy_reference():
    # Petrini et al.'s estimator: sum over coordinates of the median over probes of the squared
    # change, over the median of ||a_i - a_j||^2 over pairs i < j (scipy's pdist). Exact up to
    # the Gram-matrix distances: 1e-9.
    model, task, P = small_cnn(width=3), TaskSpec(size=16, xi=8), 601
    ps, b = all_batches(model, task, Perturbation(), P, seed=8)
    s = measure(model, task, probe=P, rng=8, estimator="median")
    assert s.D_se is None and s.G_se is None and s.R_se is None
    for k, (a, fd, fn) in enumerate(zip(b.clean, b.diffeo, b.noise, strict=True)):
        den = np.median(pdist(np.asarray(a, np.float64), "sqeuclidean"))
        num_d = np.median((fd - a) ** 2, axis=0).astype(np.float64).sum()
        num_g = np.median((fn - a) ** 2, axis=0).astype(np.float64).sum()
        assert s.D[k] == pytest.approx(num_d / den, rel=1e-9)
        assert s.G[k] == pytest.approx(num_g / den, rel=1e-9)
        assert s.R[k] == pytest.approx(num_d / num_g, rel=1e-9)
    assert s.config["estimator"] == "median"


@pytest.mark.parametrize("shape, pert", [
    ("points", Perturbation()),
    ("blobs", Perturbation(diffeo="maxent", noise_match="sample")),
])
def test_streaming_does_not_depend_on_batch_size(shape, pert):
    # Perturbations are drawn per 256-probe block, so batches of 256, 768 or all 1000 probes see
    # the same probes: the same numbers up to float64 summation order (1e-9). A standard error
    # whose true value is 0 (R_0 under sample matching: d_i = g_i) is float32 rounding noise
    # ~1e-9 from cancelling sums, whence atol 1e-8 on the s.e.
    model, task = small_cnn(), TaskSpec(size=16, xi=8, shape=shape)
    runs = [measure(model, task, pert, probe=1000, rng=6, batch_size=bs)
            for bs in (256, 700, None)]
    for r in runs[1:]:
        for name in ("D", "G", "R", "D_se", "G_se", "R_se"):
            np.testing.assert_allclose(getattr(r, name), getattr(runs[0], name), rtol=1e-9,
                                       atol=1e-8 if name.endswith("_se") else 0)
    other = measure(model, task, pert, probe=1000, rng=7)
    assert not np.allclose(other.D, runs[0].D)  # a different seed gives other probes


def test_denominator_does_not_cancel_for_large_offsets():
    # Representations with a huge common offset (1e6 + O(1) variations): the uncentred
    # 2P sum||a||^2 - 2||sum a||^2 would cancel 12 of its 16 digits; centred streaming does not.
    # The offset itself rounds each coordinate by 1e6 eps = 2e-10 (relative to O(1) changes), so
    # the numbers agree to 1e-8.
    class Offset:
        def __init__(self, inner):
            self.inner, self.spec = inner, inner.spec

        def forward(self, x, layers=False):
            return [f + 1e6 for f in self.inner.forward(x, layers=True)]

    model, task, P = pooling(32, 2), TaskSpec(size=32, xi=8), 800
    plain = measure(model, task, probe=P, rng=1, batch_size=256)
    shifted = measure(Offset(model), task, probe=P, rng=1, batch_size=256)
    for name in ("D", "G", "R", "D_se", "G_se"):
        np.testing.assert_allclose(getattr(shifted, name)[:3], getattr(plain, name)[:3],
                                   rtol=1e-8)


def test_config_records_the_measurement():
    s = measure(pooling(32, 2), TaskSpec(size=32, xi=8), probe=300, rng=4)
    assert s.layers == (0, 1, 2, "out")
    assert s.config["probe"] == 300 and s.config["seed"] == 4
    assert s.config["task"]["xi"] == 8 and s.config["net"]["depth"] == 2
    assert s.config["perturbation"]["noise_match"] == "batch"
    d = s.to_dict()
    assert [row["k"] for row in d["layers"]] == [0, 1, 2, "out"]
    assert d["layers"][-1]["D"] is None  # the pooling net's output is the same for every probe


def test_generator_seed_is_recorded_and_reproduces():
    task, model = TaskSpec(size=32, xi=8), pooling(32, 2)
    s = measure(model, task, probe=300, rng=np.random.default_rng(5))
    again = measure(model, task, probe=300, rng=s.config["seed"])
    np.testing.assert_array_equal(s.D, again.D)


@pytest.mark.parametrize("kwargs, name", [
    ({"probe": 1}, "probe"),
    ({"estimator": "mode"}, "estimator"),
    ({"batch_size": 0}, "batch_size"),
    ({"rng": -1}, "rng"),
])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ScaleDetectError, match=rf"^{name} must .+; got {name}="):
        measure(pooling(32, 2), TaskSpec(size=32, xi=8), **kwargs)


def test_task_must_match_model_input():
    with pytest.raises(ScaleDetectError, match="task.size"):
        measure(pooling(32, 2), TaskSpec(size=64, xi=8), probe=10)
