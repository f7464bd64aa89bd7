"""Noise-corrupted probes (``measure(probe_noise=sigma)``, ``sensitivity --probe-noise``).

Every probe x_i is replaced by x_i + n_i (one fixed draw of ``perturb.corruption_std``'s level,
stream ``default_rng([seed, 3, block])``), its deformed image by tau x_i + n_i and its noisy one
by x_i + n_i + eta_i. Checked here: 0 reproduces the clean pipeline bit for bit; on a linear net
the numerators are unchanged and den_k is the pairwise spread of the corrupted representations
(an independent numpy reconstruction of the n_i); seeds reproduce, batch size does not matter;
bad values are refused (exit 2 on the command line).

Tolerances: float64 summation order 1e-9 relative; float32 rounding of the corrupted images
(x + n rounded once, eps32 ~ 6e-8 per pixel) 1e-5 relative on D, G.
"""

import json

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from scaledetect import NetSpec, Perturbation, ScaleDetectError, TaskSpec, perturb, tasks
from scaledetect.cli import main
from scaledetect.experiments import Run
from scaledetect.experiments.compute import run_train
from scaledetect.nn import TrainSpec, init_cnn, pooling_net, train
from scaledetect.sensitivity import measure, probe

TASK = TaskSpec(size=32, xi=8)  # points, rms amplitude: ||x||^2 = N for every probe


def linear_pooling(depth=3):
    """Linear strided pooling net: f_k(x) = block means of 2^k pixels (exactly)."""
    return pooling_net(NetSpec(dim=1, size=32, depth=depth, filter=2, stride=2, width=1,
                               bias=False, act="linear"), dtype=np.float64)


def small_cnn():
    return init_cnn(NetSpec(dim=1, size=32, depth=2, filter=2, stride=2, width=4, bias=True), 0)


