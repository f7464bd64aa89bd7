"""Infinite-width (NNGP) prediction (``theory.nngp``) against random networks of width 512.

Five independent networks (seeds 0..4), each measured on its own probe set; the mean over seeds
must be within 5% of the prediction at every conv layer (the residual is the 1/width correction
plus the Monte Carlo error, ~1-2% here). The network's own output is one random readout
direction per network, a quadratic form in one Gaussian vector that does not self-average (and
whose D, a ratio, is not even unbiased for the kernel's value); what the kernel predicts for the
output is the per-channel distance of the global averages g = mean_u f_K. So the output is
measured as g itself, all 512 channels (``E_beta (beta . dg)^2 = ||dg||^2``, which does
self-average), and compared within 3 standard errors of the five-network mean plus 2% (the
1/width and ratio-estimator biases; measured deviations <= 3.4% with relative s.e. <= 3.1%).
Exact references: the 2D ReLU kernel and the tanh kernel position by position, each with a
quadrature of its own.
"""

import math

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
    runs = np.array([[r.D, r.G] for r in (measure(_with_gap_output(init_cnn(net, seed)), task,
                                                  probe=1024, rng=100 + seed)
                                          for seed in SEEDS)])
    mean, se = runs.mean(0), runs.std(0, ddof=1) / np.sqrt(len(SEEDS))
    assert th.layers[-1] == "out"
    for j, name in enumerate(("D", "G")):
        t = getattr(th, name)
        for i, k in enumerate(th.layers):
            # the kernel's own noise Monte Carlo (G) adds its s.e. to the output's
            out_se = np.hypot(se[j, i], th.G_se[i] if name == "G" else 0.0)
            tol = 0.05 * abs(t[i]) if k != "out" else 3 * out_se + 0.02 * abs(t[i])
            assert abs(mean[j, i] - t[i]) <= tol, (name, k, t[i], mean[j, i], se[j, i])
        assert 3 * se[j, -1] < 0.1 * abs(t[-1])  # the output check has teeth: < 12% in all


def _with_gap_output(model):
    """``x -> [f_0, ..., f_K, g]`` with g = mean over positions of f_K, ``(n, C)``: the output
    averaged over readout directions (see the module docstring)."""
    def layers(x):
        reps = model.forward(x, layers=True)
        return reps[:-1] + [reps[-2].mean(-1)]

    return layers


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


def _windows_2d(size, f, s):
    """Flat input index of every (output unit, offset) of a 2D layer, by explicit loops."""
    n_out = size // s
    return [[((s * uh + jh) % size) * size + (s * uw + jw) % size
             for jh in range(f) for jw in range(f)]
            for uh in range(n_out) for uw in range(n_out)]


def _relu_pair(gain, vx, vy, c):
    """gain^2 E[relu(h) relu(h')], (h, h') centred with variances vx, vy and covariance c (Cho &
    Saul 2009: sqrt(vx vy) / (2 pi) (sin t + (pi - t) cos t), cos t = c / sqrt(vx vy))."""
    r = math.sqrt(vx * vy)
    if r == 0:
        return 0.0
    t = math.acos(max(-1.0, min(1.0, c / r)))
    return gain**2 * r / (2 * math.pi) * (math.sin(t) + (math.pi - t) * math.cos(t))


#: Trapezoid grid for the tanh pair: step 0.25 on [-9, 9] in standard-normal units. tanh(s z)
#: is analytic in |Im z| < pi / (2 s), so the trapezoid error is ~exp(-2 pi (pi / 2 s) / 0.25)
#: (< 1e-12 for the standard deviations s <= 2 met here) and the truncation exp(-81/2).
_Z = np.arange(-36, 37) * 0.25
_WZ = 0.25 * np.exp(-_Z**2 / 2) / math.sqrt(2 * math.pi)


def _tanh_pair(gain, vx, vy, c):
    """gain^2 E[tanh(h) tanh(h')] for (h, h') as in ``_relu_pair``: the covariance diagonalized
    (h, h') = sqrt(l1) z1 e1 + sqrt(l2) z2 e2 and a trapezoid rule in (z1, z2)."""
    lam, vec = np.linalg.eigh(np.array([[vx, c], [c, vy]]))
    a = vec * np.sqrt(np.maximum(lam, 0.0))  # (h, h') = a @ (z1, z2)
    h1 = a[0, 0] * _Z[:, None] + a[0, 1] * _Z[None, :]
    h2 = a[1, 0] * _Z[:, None] + a[1, 1] * _Z[None, :]
    return gain**2 * float(_WZ @ (np.tanh(h1) * np.tanh(h2)) @ _WZ)


