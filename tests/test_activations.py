"""The activation records (``scaledetect.activations``) against independent references.

Each record's numpy phi' against central finite differences (1e-6, the policy for differences),
its Gaussian moments and products against ``scipy.integrate`` (1e-8 absolute: quad's own error
is ~1e-10 on these smooth integrands), its infinite-width dual against its own product at zero
means; the numba kernels against the records (codes) and NaN inputs.
"""

import json
import math

import naive
import numba
import numpy as np
import pytest
from scipy import integrate
from tolerances import assert_same_sensitivities

from scaledetect import Perturbation, ScaleDetectError, TaskSpec, activations
from scaledetect._kernels import conv
from scaledetect.cli import main
from scaledetect.nn import CNN, NetSpec, init_cnn, pooling_net
from scaledetect.sensitivity import measure
from scaledetect.theory import predict
from scaledetect.theory.nngp import pair_distances

NAMES = activations.names()
MV = [(0.0, 1.0), (0.7, 0.3), (-1.2, 2.5), (2.0, 0.05)]


def _expect_quad(f, m, v):
    """``E f(X)``, X ~ N(m, v), by adaptive quadrature over +-12 sd (tails below 1e-30)."""
    s = math.sqrt(v)
    norm = 1.0 / (s * math.sqrt(2 * math.pi))

    def dens(x):
        return norm * math.exp(-0.5 * ((x - m) / s) ** 2)

    pts = [0.0] if m - 12 * s < 0 < m + 12 * s else None  # the kinks sit at 0
    return integrate.quad(lambda x: f(x) * dens(x), m - 12 * s, m + 12 * s, points=pts,
                          epsabs=1e-11, epsrel=1e-11, limit=200)[0]


def _product_quad(f, m1, m2, v1, v2, c):
    """``E f(X) f(Y)``: Y given X is N(m2 + c/v1 (X - m1), v2 - c^2/v1); the inner mean by quad."""
    tau2 = v2 - c * c / v1

    def inner(x):
        return f(x) * _expect_quad(f, m2 + c / v1 * (x - m1), tau2)

    return _expect_quad(inner, m1, v1)


def _scalar(act):
    """phi as a function of one float (for quad)."""
    return lambda x: float(act.phi(np.float64(x)))