def one_batch(ps, model):
    size = -(-ps.size // probe.BLOCK) * probe.BLOCK
    (b,) = list(probe.batches(model, ps, size))
    return b


def arrays(s):
    return [np.asarray(getattr(s, n), float) for n in ("D", "G", "R", "D_se", "G_se", "R_se")]


# --------------------------------------------------------------------------- sigma = 0


def test_zero_probe_noise_is_the_clean_pipeline_bit_for_bit():
    # The images of probe_noise=0 are those of the perturbation functions called directly on
    # the documented streams (diffeo: tag 1, noise: tag 2), as before the option existed, and no
    # corruption stream is drawn; the measurement equals the call without the argument.
    seed, P = 9, 256
    ps = probe.draw(TASK, Perturbation(), P, seed, probe_noise=0.0)
    assert ps.corrupt_std == 0.0 and ps.probe_noise == 0.0
    b = one_batch(ps, small_cnn())
    x = tasks.render(TASK, ps.positions)
    xd = perturb.diffeo(TASK, Perturbation(), x, ps.positions, np.random.default_rng([seed, 1, 0]))
    xn = perturb.matched_noise(x, xd, "batch", np.random.default_rng([seed, 2, 0]), sigma=ps.sigma)
    for got, want in ((b.x, x), (b.x_diffeo, xd), (b.x_noise, xn)):
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    model = small_cnn()
    for kw in ({}, {"estimator": "median"}):
        plain = measure(model, TASK, probe=600, rng=3, **kw)
        zero = measure(model, TASK, probe=600, rng=3, probe_noise=0, **kw)
        for a, c in zip(arrays(plain), arrays(zero), strict=True):
            assert a.tobytes() == c.tobytes()
        assert zero.config["probe_noise"] == 0.0 and zero.config["probe_noise_std"] == 0.0


def test_corrupt_is_its_level_times_a_standard_draw():
    # corrupt(x, sigma, rng) = x + s g with s = sigma sqrt(mean ||x_i||^2 / D) (the level the
    # probes share), g the rng's standard normals; bit for bit.
    x = np.random.default_rng(0).random((7, 2, 5, 5)).astype(np.float32)
    s = 0.3 * np.sqrt(np.mean(np.sum(x.astype(np.float64) ** 2, axis=(1, 2, 3))) / 50)
    assert perturb.corruption_std(0.3, float(np.mean(np.sum(x.astype(np.float64) ** 2,
                                                            axis=(1, 2, 3)))), 50) == \
        pytest.approx(s, rel=1e-15)
    want = (x + s * np.random.default_rng(4).standard_normal(x.shape)).astype(np.float32)
    np.testing.assert_allclose(perturb.corrupt(x, 0.3, 4), want, rtol=0, atol=0)


# --------------------------------------------------------------------------- linear net


def test_linear_net_keeps_numerators_and_den_is_the_corrupted_spread():
    # f_k = A_k (block means of 2^k pixels) is linear, so f(tau x + n) - f(x + n) = f(tau x) -
    # f(x) and f(x + n + eta) - f(x + n) = f(eta): the numerators of D_k and G_k are those of the
    # clean probes, hence D'_k / D_k = G'_k / G_k = den_k / den'_k with
    #   den'_k = 1/(P(P-1)) sum_{i!=j} ||A_k (x_i + n_i - x_j - n_j)||^2,
    # computed here from the images and from n_i regenerated from its stream (tag 3, per block),
    # n_i = s g_i with s = sigma: every points probe has ||x||^2 = N (mean x^2 per pixel 1).
    sigma, P, seed, depth = 0.5, 600, 11, 3
    net = linear_pooling(depth)
    clean = measure(net, TASK, probe=P, rng=seed, batch_size=256)
    noisy = measure(net, TASK, probe=P, rng=seed, batch_size=512, probe_noise=sigma)
    assert noisy.config["probe_noise"] == sigma
    assert noisy.config["probe_noise_std"] == pytest.approx(sigma, rel=1e-12)
    assert noisy.config["sigma"] == clean.config["sigma"]  # eta matched to the clean change
    ps = probe.draw(TASK, Perturbation(), P, seed)
    x = tasks.render(TASK, ps.positions).astype(np.float64)[:, 0]
    n = np.concatenate([sigma * np.random.default_rng([seed, 3, blk]).standard_normal(
        (min(probe.BLOCK, P - lo), 1, 32))[:, 0] for blk, lo in enumerate(range(0, P, 256))])
    b = one_batch(probe.draw(TASK, Perturbation(), P, seed, probe_noise=sigma), net)
    assert b.x.tobytes() == (x + n).astype(np.float32)[:, None].tobytes()
    for k in range(depth + 1):
        def pool(v, k=k):
            return v.reshape(P, 32 >> k, 1 << k).mean(-1)
        den = np.mean(pdist(pool(x), "sqeuclidean"))
        den_c = np.mean(pdist(pool(x + n), "sqeuclidean"))
        if k == 3:  # 2^k = xi: a move stays in its block, the block means do not change
            assert clean.D[k] == 0 and noisy.D[k] < 1e-12  # corrupted: float rounding only
        else:
            assert noisy.D[k] / clean.D[k] == pytest.approx(den / den_c, rel=1e-5)
        assert noisy.G[k] / clean.G[k] == pytest.approx(den / den_c, rel=1e-5)
        assert noisy.R[k] == pytest.approx(clean.R[k], rel=1e-5)
        # the noise part of den'_k: E ||A_k (n_i - n_j)||^2 = 2 s^2 N / 4^k; its sample value is
        # 2 s^2/2^k chi^2_{d_k (P-1)} / (P-1), relative s.d. sqrt(2 / (d_k (P-1))), d_k = N/2^k
        spread = np.mean(pdist(pool(n), "sqeuclidean"))
        rel_sd = np.sqrt(2 / ((32 >> k) * (P - 1)))
        assert spread == pytest.approx(2 * sigma**2 * 32 / 4**k, rel=4 * rel_sd)
    assert den_c > den  # corruption spreads the probes


# --------------------------------------------------------------------------- seeds, batches


def test_corrupted_probes_are_seeded_and_batch_independent():
    # The corruption of probe i uses its block's stream, so batch sizes 256, 768 and automatic
    # see the same corrupted probes: equal up to float64 summation order (1e-9; s.e. atol 1e-8,
    # see test_sensitivity). Same seed, same bytes; another seed or level, other numbers.
    model = small_cnn()
    runs = [measure(model, TASK, probe=900, rng=5, probe_noise=0.3, batch_size=bs)
            for bs in (256, 768, None)]
    for r in runs[1:]:
        for a, c, name in zip(arrays(r), arrays(runs[0]), ("D", "G", "R", "D_se", "G_se", "R_se"),
                              strict=True):
            np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-8 if name.endswith("_se") else 0)
    again = measure(model, TASK, probe=900, rng=5, probe_noise=0.3, batch_size=256)
    for a, c in zip(arrays(again), arrays(runs[0]), strict=True):
        assert a.tobytes() == c.tobytes()
    assert not np.allclose(measure(model, TASK, probe=900, rng=6, probe_noise=0.3).D, runs[0].D)
    assert not np.allclose(measure(model, TASK, probe=900, rng=5).D, runs[0].D)