def _reference_2d(x, y, size, depth, f, s, gain, b2, pair=_relu_pair):
    """Per-channel E||f_k(x) - f_k(y)||^2 (k = 0..K) and E (g(x) - g(y))^2 of a 2D CNN at
    infinite width, one pair, position by position (independent of theory.nngp); *pair* is
    gain^2 E[phi(h) phi(h')] of the activation."""
    q = {(a, b): np.outer(u, v) for (a, u), (b, v) in
         [((0, x), (0, x)), ((1, y), (1, y)), ((0, x), (1, y))]}
    out = [float(np.sum((x - y) ** 2))]
    for _ in range(depth):
        win = _windows_2d(size, f, s)
        m = len(win)
        kern = {ab: np.array([[sum(Q[i, j] for i, j in zip(win[u], win[v], strict=True))
                               / f**2 + b2 for v in range(m)] for u in range(m)])
                for ab, Q in q.items()}
        var = {0: np.diag(kern[0, 0]), 1: np.diag(kern[1, 1])}
        q = {(a, b): np.array([[pair(gain, var[a][u], var[b][v], K[u, v])
                                for v in range(m)] for u in range(m)])
             for (a, b), K in kern.items()}
        out.append(float(np.trace(q[0, 0]) + np.trace(q[1, 1]) - 2 * np.trace(q[0, 1])))
        size //= s
    m = q[0, 0].shape[0]
    out.append(float((q[0, 0].sum() + q[1, 1].sum() - 2 * q[0, 1].sum()) / m**2))
    return np.array(out)


@pytest.mark.parametrize("f, s, size", [(3, 1, 6), (2, 2, 8)])
def test_relu_2d_kernel_matches_position_by_position_recursion(f, s, size):
    """2D ReLU with bias and gain, windows that overlap and wrap (F=3, s=1) or tile (F=s=2),
    distinct inputs (distances 0.01-100, none zero): pair_distances equals the loop-by-loop
    recursion to 1e-10 relative (both are exact; they differ only in summation order)."""
    net = NetSpec(dim=2, size=size, depth=2, filter=f, stride=s, act="relu", bias=True,
                  gain=1.3)
    rng = np.random.default_rng(11)
    X = rng.normal(size=(3, size * size))
    Y = X + 0.8 * rng.normal(size=X.shape)
    got = pair_distances(net, X, Y, bias_std=0.7)
    for i in range(len(X)):
        ref = _reference_2d(X[i], Y[i], size, 2, f, s, 1.3, 0.49)
        assert ref.min() > 1e-3  # nothing trivially zero (the output term is the smallest)
        np.testing.assert_allclose(got[i], ref, rtol=1e-10)


@pytest.mark.parametrize("f, s, size", [(3, 1, 5), (2, 2, 8)])
def test_tanh_2d_kernel_matches_position_by_position_recursion(f, s, size):
    """2D tanh with bias 0.7 and gain 1.3, inputs of variance 0.16 and 0.32 per pixel (layer-1
    pre-activation variances <= 1.5): pair_distances (a 32 x 32 Gauss-Hermite rule per pair:
    relative error <= 3e-5 per entry at variance <= 1.5, measured against scipy.integrate; it
    grows to 3e-3 at variance 9) equals the position-by-position
    recursion with its own quadrature (covariance diagonalized, trapezoid in the normal
    coordinates: error < 1e-12) within 1e-3 relative: each distance is a difference of entries
    up to ~30 times larger, whose quadrature errors share a sign (measured <= 4e-4, largest at
    the output). A bias std off by a factor 2 (variance 1.96 instead of 0.49 added to every
    pre-activation) moves every conv layer and the output by more than 100 times that
    (measured 30-58%)."""
    net = NetSpec(dim=2, size=size, depth=2, filter=f, stride=s, act="tanh", bias=True,
                  gain=1.3)
    rng = np.random.default_rng(13)
    X = 0.4 * rng.normal(size=(2, size * size))
    Y = X + 0.4 * rng.normal(size=X.shape)
    got = pair_distances(net, X, Y, bias_std=0.7)
    for i in range(len(X)):
        ref = _reference_2d(X[i], Y[i], size, 2, f, s, 1.3, 0.49, pair=_tanh_pair)
        assert ref.min() > 1e-3
        np.testing.assert_allclose(got[i], ref, rtol=1e-3)
        wrong = _reference_2d(X[i], Y[i], size, 2, f, s, 1.3, 4 * 0.49, pair=_tanh_pair)
        assert np.all(np.abs(wrong[1:] / ref[1:] - 1) > 0.1), wrong / ref


def test_relu_2d_first_layer_matches_random_filters():
    """Layer 1 by Monte Carlo over 100,000 random 3x3 filters and biases (w ~ N(0, 1) scaled by
    1/sqrt(F^2), b ~ N(0, 0.7^2)): the per-channel distance sum_u (f(x)_u - f(y)_u)^2 averaged
    over filters lies within 4 standard errors of the kernel's value."""
    size, f = 6, 3
    net = NetSpec(dim=2, size=size, depth=1, filter=f, stride=1, act="relu", bias=True, gain=1.3)
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=size * size), rng.normal(size=size * size)
    win = np.array(_windows_2d(size, f, 1))  # (units, F^2)
    w = rng.standard_normal((100_000, f * f)) / f
    b = 0.7 * rng.standard_normal((100_000, 1))
    fx = 1.3 * np.maximum(w @ x[win].T + b, 0)
    fy = 1.3 * np.maximum(w @ y[win].T + b, 0)
    d = np.sum((fx - fy) ** 2, axis=1)
    expect = pair_distances(net, x[None], y[None], bias_std=0.7)[0, 1]
    assert abs(d.mean() - expect) < 4 * d.std() / np.sqrt(len(d)), (d.mean(), expect)