@pytest.mark.parametrize("name", NAMES)
def test_dphi_matches_finite_differences(name):
    # Expect: phi'(x) = (phi(x + h) - phi(x - h)) / 2h to 1e-6 (h = 1e-5, error O(h^2 phi''')
    # ~ 1e-10, rounding ~1e-11) at points away from a kink (|x| > 1e-3).
    act = activations.get(name)
    x = np.array([-3.1, -1.0, -0.4, 0.2, 0.9, 2.7])
    h = 1e-5
    fd = (act.phi(x + h) - act.phi(x - h)) / (2 * h)
    np.testing.assert_allclose(act.dphi(x), fd, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("m, v", MV)
def test_moments_match_quadrature(name, m, v):
    # Expect: E phi(X) and E phi(X)^2 of the record (closed form or Gauss-Hermite) equal the
    # adaptive quadrature of phi times the normal density to 1e-8.
    act = activations.get(name)
    mean, second = act.moments(m, v)
    f = _scalar(act)
    assert mean == pytest.approx(_expect_quad(f, m, v), abs=1e-8)
    assert second == pytest.approx(_expect_quad(lambda x: f(x) ** 2, m, v), abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", [(0.3, -0.5, 1.0, 0.8, 0.5), (1.5, 1.0, 0.4, 0.4, -0.1)])
def test_product_matches_quadrature(name, case):
    # Expect: E phi(X) phi(Y) of the record equals nested quadrature (Y | X Gaussian) to 1e-8.
    act = activations.get(name)
    f = _scalar(act)
    assert act.product(*case) == pytest.approx(_product_quad(f, *case), abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_dual_is_the_centred_product(name):
    # Expect: the infinite-width dual E phi(U) phi(V) (U, V centred) equals nested quadrature
    # at zero means, to 1e-6 relative (tanh's 32-node product rule: ~1e-6 at variance 1).
    act = activations.get(name)
    f = _scalar(act)
    for v1, v2, c in ((1.0, 1.0, 0.6), (0.5, 1.5, -0.3), (1.2, 0.9, 0.0)):
        ref = _product_quad(f, 0.0, 0.0, v1, v2, c)
        assert float(act.dual(v1, v2, c)) == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_kernel_codes_come_from_the_records():
    # Expect: the integer branches of the numba kernels are the records' codes, all distinct.
    codes = [activations.get(n).code for n in NAMES]
    assert len(set(codes)) == len(codes)
    assert (conv.RELU, conv.TANH, conv.LINEAR, conv.LEAKY_RELU, conv.GELU) == tuple(
        activations.get(n).code for n in ("relu", "tanh", "linear", "leaky_relu", "gelu"))


@pytest.mark.parametrize("act", NAMES)
def test_nan_from_an_overflow_propagates_through_the_numba_forward(act):
    # Inputs and weights must be finite (CNN refuses others), but a layer can still overflow:
    # layer 1 sends a huge input pixel to +inf in both channels, layer 2 takes their
    # difference, inf - inf = NaN. The kernels must give NaN exactly where plain numpy does
    # (the ReLU kernel once mapped NaN to 0: a finite output from an overflowed net).
    spec = NetSpec(dim=1, size=4, depth=2, filter=2, stride=2, width=2, act=act, bias=False)
    params = {"conv1.weight": np.array([[[1e200, 0.0]], [[1e200, 0.0]]]),
              "conv2.weight": np.array([[[1.0, 0.0], [-1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]),
              "readout.weight": np.ones(2), "readout.bias": np.zeros(1)}
    x = np.array([[[1e200, 1.0, 1.0, 1.0]]])  # 1e200 * 1e200 overflows float64
    model = CNN(spec, params, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = naive.net_forward(spec, params, x)
    got = model.forward(x, layers=True)
    for k, (a, b) in enumerate(zip(got, ref, strict=True)):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"layer {k}")
    # the ReLU family keeps +inf through layer 1, so layer 2 holds a NaN and so does the output
    if spec.activation.phi(np.array([np.inf]))[0] == np.inf:
        assert np.isnan(got[2][0, 0, 0]) and np.isnan(got[-1][0])


def test_netspec_carries_activation_parameters_only_where_taken():
    # Expect: to_dict lists negative_slope only for an activation that takes it (so every
    # other net's description and cache key are unchanged), NetSpec(**to_dict()) round-trips,
    # and a bad slope is refused naming the parameter, the constraint and the value.
    for name in NAMES:
        spec = NetSpec(act=name)
        d = spec.to_dict()
        assert ("negative_slope" in d) == ("negative_slope" in spec.activation.params)
        assert NetSpec(**d) == spec
    with pytest.raises(ScaleDetectError, match=r"^negative_slope must be a finite number with "
                       r"0 <= negative_slope < 1; got negative_slope=1\.5$"):
        NetSpec(negative_slope=1.5)
    with pytest.raises(ScaleDetectError, match=r"^act must be one of relu, tanh, linear.*"
                       r"got act='swish'$"):
        activations.get("swish")


# ---------------------------------------------------------------------------- leaky ReLU, GELU
NEW = [("leaky_relu", 0.2), ("gelu", 0.01)]  # (act, negative slope: used by leaky_relu only)


def square(out, y):
    """0.5 (out - y)^2 and its derivative (smooth: clean finite differences)."""
    return 0.5 * (out - y) ** 2, out - y


def _away_from_kinks(spec, n=3):
    """A float64 model and data whose pre-activations all satisfy |z| > 1e-4 (leaky ReLU's kink
    at 0 would spoil a difference of step 1e-6), first seed that does."""
    for seed in range(20):
        model = init_cnn(spec, seed, dtype=np.float64)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, 1) + (spec.size,) * spec.dim)
        f, low = x, np.inf
        for k in range(1, spec.depth + 1):
            z = naive.conv_pre(f, model.params[f"conv{k}.weight"],
                               model.params.get(f"conv{k}.bias"), spec.stride)
            low = min(low, np.abs(z).min())
            f = spec.gain * naive.activation(z, spec.act, spec.negative_slope)
        if low > 1e-4:
            return model, x, rng.standard_normal(n)
    raise AssertionError("no seed keeps the pre-activations away from 0")


@pytest.mark.parametrize("act, slope", NEW)
@pytest.mark.parametrize("geom", [(1, 2, 2, 8, 3, True), (1, 3, 1, 5, 2, False),
                                  (2, 2, 2, 4, 2, True), (2, 3, 2, 8, 1, False)], ids=str)
def test_numba_gradients_match_finite_differences(act, slope, geom):
    # Expect: value_and_grad (the numba backward; GELU's phi' from the stored z) equals central
    # differences of step 1e-6 of the mean loss, float64, to 1e-6 of the largest entry
    # (truncation h^2 |f'''| ~ 1e-12, round-off 1e-16 / h = 1e-10).
    dim, f, s, size, depth, bias = geom
    spec = NetSpec(dim=dim, size=size, depth=depth, filter=f, stride=s, width=3, act=act,
                   negative_slope=slope, bias=bias, gain=1.3, param="mf", alpha=0.7)
    model, x, y = _away_from_kinks(spec)
    _, _, grads = model.value_and_grad(x, y, square)
    h = 1e-6
    for name, p in model.params.items():
        fd = np.empty(p.shape)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = square(model.forward(x), y)[0].mean()
            p[idx] = old - h
            down = square(model.forward(x), y)[0].mean()
            p[idx] = old
            fd[idx] = (up - down) / (2 * h)
        err = np.abs(grads[name] - fd).max() / max(np.abs(fd).max(), 1e-3)
        assert err < 1e-6, (name, err)


@pytest.mark.parametrize("act, slope", NEW)
def test_wide_net_matches_the_numpy_reference_on_every_thread_count(act, slope):
    # Expect: a width-256 net whose batch of 8 splits every layer in 2 parts (CNN.parts; GELU's
    # z buffer written and read by both) gives the plain-numpy reference's layers and gradients
    # to 1e-10 (float64) and 1e-5 (float32) of the largest entry, and the same bits on 1 and 2
    # numba threads.
    spec = NetSpec(dim=1, size=128, depth=7, width=256, act=act, negative_slope=slope,
                   gain=2 ** 0.5)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 1, 128)), rng.standard_normal(8)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        model = init_cnn(spec, 0, dtype=dtype)
        assert model.parts(8) == 2
        p64 = {k: v.astype(np.float64) for k, v in model.params.items()}
        xd = x.astype(dtype)
        for got, ref in zip(model.forward(xd, layers=True), naive.net_forward(spec, p64, xd),
                            strict=True):
            assert np.abs(got - ref).max() <= tol * max(np.abs(ref).max(), 1)
        results = []
        saved = numba.get_num_threads()
        try:
            for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
                numba.set_num_threads(threads)
                results.append(model.value_and_grad(xd, y, square, flat=True))
        finally:
            numba.set_num_threads(saved)
        for a, b in zip(*results, strict=True):
            np.testing.assert_array_equal(a, b)
        _, out, grads = model.value_and_grad(xd, y, square)
        ref = naive.net_grads(spec, p64, xd, (out - y) / 8)
        for k, g in grads.items():
            assert np.abs(g - ref[k]).max() <= tol * max(np.abs(ref[k]).max(), 1), k


@pytest.mark.parametrize("act, slope", NEW)
@pytest.mark.parametrize("dim, f, s", [(1, 2, 2), (1, 3, 1), (2, 2, 2), (2, 3, 2)])
def test_pooling_net_numpy_forward_equals_the_kernels(act, slope, dim, f, s):
    # Expect: PoolingNet's vectorized forward (the record's phi in place) equals the general
    # numba kernels on the same weights: 1e-12 (float64), 1e-6 (float32) of the largest entry.
    size = 16 if dim == 1 else 8
    spec = NetSpec(dim=dim, size=size, depth=2, filter=f, stride=s, width=1, bias=False,
                   act=act, negative_slope=slope)
    x = np.random.default_rng(2).standard_normal((6, 1) + (size,) * dim)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        model = pooling_net(spec, dtype=dtype)
        fast, general = model.forward(x, layers=True), CNN.forward(model, x, layers=True)
        for a, b in zip(fast, general, strict=True):
            assert a.dtype == b.dtype == dtype
            assert np.abs(a - b).max() <= tol * max(np.abs(b).max(), 1)


def _independent_block_mc(phi, N, xi, K, P, rng):
    """D_k, G_k and batch-means standard errors, k = 0..K, of the 1D strided (F = s = 2) pooling
    net on the block task (points), written from SPEC sections 2-5 with numpy alone.

    Class-balanced probes (half with both features in one block, half in two), amplitude
    sqrt(N/2); the shift moves feature 1 then feature 2 by +-1, undone if it lands on the other
    feature or leaves its block; batch-matched Gaussian noise; f_k = phi(pairwise mean).
    """
    nb = N // xi
    half = P // 2
    b = rng.integers(nb, size=half)
    same = np.stack([rng.choice(xi, 2, replace=False) for _ in range(half)]) + b[:, None] * xi
    b1 = rng.integers(nb, size=P - half)
    b2 = (b1 + rng.integers(1, nb, size=P - half)) % nb
    diff = np.stack([b1 * xi + rng.integers(xi, size=P - half),
                     b2 * xi + rng.integers(xi, size=P - half)], 1)
    pos = np.concatenate([same, diff])
    moved = pos.copy()
    for f in range(2):
        new = moved[:, f] + rng.choice([-1, 1], size=P)
        ok = (new // xi == moved[:, f] // xi) & (new != moved[:, 1 - f]) & (new >= 0) & (new < N)
        moved[:, f] = np.where(ok, new, moved[:, f])
    amp = np.sqrt(N / 2)

    def images(p):
        x = np.zeros((P, N))
        x[np.arange(P)[:, None], p] = amp
        return x

    x, xd = images(pos), images(moved)
    sigma2 = np.mean(np.sum((xd - x) ** 2, 1)) / N
    xn = x + rng.standard_normal((P, N)) * np.sqrt(sigma2)

    def layers(v):
        out = [v]
        for _ in range(K):
            out.append(phi(out[-1].reshape(P, -1, 2).mean(-1)))
        return out

    D, G, D_se, G_se = (np.zeros(K + 1) for _ in range(4))
    for k, (f, fd, fn) in enumerate(zip(layers(x), layers(xd), layers(xn), strict=True)):
        nd, ng = np.sum((fd - f) ** 2, 1), np.sum((fn - f) ** 2, 1)

        def ratios(idx, f=f, nd=nd, ng=ng):
            m = len(idx)
            g = f[idx]
            den = 2 * m / (m - 1) * (np.mean(np.sum(g * g, 1)) - np.sum(g.mean(0) ** 2))
            return nd[idx].mean() / den, ng[idx].mean() / den

        D[k], G[k] = ratios(np.arange(P))
        batches = np.array([ratios(idx) for idx in np.array_split(rng.permutation(P), 16)])
        D_se[k], G_se[k] = batches.std(0, ddof=1) / 4
    return D, G, D_se, G_se


@pytest.mark.parametrize("act, slope", NEW)
def test_pooling_monte_carlo_matches_an_independent_numpy_monte_carlo(act, slope):
    # Expect: sensitivity.measure on nn.pooling_net (the library's probes, shift, noise,
    # forward and estimators) and the independent numpy Monte Carlo above estimate the same
    # D_k, G_k: every layer within 4 combined standard errors (2 x 6 checks per activation:
    # family-wise) or both exactly 0 (D at the block layer k* = 4 for leaky ReLU).
    N, xi, K, P = 64, 16, 5, 8192
    spec = NetSpec(dim=1, size=N, depth=K, width=1, bias=False, act=act, negative_slope=slope)
    lib = measure(pooling_net(spec), TaskSpec(dim=1, size=N, xi=xi), Perturbation(), probe=P,
                  rng=3)
    phi = lambda z: naive.activation(z, act, slope)  # noqa: E731
    D, G, D_se, G_se = _independent_block_mc(phi, N, xi, K, P, np.random.default_rng(4))
    for name, ind, se in (("D", D, D_se), ("G", G, G_se)):
        got, got_se = getattr(lib, name)[:K + 1], getattr(lib, name + "_se")[:K + 1]
        for k in range(K + 1):
            if ind[k] == 0 or got[k] == 0:
                assert ind[k] == got[k] == 0, (name, k, got[k], ind[k])
                continue
            tol = 4 * np.hypot(se[k], got_se[k])
            assert abs(got[k] - ind[k]) <= tol, (name, k, got[k], ind[k], tol)


def _pure_noise_means(a, v1, K, n=4097, L=10.0):
    """Exact (to the grid) layer-1..K unit means of the strided F = s = 2 leaky-ReLU pooling net
    on pure noise: z_1 ~ N(0, v1), f = lrelu(z), z_{k+1} = (f + f') / 2 with f, f' iid (the
    windows do not overlap), by density recursion on a grid through 0 (linear binning keeps
    every mean; convolution for the sum)."""
    x = np.linspace(-L, L, n) * np.sqrt(v1)
    dx = x[1] - x[0]

    def binned(vals, w):
        t = (vals - x[0]) / dx
        i = np.clip(np.floor(t).astype(int), 0, n - 2)
        out = np.zeros(n)
        np.add.at(out, i, w * (1 - (t - i)))
        np.add.at(out, i + 1, w * (t - i))
        return out

    p = np.exp(-x * x / (2 * v1))
    p /= p.sum()
    means = []
    for _ in range(K):
        f = np.where(x > 0, x, a * x)
        means.append(p @ f)
        q = binned(f, p)
        c = np.convolve(q, q)
        p = binned(x[0] + dx * np.arange(len(c)) / 2, c)
    return np.array(means)


def test_leaky_relu_pile_up_scales_with_one_minus_the_slope():
    # Expect: pure noise (sigma = 1) through the strided F = s = 2 pooling net, N = 256. Layer
    # 1: the rectified mean (1 - a) sqrt(v / 2 pi), v = sigma^2 / 2, exactly. Deeper layers pool
    # it (coherent: it piles up) and rectify what is negative again, lrelu(u) >= u: the mean
    # is (1 - a) sqrt(v / 2 pi) (1 + delta_k), delta_k >= 0 of order a (the density recursion
    # above; a = 0: ReLU, delta = 0). Measured means within 4 standard errors of those values
    # (4 slopes x 6 layers: family-wise), and 0 <= delta_k <= a.
    N, K, P, v1 = 256, 6, 2048, 0.5
    x = np.random.default_rng(6).standard_normal((P, 1, N))
    rate = np.sqrt(v1 / (2 * np.pi))
    for a in (0.0, 0.01, 0.1, 0.3):
        spec = NetSpec(dim=1, size=N, depth=K, width=1, bias=False, act="leaky_relu",
                       negative_slope=a)
        reps = pooling_net(spec).forward(x, layers=True)
        ref = _pure_noise_means(a, v1, K)
        assert abs(ref[0] / ((1 - a) * rate) - 1) < 1e-5  # the grid reproduces layer 1
        delta = ref / ((1 - a) * rate) - 1
        assert np.all(delta >= -1e-5) and np.all(delta <= a + 1e-5), (a, delta)
        for k in range(1, K + 1):
            per_probe = reps[k].reshape(P, -1).mean(1)  # units independent: probes iid
            se = per_probe.std(ddof=1) / np.sqrt(P)
            assert abs(per_probe.mean() - ref[k - 1]) <= 4 * se, (a, k, per_probe.mean(), se)


@pytest.mark.parametrize("act, slope", NEW)
def test_nngp_matches_wide_random_nets(act, slope):
    # Expect: the infinite-width recursion with the record's dual (leaky ReLU: a c + (1 - a)^2
    # times the arc-cosine kernel; GELU: its orthant closed form) gives the per-channel
    # E||f_k(x) - f_k(y)||^2 of random nets of width 512 (48 seeds, biases std 1, an
    # overlapping 1D net) within 4 standard errors over seeds (2 pairs x 4 layers); the
    # finite-width correction O(1/C) ~ 0.2% is below the ~1-2% standard error.
    spec = NetSpec(dim=1, size=8, depth=3, filter=2, stride=1, width=512, act=act,
                   negative_slope=slope, gain=1.2)
    rng = np.random.default_rng(0)
    X = 1.5 * rng.standard_normal((2, 8))
    Y = X + 0.5 * rng.standard_normal((2, 8))
    theory = pair_distances(spec, X, Y, bias_std=1.0)
    per_seed = np.zeros((48,) + theory.shape)
    for i in range(48):
        model = init_cnn(spec, 1000 + i, dtype=np.float64, bias_std=1.0)
        fx, fy = model.forward(X[:, None], layers=True), model.forward(Y[:, None], layers=True)
        for k in range(1, spec.depth + 1):
            per_seed[i, :, k] = np.sum((fx[k] - fy[k]) ** 2, -1).mean(-1)  # channel mean
        per_seed[i, :, -1] = ((fx[-2].mean(-1) - fy[-2].mean(-1)) ** 2).mean(-1)
    mc, se = per_seed.mean(0), per_seed.std(0, ddof=1) / np.sqrt(48)
    np.testing.assert_array_less(np.abs(mc - theory)[:, 1:], 4 * se[:, 1:])


@pytest.mark.parametrize("task, pert", [
    (TaskSpec(dim=1, size=32, xi=8), Perturbation()),
    (TaskSpec(dim=1, size=24, xi=7, rule="distance", gap=1), Perturbation(noise_match="sample")),
    (TaskSpec(dim=2, size=8, xi=4), Perturbation(shift_rule="label"))])
def test_leaky_relu_theory_is_the_relu_theory_at_zero_slope(task, pert):
    # Expect: with slope a = 0 the leaky ReLU record's moments are ReLU's, so predict gives the
    # ReLU net's numbers to 1e-12 (translation path, enumeration with sample-matched noise,
    # 2D), while saying that the leaky ReLU theory is an approximation.
    kw = dict(dim=task.dim, size=task.size, depth=3, width=1, bias=False)
    leaky = predict(task, NetSpec(act="leaky_relu", negative_slope=0.0, **kw), pert)
    assert_same_sensitivities(leaky, predict(task, NetSpec(act="relu", **kw), pert))
    assert leaky.config["method"].startswith("approximate: layer 1 exact, deeper layers linear")


@pytest.mark.parametrize("act, slope, accuracy", [("leaky_relu", 0.01, 0.03),
                                                   ("gelu", 0.01, 0.25)])
def test_new_activations_theory_against_monte_carlo(act, slope, accuracy):
    # Expect (1D block task N = 64, xi = 16, F = s = 2, K = 5, 16384 probes): D_k exact at
    # every layer and G_0, G_1 exact (within 4 standard errors, 2 x 6 checks); deeper G_k
    # approximate, within the stated accuracy plus 4 standard errors. Leaky ReLU (deeper
    # layers linear): the O(a) re-rectification it leaves out, measured -1.4% at N = 256;
    # GELU (Gaussian moment propagation of skewed layer outputs): measured -13 to -17% here,
    # -18 to -25% at N = 256 (see the report's table).
    task = TaskSpec(dim=1, size=64, xi=16)
    net = NetSpec(dim=1, size=64, depth=5, width=1, bias=False, act=act, negative_slope=slope)
    th = predict(task, net)
    assert th.config["method"].startswith("approximate: layer 1 exact")
    mc = measure(pooling_net(net), task, Perturbation(), probe=16384, rng=5)
    for k in range(6):
        assert abs(th.D[k] - mc.D[k]) <= 4 * mc.D_se[k], ("D", k, th.D[k], mc.D[k])
        tol = 4 * mc.G_se[k] + (accuracy * mc.G[k] if k >= 2 else 0.0)
        assert abs(th.G[k] - mc.G[k]) <= tol, ("G", k, th.G[k], mc.G[k])


def test_cli_takes_the_new_activations(capsys):
    # Expect: --act leaky_relu --negative-slope 0.2 reaches the theory's NetSpec (and its
    # JSON), --act gelu the pooling-net Monte Carlo; a slope outside [0, 1) exits with status 2
    # and a one-line error naming the parameter.
    base = ["--size", "32", "--xi", "8", "--depth", "3", "--json"]
    assert main(["theory", "--act", "leaky_relu", "--negative-slope", "0.2"] + base) == 0
    cfg = json.loads(capsys.readouterr().out)["config"]
    assert cfg["net"]["act"] == "leaky_relu" and cfg["net"]["negative_slope"] == 0.2
    assert main(["sensitivity", "--pooling", "--act", "gelu", "--probe", "256", "--seed", "1"]
                + base) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["net"]["act"] == "gelu" and "negative_slope" not in out["config"]["net"]
    assert main(["theory", "--act", "leaky_relu", "--negative-slope", "1.5"] + base) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "negative_slope must be a finite number with 0 <= negative_slope" \
        in err[0]