def test_image_probes_use_the_level_of_their_mean_norm():
    # User images: s = sigma sqrt(mean_i ||x_i||^2 / (C N^2)) over the probe images.
    x = np.random.default_rng(1).random((300, 2, 8, 8)).astype(np.float32)
    ps = probe.draw_images(x, Perturbation(diffeo="maxent"), 200, 4, probe_noise=0.2)
    want = 0.2 * np.sqrt(np.mean(np.sum(ps.images.astype(np.float64) ** 2, axis=(1, 2, 3))) / 128)
    assert ps.corrupt_std == pytest.approx(want, rel=1e-12)
    b = one_batch(ps, lambda v: [v, v.sum(axis=(1, 2, 3))])
    n = b.x.astype(np.float64) - ps.images
    assert np.std(n) == pytest.approx(want, rel=0.02)  # 25,600 entries: s.d. of std 0.45%


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_probe_noise_names_the_parameter(bad):
    with pytest.raises(ScaleDetectError, match="probe_noise"):
        measure(linear_pooling(2), TASK, probe=10, probe_noise=bad)


# --------------------------------------------------------------------------- runner, CLI


@pytest.mark.parametrize("sigma", [0.0, 0.1])
def test_runner_measures_a_noise_trained_run_at_its_level(sigma):
    # a one-epoch training run: its trained net is measured on probes corrupted at the
    # training level, drawn with the probe seed 10_000 + seed (independent of the training data)
    net = NetSpec(dim=1, size=32, depth=2, filter=2, stride=2, width=2)
    spec = TrainSpec(n_train=16, n_test=8, stop="epochs", max_epochs=1, train_noise=sigma)
    record = run_train(Run("train", TASK, net, probe=300, seed=2, train=spec))
    want = measure(train(TASK, net, spec, rng=2, progress=False).model, TASK, probe=300,
                   rng=10_002, probe_noise=sigma)
    assert record.trained.to_dict()["layers"] == want.to_dict()["layers"]
    assert record.trained.config["probe_noise"] == record.init.config["probe_noise"] == sigma


POOL = ["sensitivity", "--pooling", "--dim", "1", "--size", "32", "--xi", "8", "--depth", "2",
        "--probe", "300", "--seed", "3"]


def test_cli_probe_noise_matches_the_api(capsys):
    assert main(POOL + ["--probe-noise", "0.25", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = measure(pooling_net(NetSpec(dim=1, size=32, depth=2, filter=2, stride=2, width=1,
                                       bias=False)), TASK, probe=300, rng=3, probe_noise=0.25)
    assert out["config"]["probe_noise"] == 0.25
    assert [row["D"] for row in out["layers"]] == pytest.approx(list(want.D), rel=1e-12)


@pytest.mark.parametrize("sigma", ["-1", "nan", "inf"])
def test_cli_bad_probe_noise_exits_2(capsys, sigma):
    assert main(POOL + ["--probe-noise", sigma]) == 2
    captured = capsys.readouterr()
    assert "probe-noise must be a finite number >= 0" in captured.err and captured.out == ""
