"""``nn.CNN``: forward against the numpy reference, gradients against the reference and against
central finite differences (float64), pooling net, parameter handling and errors.

Finite differences: step h = 1e-6 on a quadratic loss; truncation error ~ h^2 |f'''| ~ 1e-12 and
round-off ~ 1e-16 / h = 1e-10, so the gradient error relative to its largest entry must stay
below 1e-6 (the stated requirement), unless a ReLU pre-activation lies within ~h of its kink:
each case picks the first seed whose pre-activations all satisfy |z| > 1e-4 (checked).
"""

import dataclasses

import naive
import numba
import numpy as np
import pytest

from scaledetect._kernels.blas import blas_threads, blas_threads_api
from scaledetect.engine import Engine
from scaledetect.errors import ScaleDetectError
from scaledetect.nn import CNN, init_cnn, param_shapes, pooling_net
from scaledetect.nn.spec import NetSpec


def square(out, y):
    """0.5 (out - y)^2 and its derivative (smooth, so finite differences are clean)."""
    return 0.5 * (out - y) ** 2, out - y


# (dim, F, s, size, depth): every stride pattern asked for, in 1D and 2D
GEOMETRIES = [(1, 2, 1, 6, 2), (1, 2, 2, 8, 3), (1, 3, 1, 5, 2), (1, 3, 3, 9, 2), (1, 3, 2, 8, 2),
              (2, 2, 1, 4, 2), (2, 2, 2, 4, 2), (2, 3, 1, 4, 2), (2, 3, 3, 6, 1), (2, 3, 2, 8, 2)]
VARIANTS = [("relu", "ntk", True, 1.0, 1.0), ("tanh", "mf", False, 0.7, 1.4),
            ("linear", "ntk", False, 2.0, 0.8), ("relu", "mf", True, 0.5, 1.3),
            ("tanh", "ntk", True, 1.0, 1.0), ("linear", "mf", True, 1.0, 1.0)]
CASES = [g + v for i, g in enumerate(GEOMETRIES) for v in (VARIANTS[i % 6], VARIANTS[(i + 3) % 6])]


def _spec(dim, f, s, size, depth, act, param, bias, alpha, gain, width=3):
    return NetSpec(dim=dim, size=size, depth=depth, filter=f, stride=s, width=width, act=act,
                   bias=bias, param=param, alpha=alpha, gain=gain)


def _data(spec, n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1) + (spec.size,) * spec.dim), rng.standard_normal(n)


def _min_abs_pre(spec, params, x):
    f, m = x, np.inf
    for k in range(1, spec.depth + 1):
        z = naive.conv_pre(f, params[f"conv{k}.weight"], params.get(f"conv{k}.bias"), spec.stride)
        m = min(m, np.abs(z).min())
        f = spec.gain * naive.activation(z, spec.act)
    return m


def _model_away_from_kinks(spec, n=3):
    for seed in range(20):
        model = init_cnn(spec, seed, dtype=np.float64)
        x, y = _data(spec, n, seed)
        if spec.act != "relu" or _min_abs_pre(spec, model.params, x) > 1e-4:
            return model, x, y
    raise AssertionError("no seed keeps ReLU pre-activations away from 0")


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_finite_differences(case):
    spec = _spec(*case)
    model, x, y = _model_away_from_kinks(spec)
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


