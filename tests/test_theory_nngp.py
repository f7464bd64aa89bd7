"""Infinite-width NNGP prediction (``theory.nngp``) against random networks of width 512.

Five independent networks (seeds 0..4), each measured on its own probe set; the mean over seeds
must be within 5% of the prediction at every conv layer (the residual is the 1/width correction
plus the Monte Carlo error, ~1-2% here). The output is one random readout direction per network,
so its Monte Carlo is not self-averaging (a quadratic form in one Gaussian direction over a few
dozen configurations): it is compared within 5% + 3 standard errors of the seed average, and the
quantity the kernel predicts for it, the per-channel distance of the global averages g = mean_u
f_K (averaged over the 512 channels, which does self-average), is checked within 5% separately.
"""

import numpy as np
import pytest

from scaledetect import NetSpec, Perturbation, TaskSpec, perturb, tasks
from scaledetect.nn.model import init_cnn
from scaledetect.sensitivity import measure
from scaledetect.theory import nngp
from scaledetect.theory.nngp import pair_distances

SEEDS = range(5)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_nngp_matches_wide_random_networks(act):
    task = TaskSpec(dim=1, size=8, xi=4)
    net = NetSpec(dim=1, size=8, depth=2, filter=2, stride=2, width=512, act=act, bias=True)
    th = nngp(task, net, Perturbation(), n_noise=4096 if act == "relu" else 2048, rng=0)
    runs = np.array([[r.D, r.G] for r in (measure(init_cnn(net, seed), task, probe=1024,
                                                  rng=100 + seed) for seed in SEEDS)])
    mean, se = runs.mean(0), runs.std(0, ddof=1) / np.sqrt(len(SEEDS))
    for j, name in enumerate(("D", "G")):
        t = getattr(th, name)
        for i, k in enumerate(th.layers):
            tol = 0.05 * abs(t[i]) + (3 * se[j, i] if k == "out" else 0.0)
            assert abs(mean[j, i] - t[i]) <= tol, (name, k, t[i], mean[j, i], se[j, i])


def test_nngp_output_term_matches_channel_average():
    """Output layer: E (g(x) - g(y))^2 per channel from 5 networks of width 512, with the data
    expectations exact (every configuration, every shift outcome) and 2048 noise draws."""
    task = TaskSpec(dim=1, size=8, xi=4)
    net = NetSpec(dim=1, size=8, depth=2, filter=2, stride=2, width=512, act="relu", bias=True)
    th = nngp(task, net, Perturbation(), n_noise=4096, rng=0)
    pos, y = tasks.enumerate_configs(task)
    w = np.where(y > 0, 0.5 / np.sum(y > 0), 0.5 / np.sum(y < 0))
    outc, q = perturb.shift_outcomes(task, pos)
    x = tasks.render(task, pos).astype(float)
    xo = tasks.render(task, outc.reshape(-1, 2, 1)).astype(float)
    sigma = np.sqrt(np.sum(w[:, None] * q * np.sum((xo.reshape(len(x), -1, 8)
                                                      - x.reshape(len(x), 1, 8)) ** 2, -1)) / 8)
    rng = np.random.default_rng(9)
    idx = rng.choice(len(x), 2048, p=w)
    xn = x[idx] + sigma * rng.standard_normal(x[idx].shape)
    D, G = [], []
    for seed in SEEDS:
        model = init_cnn(net, seed, dtype=np.float64)

        def gap(z, model=model):
            return model.forward(z, layers=True)[net.depth].mean(-1)  # (n, C)

        g, go, gn = gap(x), gap(xo).reshape(len(x), -1, net.width), gap(xn)
        sq = np.sum(g**2, -1)
        den = 2 * (w @ sq - np.sum((w @ g) ** 2))
        Dn = np.sum(w[:, None] * q * np.sum((go - g[:, None]) ** 2, -1))
        Gn = np.mean(np.sum((gn - g[idx]) ** 2, -1))
        D.append(Dn / den)
        G.append(Gn / den)
    assert np.mean(D) == pytest.approx(th.D[-1], rel=0.05)
    assert np.mean(G) == pytest.approx(th.G[-1], rel=0.05)


@pytest.mark.parametrize("stride", [1, 2])
def test_linear_kernel_closed_form(stride):
    """Linear act, no bias: independent weights per window offset give Q_k(u, u) = mean_j
    Q_{k-1}(s u + j, s u + j), so the per-channel distance is ||x - y||^2 / s^k; the position
    sums of Q are preserved too, so the output term is mean(x - y)^2 (times F^(-k) ... = 1 for
    F = 2: each window has weight 1/F and s u + j covers the inputs F/s times)."""
    net = NetSpec(dim=1, size=8, depth=3, filter=2, stride=stride, width=4, act="linear",
                  bias=False)
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    got = pair_distances(net, X, Y)
    z2 = np.sum((X - Y) ** 2, -1)
    for k in range(4):
        assert np.allclose(got[:, k], z2 / stride**k, rtol=1e-12)
    if stride == 1:
        assert np.allclose(got[:, 4], np.mean(X - Y, -1) ** 2, rtol=1e-12)


def test_relu_kernel_of_identical_inputs_is_zero():
    net = NetSpec(dim=2, size=4, depth=2, filter=2, stride=2, act="relu")
    X = np.random.default_rng(0).normal(size=(3, 16))
    assert np.allclose(pair_distances(net, X, X), 0.0, atol=1e-12)
