"""The kernels that really run, through the public API, against the plain-numpy references.

``.ci/run`` runs this file a second time under ``NUMBA_DISABLE_JIT=1``: every kernel body is then
executed line by line as Python, so an error the compiled code would hide (an index out of
bounds, a wrong slice that happens to read allocated memory) raises. The calls below reach the
network kernels ``_net_forward`` (``CNN.forward``), ``_readout_backward`` and ``_net_backward``
(``CNN.value_and_grad``, ``CNN.sgd_step``), their channel-part kernels on a net large enough that
``CNN.parts`` splits its layers in two, and the moments kernel ``_layer_sums`` (``measure``).
Compiled, the file checks the same numbers in a few seconds; as Python in well under a minute.

Tolerances (as in test_model.py): float64 kernels agree with the reference to 1e-10 relative to
the largest entry (both sum at most a few hundred products in another order: errors ~1e-15 x
that), float32 to 1e-5. ``measure``'s D, G, R are ratios of float64 sums of the same float64
representations: 1e-10 relative.
"""

import naive
import numpy as np
import pytest

from scaledetect import NetSpec, Perturbation, TaskSpec, init_cnn, measure
from scaledetect.sensitivity.probe import draw, root_seed

TOL = {np.float64: 1e-10, np.float32: 1e-5}

# (dim, size, depth, F, s, width, act, bias): strided, unstrided (F > s), F = s = 3 and 2D
SMALL = [(1, 16, 3, 2, 2, 4, "relu", True), (1, 9, 2, 3, 1, 3, "tanh", False),
         (1, 9, 2, 3, 3, 3, "linear", True), (2, 8, 2, 2, 2, 3, "relu", True),
         (2, 6, 2, 3, 1, 2, "tanh", True)]
# 1D, width 256, batch 16: 1.97M multiply-adds a sample (31.6M >= PARTS_MIN_MACS = 2^24 a
# batch) and 525k conv weights against 123k im2col entries: CNN.parts(16) splits every layer
LARGE = NetSpec(dim=1, size=32, depth=5, filter=2, stride=2, width=256, act="relu")


def square(out, y):
    """0.5 (out - y)^2 and its derivative."""
    return 0.5 * (out - y) ** 2, out - y


def _net(case, dtype=np.float64, seed=0):
    dim, size, depth, f, s, width, act, bias = case
    spec = NetSpec(dim=dim, size=size, depth=depth, filter=f, stride=s, width=width, act=act,
                   bias=bias, alpha=1.3, gain=1.2)
    return init_cnn(spec, seed, dtype=dtype)


def _data(spec, n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1) + (spec.size,) * spec.dim), rng.standard_normal(n)


def _close(got, want, tol, what=""):
    assert got.shape == want.shape, what
    assert np.abs(got - want).max() <= tol * max(np.abs(want).max(), 1.0), what


def _check_forward_and_grads(model, n):
    """``forward`` (every layer) and ``value_and_grad`` against naive.py."""
    spec, tol = model.spec, TOL[model.dtype.type]
    x, y = _data(spec, n)
    x = x.astype(model.dtype)  # the reference sees the values the model sees
    params = {k: v.astype(np.float64) for k, v in model.params.items()}
    for got, want in zip(model.forward(x, layers=True), naive.net_forward(spec, params, x),
                         strict=True):
        _close(got, want, tol, "forward")
    values, out, grads = model.value_and_grad(x, y, square)
    want = naive.net_grads(spec, params, x, (out - y) / n)
    assert set(grads) == set(want)
    for name, g in grads.items():
        _close(g, want[name], tol, name)


def _check_sgd_step(model, n, lr=0.05, l2=0.3):
    """``sgd_step`` (the update inside the backward pass) is ``theta - lr (grad + 2 l2 W)``."""
    x, y = _data(model.spec, n)
    params = {k: v.copy() for k, v in model.params.items()}
    out0 = model.forward(x)
    model.sgd_step(x, y, square, lr, l2)
    grads = naive.net_grads(model.spec, params, x, (out0 - y) / n)
    for name, p in params.items():
        decay = 2 * l2 * p if name.startswith("conv") and name.endswith(".weight") else 0.0
        _close(model.params[name], p - lr * (grads[name] + decay), TOL[np.float64], name)


@pytest.mark.parametrize("case", SMALL, ids=lambda c: "-".join(map(str, c)))
def test_small_nets_match_reference(case):
    model = _net(case)
    assert model.parts(3) == 1
    _check_forward_and_grads(model, 3)
    _check_sgd_step(model, 3)


def test_float32_kernels_match_reference():
    _check_forward_and_grads(_net(SMALL[0], np.float32), 3)


def test_channel_parts_match_reference():
    model = init_cnn(LARGE, 0, dtype=np.float64)
    assert model.parts(16) == 2 and model.parts(1) == 1  # the split this test is about
    _check_forward_and_grads(model, 16)
    _check_sgd_step(model, 16, lr=0.01)


def _reference_sensitivities(model, task, pert, probe, seed):
    """D_k, G_k, R_k of the measure's own probes from naive.py's layers and numpy sums."""
    ps = draw(task, pert, probe, root_seed(seed))
    x, xd, xn = ps.perturbed(0, probe)
    params = {k: v.astype(np.float64) for k, v in model.params.items()}
    layers = [naive.net_forward(model.spec, params, z) for z in (x, xd, xn)]
    D, G, R = [], [], []
    for a, b, e in zip(*layers, strict=True):
        a, b, e = (v.reshape(probe, -1) for v in (a, b, e))
        den = 2 / (probe - 1) * ((a - a.mean(0)) ** 2).sum()  # mean of ||a_i - a_j||^2, i != j
        d, g = ((b - a) ** 2).sum(1).mean(), ((e - a) ** 2).sum(1).mean()
        D.append(d / den)
        G.append(g / den)
        R.append(d / g)
    return np.array(D), np.array(G), np.array(R)


@pytest.mark.parametrize("noise_match", ["batch", "sample"])
def test_measure_moments_match_numpy(noise_match):
    # 300 probes: two batches of 256 (the second one partial), summed in separate kernel calls
    model = _net(SMALL[0])
    task = TaskSpec(dim=1, size=16, xi=4)
    pert = Perturbation(noise_match=noise_match)
    got = measure(model, task, pert, probe=300, rng=5, batch_size=256)
    D, G, R = _reference_sensitivities(model, task, pert, 300, 5)
    assert got.layers == (0, 1, 2, 3, "out")
    for name, want in (("D", D), ("G", G), ("R", R)):
        value = np.array(getattr(got, name), float)
        assert np.all(np.abs(value - want) <= 1e-10 * np.abs(want)), (name, value, want)