@pytest.mark.parametrize("case", CASES[::3], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_grads_match_reference(case, dtype):
    spec = _spec(*case, width=5)
    model = init_cnn(spec, 1, dtype=dtype)
    x, y = _data(spec, 4, 2)
    params64 = {k: v.astype(np.float64) for k, v in model.params.items()}
    ref = naive.net_forward(spec, params64, x.astype(dtype))
    got = model.forward(x, layers=True)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    assert len(got) == spec.depth + 2
    for a, r in zip(got, ref, strict=True):
        assert a.shape == r.shape and a.dtype == dtype
        assert np.abs(a - r).max() <= tol * max(np.abs(r).max(), 1)
    np.testing.assert_array_equal(model.forward(x), got[-1])
    values, out, grads = model.value_and_grad(x, y, square)
    np.testing.assert_array_equal(out, got[-1])
    rgrads = naive.net_grads(spec, params64, x.astype(dtype), (out - y) / len(y))
    assert set(grads) == set(param_shapes(spec))
    for k, g in grads.items():
        assert g.shape == model.params[k].shape and g.dtype == dtype
        assert np.abs(g - rgrads[k]).max() <= tol * max(np.abs(rgrads[k]).max(), 1), k


@pytest.mark.parametrize("case", CASES[::2], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_sgd_step_is_the_gradient_step(case, l2):
    # theta <- theta - lr (grad + 2 l2 W), W = the conv weights only, with the gradient of the
    # plain-numpy reference; the step is taken inside the backward pass (each W updated by the
    # gemm that forms dW, after the last read of W), so float64 agrees to rounding
    spec = _spec(*case, width=5)
    model = init_cnn(spec, 1, dtype=np.float64)
    x, y = _data(spec, 4, 2)
    params = {k: v.copy() for k, v in model.params.items()}
    out0 = model.forward(x)
    lr = 0.05
    values, out = model.sgd_step(x, y, square, lr, l2)
    np.testing.assert_array_equal(out, out0)
    np.testing.assert_array_equal(values, square(out0, y)[0])
    rgrads = naive.net_grads(spec, params, x, (out0 - y) / len(y))
    for k, p in params.items():
        decay = 2 * l2 * p if k.startswith("conv") and k.endswith(".weight") else 0
        expect = p - lr * (rgrads[k] + decay)
        assert np.abs(model.params[k] - expect).max() <= 1e-12 * max(np.abs(expect).max(), 1), k


def test_sgd_step_rejects_bad_rates():
    model = init_cnn(NetSpec(dim=1, size=8, depth=1, filter=2, stride=2, width=2), 0)
    x, y = np.zeros((1, 1, 8)), np.ones(1)
    for lr, l2, name in [(0.0, 0.0, "lr"), (np.nan, 0.0, "lr"), (0.1, -1.0, "l2")]:
        with pytest.raises(ScaleDetectError, match=f"^{name} must"):
            model.sgd_step(x, y, square, lr, l2)


@pytest.mark.timeout(120)  # two threads meet at the kernels' spinning barrier: a hang fails
def test_threads_give_identical_bits():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has 1 thread here (NUMBA_NUM_THREADS=1): 1 vs 2 thread bit identity "
                    "not tested")
    # width 64 on N = 256 (layer 2: 64 x 192 x 512 multiply-adds): the engine's thread count must
    # change no bit, and blas_threads(n) must give BLAS n threads for its duration (bit identity
    # of BLAS on 1 vs 2 threads: test_kernels.test_blas_threads_give_identical_bits)
    spec = NetSpec(dim=1, size=256, depth=3, filter=3, stride=2, width=64, act="tanh")
    x, y = _data(spec, 8, 5)
    results = []
    api = blas_threads_api()
    for threads in (1, 2):
        with Engine(threads=threads):
            results.append(init_cnn(spec, 0).value_and_grad(x, y, square, flat=True))
        if api is not None:
            with blas_threads(threads):
                assert api[0]() == threads
    for a, b in zip(results[0], results[-1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_pooling_net_averages():
    spec = NetSpec(dim=2, size=8, depth=3, filter=2, stride=2, width=1, bias=False, act="relu",
                   alpha=2.0)
    model = pooling_net(spec)
    assert model.dtype == np.float64 and model.n_params == 3 * 4 + 2
    # constant image c >= 0 -> every layer constant c, output alpha * c
    reps = model.forward(np.full((2, 1, 8, 8), 0.75), layers=True)
    for k, r in enumerate(reps[1:-1], start=1):
        assert r.shape == (2, 1, 8 >> k, 8 >> k)
        np.testing.assert_allclose(r, 0.75, rtol=1e-15)
    np.testing.assert_allclose(reps[-1], 1.5, rtol=1e-15)
    # layer 1 of a nonnegative image is the mean of each 2 x 2 block
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    f1 = model.forward(x, layers=True)[1]
    np.testing.assert_allclose(f1[:, 0], x[:, 0].reshape(3, 4, 2, 4, 2).mean(axis=(2, 4)),
                               rtol=1e-14)
    with pytest.raises(ScaleDetectError, match="width"):
        pooling_net(dataclasses.replace(spec, width=2))


def test_pooling_net_large_probe_set_fast():
    spec = NetSpec(dim=1, size=128, depth=7, filter=2, stride=2, width=1, bias=False)
    model = pooling_net(spec)
    x = np.random.default_rng(0).random((20000, 1, 128))
    reps = model.forward(x, layers=True)
    np.testing.assert_allclose(reps[-1], x.mean(axis=(1, 2)), rtol=1e-12)


def test_params_replaced_copy_and_init():
    spec = NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=4)
    model = init_cnn(spec, 7, bias_std=0.5)
    assert model.dtype == np.float32 and model.n_params == 4 * 2 + 4 + 16 * 2 + 4 + 4 + 1
    assert model.params["readout.bias"][0] == 0
    x, _ = _data(spec, 3, 0)
    before = model.forward(x)
    clone = model.copy()
    model.params["readout.bias"] = np.array([1.0])  # replaced, not updated in place
    after = model.forward(x)
    # the readout bias enters as alpha * b
    np.testing.assert_allclose(after - before, 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clone.forward(x), before)
    again = CNN(spec, model.params)
    np.testing.assert_array_equal(again.forward(x), after)
    np.testing.assert_array_equal(init_cnn(spec, 7, bias_std=0.5).theta, clone.theta)


def test_errors_name_the_problem():
    spec = NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=4)
    model = init_cnn(spec, 0)
    with pytest.raises(ScaleDetectError, match=r"x must have shape \(n, 1, 16\)"):
        model.forward(np.zeros((2, 16)))
    params = dict(model.params)
    params["conv1.weight"] = np.zeros((4, 1, 3))
    with pytest.raises(ScaleDetectError, match=r"params\['conv1.weight'\].shape"):
        CNN(spec, params)
    del params["conv1.weight"]
    with pytest.raises(ScaleDetectError, match="missing"):
        CNN(spec, params)
    with pytest.raises(ScaleDetectError, match="dtype"):
        init_cnn(spec, 0, dtype=np.int32)


def test_bench_reports_spec_format():
    from scaledetect import bench

    # flops of one step, by hand for the 1D width-16 case (N = 128, K = 7, F = s = 2, batch 8):
    # layer 1: 16 * 1 * 2 * 8 * 64 MACs (forward + dW), layers 2..7: 16 * 16 * 2 * 8 * N_k MACs
    # (forward + dW + dL/df), N_k = 32, 16, 8, 4, 2, 1
    name, spec, batch = bench.CASES[0]
    expect = 2 * (2 * 16 * 2 * 8 * 64 + 3 * 16 * 16 * 2 * 8 * 63)
    assert bench.step_flops(spec, batch) == expect
    result = bench.run(threads=1, repeats=2, rounds=1, jit=False)
    assert [c["name"] for c in result["cases"]] == [c[0] for c in bench.CASES]
    for c in result["cases"]:
        assert set(c) >= {"name", "numba_ms", "torch_ms", "ratio", "gflops"}
        assert c["numba_ms"] > 0 and c["gflops"] > 0
    assert result["ceiling_gflops"] > 0
    for c in result["cases"]:  # share of the ceiling; 1-thread ratio to PyTorch
        assert c["pct_ceiling"] == pytest.approx(100 * c["gflops"] / result["ceiling_gflops"])
        assert c["ratio_1t"] == c["by_threads"]["1"]["ratio"]
