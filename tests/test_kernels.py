"""numba conv kernels (``scaledetect._kernels.conv``) against the plain-numpy reference (naive.py).

Tolerances: float64 kernels agree with the reference to 1e-10 relative to the largest entry
(both sum at most C_in F^dim + C_out n N products in a different order: error ~ 1e-15 x that);
float32 to 1e-5 relative (float32 eps 6e-8 times the same sums of <= ~100 terms). Any BLAS
thread count must give the same bits.
"""

import naive
import numpy as np
import pytest

from scaledetect import activations
from scaledetect._kernels.blas import blas_threads
from scaledetect._kernels.conv import _conv_backward, _conv_forward, _gemm

# (dim, F, s, N): every stride/filter pattern asked for, N divisible by s
# (dim, F, s, N); F <= s with N = s N_out is the tiled im2col path (conv._tiled), F = 1 < s too
GEOMETRIES = [(1, 2, 1, 6), (1, 2, 2, 8), (1, 3, 1, 5), (1, 3, 3, 9), (1, 3, 2, 8), (1, 1, 1, 4),
              (1, 1, 2, 8), (2, 2, 1, 4), (2, 2, 2, 4), (2, 3, 1, 4), (2, 3, 3, 6), (2, 3, 2, 4),
              (2, 1, 2, 4)]
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _internal(a):
    """(n, C, spatial...) -> (C, n * prod(spatial)) contiguous (kernel layout)."""
    return np.ascontiguousarray(np.swapaxes(a, 0, 1)).reshape(a.shape[1], -1)


def _external(a, n, spatial):
    return np.ascontiguousarray(np.swapaxes(a.reshape((a.shape[0], n) + spatial), 0, 1))


def _setup(dim, f, s, size, dtype, cin=3, cout=5, n=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin) + (size,) * dim)
    w = rng.standard_normal((cout, cin) + (f,) * dim)
    b = rng.standard_normal(cout)
    return x, w, b


def _geom(dim, f, s, size):
    nout = size // s
    if dim == 1:
        return dict(hin=1, win=size, hout=1, wout=nout, fh=1, fw=f, sh=1, sw=s)
    return dict(hin=size, win=size, hout=nout, wout=nout, fh=f, fw=f, sh=s, sw=s)


def _geo_args(g):
    return tuple(g[k] for k in ("hin", "win", "hout", "wout", "fh", "fw", "sh", "sw"))


def run_forward(x, w, b, s, act, gain, dtype, pre=None, slope=0.01):
    dim = x.ndim - 2
    n, cin, size = x.shape[0], x.shape[1], x.shape[2]
    cout, f = w.shape[0], w.shape[-1]
    g = _geom(dim, f, s, size)
    kk = cin * f ** dim
    qout = n * (size // s) ** dim
    out = np.empty((cout, qout), dtype)
    cols = np.empty((kk, qout), dtype)
    scale = dtype(1 / np.sqrt(kk))
    has_bias = b is not None
    bb = (b if has_bias else np.zeros(1)).astype(dtype)
    pre = np.empty_like(out) if pre is None else pre
    _conv_forward(_internal(x.astype(dtype)), np.ascontiguousarray(w.reshape(cout, kk), dtype),
                  bb, has_bias, out, pre, cols, n, *_geo_args(g), scale, dtype(gain),
                  activations.get(act).code, dtype(slope))
    return out, cols


def run_backward(x, w, b, s, act, gain, gout, dtype, slope=0.01):
    dim = x.ndim - 2
    n, cin, size = x.shape[0], x.shape[1], x.shape[2]
    cout, f = w.shape[0], w.shape[-1]
    g = _geom(dim, f, s, size)
    kk = cin * f ** dim
    pre = np.empty((cout, n * (size // s) ** dim), dtype)
    out, cols = run_forward(x, w, b, s, act, gain, dtype, pre, slope)
    qout = out.shape[1]
    gz = _internal(gout.astype(dtype))
    dw = np.empty((cout, kk), dtype)
    db = np.empty(cout, dtype)
    gin = np.empty((cin, x[:, 0].size), dtype)
    has_bias = b is not None
    _conv_backward(gz, out, pre, cols, np.ascontiguousarray(w.reshape(cout, kk), dtype), dw, db,
                   has_bias, gin, True, np.empty((kk, qout), dtype), n, *_geo_args(g),
                   dtype(1 / np.sqrt(kk)), dtype(gain), activations.get(act).code, dtype(slope))
    return gin, dw.reshape(w.shape), (db if has_bias else None)


def _close(a, ref, tol):
    scale = max(np.abs(ref).max(), 1.0)
    assert np.abs(np.asarray(a, np.float64) - ref).max() <= tol * scale


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim,f,s,size", GEOMETRIES)
def test_forward_matches_reference(dim, f, s, size, dtype):
    x, w, b = _setup(dim, f, s, size, dtype)
    for act, gain, bias in (("relu", 1.0, True), ("tanh", 1.7, False), ("linear", 0.5, True),
                            ("leaky_relu", 1.2, True), ("gelu", 0.8, False)):
        out, cols = run_forward(x, w, b if bias else None, s, act, gain, dtype, slope=0.2)
        ref = naive.conv_forward(x, w, b if bias else None, s, act, gain, slope=0.2)
        n = x.shape[0]
        _close(_external(out, n, ref.shape[2:]), ref, TOL[dtype])
    # cols is the im2col of x: the first row is x[:, 0] read at (s u) mod N, the origin of windows
    first = np.take(x[:, 0], s * np.arange(size // s), axis=-1)
    if dim == 2:
        first = np.take(first, s * np.arange(size // s), axis=1)
    np.testing.assert_array_equal(cols[0], first.astype(dtype).reshape(-1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim,f,s,size", GEOMETRIES)
def test_backward_matches_reference(dim, f, s, size, dtype):
    x, w, b = _setup(dim, f, s, size, dtype)
    rng = np.random.default_rng(1)
    for act, gain, bias in (("relu", 1.0, True), ("tanh", 1.7, True), ("linear", 0.5, False),
                            ("leaky_relu", 1.2, True), ("gelu", 0.8, True)):
        bb = b if bias else None
        gout = rng.standard_normal(naive.conv_forward(x, w, bb, s, act, gain).shape)
        gin, dw, db = run_backward(x, w, bb, s, act, gain, gout, dtype, slope=0.2)
        rgin, rdw, rdb = naive.conv_backward(x, w, bb, s, act, gain, gout, slope=0.2)
        _close(_external(gin, x.shape[0], x.shape[2:]), rgin, TOL[dtype])
        _close(dw, rdw, TOL[dtype])
        if bias:
            _close(db, rdb, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim,f,s,size", [(1, 2, 2, 8), (2, 3, 2, 4), (1, 3, 1, 5)])
def test_deep_layer_shapes_match_reference(dim, f, s, size, dtype):
    # few columns n q and more channels than columns (deep layers of wide nets); 1D: plain loops
    # (C_in F = 14), 2D: BLAS (C_in F^2 = 63)
    x, w, b = _setup(dim, f, s, size, dtype, cin=7, cout=24, n=2, seed=5)
    rng = np.random.default_rng(6)
    for act, gain in (("relu", 1.0), ("tanh", 1.3)):
        out, _ = run_forward(x, w, b, s, act, gain, dtype)
        ref = naive.conv_forward(x, w, b, s, act, gain)
        _close(_external(out, 2, ref.shape[2:]), ref, TOL[dtype])
        gout = rng.standard_normal(ref.shape)
        gin, dw, db = run_backward(x, w, b, s, act, gain, gout, dtype)
        rgin, rdw, rdb = naive.conv_backward(x, w, b, s, act, gain, gout)
        _close(_external(gin, 2, x.shape[2:]), rgin, TOL[dtype])
        _close(dw, rdw, TOL[dtype])
        _close(db, rdb, TOL[dtype])


def _same_bits_with_blas_threads(x, w, b, s, gout, dtype, out, grads):
    # BLAS's thread count (1 or 2) changes no bit (OpenBLAS splits only the output among threads)
    for threads in (1, 2):
        with blas_threads(threads):
            np.testing.assert_array_equal(run_forward(x, w, b, s, "tanh", 1.3, dtype)[0], out)
            got = run_backward(x, w, b, s, "tanh", 1.3, gout, dtype)
        for a, r in zip(got, grads, strict=True):
            np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim,f,s,size,cin,cout", [(1, 2, 2, 8, 20, 40), (2, 3, 2, 4, 5, 33)])
def test_blas_layers_match_reference(dim, f, s, size, cin, cout, dtype):
    # wider layers than GEOMETRIES' (C_in F^dim = 40 or 45 im2col rows, 40 or 33 channels): the
    # sizes where OpenBLAS switches from its small-matrix kernels to packed blocks
    x, w, b = _setup(dim, f, s, size, dtype, cin=cin, cout=cout, n=3, seed=8)
    ref = naive.conv_forward(x, w, b, s, "tanh", 1.3)
    gout = np.random.default_rng(9).standard_normal(ref.shape)
    rgin, rdw, rdb = naive.conv_backward(x, w, b, s, "tanh", 1.3, gout)
    out = run_forward(x, w, b, s, "tanh", 1.3, dtype)[0]
    _close(_external(out, 3, ref.shape[2:]), ref, TOL[dtype])
    gin, dw, db = run_backward(x, w, b, s, "tanh", 1.3, gout, dtype)
    _close(_external(gin, 3, x.shape[2:]), rgin, TOL[dtype])
    _close(dw, rdw, TOL[dtype])
    _close(db, rdb, TOL[dtype])
    _same_bits_with_blas_threads(x, w, b, s, gout, dtype, out, (gin, dw, db))


def test_blas_threads_give_identical_bits():
    # 2D, overlapping windows (F=3, s=2), a BLAS layer large enough for OpenBLAS to use 2
    # threads (C_out C_in F^2 n N_out^2 = 256 * 288 * 4096 multiply-adds per product)
    x, w, b = _setup(2, 3, 2, 32, np.float32, cin=32, cout=256, n=16, seed=3)
    gout = np.random.default_rng(4).standard_normal((16, 256, 16, 16))
    out = run_forward(x, w, b, 2, "tanh", 1.3, np.float32)[0]
    grads = run_backward(x, w, b, 2, "tanh", 1.3, gout, np.float32)
    _same_bits_with_blas_threads(x, w, b, 2, gout, np.float32, out, grads)


# Rows of at least 8 output positions take the unsigned-index path of the im2col gather and
# col2im scatter (``if wout < 8`` in _gather_rows / _scatter_rows); the geometries above all
# have shorter rows. (dim, F, s, N) with N / s >= LONG_ROW: windows that wrap around
# the right edge (F > s) and that do not (F = s, F = 1), 1D and 2D.
LONG_ROW = 8
LONG_GEOMETRIES = [(1, 2, 1, 17), (1, 3, 2, 32), (1, 3, 3, 48), (1, 1, 1, 16), (2, 3, 1, 16),
                   (2, 2, 2, 32), (2, 3, 2, 32)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim,f,s,size", LONG_GEOMETRIES)
def test_long_rows_match_reference(dim, f, s, size, dtype):
    assert size // s >= LONG_ROW  # the sizes must cross the long-row threshold to test that path
    x, w, b = _setup(dim, f, s, size, dtype, cin=2, cout=5, n=3, seed=7)
    rng = np.random.default_rng(8)
    for act, gain, bias in (("relu", 1.0, True), ("tanh", 1.7, False)):
        bb = b if bias else None
        ref = naive.conv_forward(x, w, bb, s, act, gain)
        gout = rng.standard_normal(ref.shape)
        rgin, rdw, rdb = naive.conv_backward(x, w, bb, s, act, gain, gout)
        out, _ = run_forward(x, w, bb, s, act, gain, dtype)
        _close(_external(out, 3, ref.shape[2:]), ref, TOL[dtype])
        gin, dw, db = run_backward(x, w, bb, s, act, gain, gout, dtype)
        _close(_external(gin, 3, x.shape[2:]), rgin, TOL[dtype])
        _close(dw, rdw, TOL[dtype])
        if bias:
            _close(db, rdb, TOL[dtype])


def test_circular_window_is_aligned_at_zero():
    # 1D, F=3, s=2, N=8, one input channel, weights (1, 0, 0): unit u must read x[2u] exactly,
    # and weights (0, 0, 1): unit 3 reads x[(6 + 2) mod 8] = x[0] (wrap on the right)
    x = np.arange(8.0).reshape(1, 1, 8) + 1
    for j, expect in ((0, [1, 3, 5, 7]), (2, [3, 5, 7, 1])):
        w = np.zeros((1, 1, 3))
        w[0, 0, j] = np.sqrt(3)  # undo the 1/sqrt(C_in F) scaling
        out, _ = run_forward(x, w, None, 2, "linear", 1.0, np.float64)
        np.testing.assert_allclose(out[0], expect, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_blocks_match_numpy(ta, tb, dtype):
    # the engine's one BLAS call: c = alpha op(a) op(b) on row and column blocks of C-contiguous
    # arrays (their leading dimensions passed, nothing copied), as the layers' parts use them;
    # every entry is a sum of 7 products of O(1) numbers, so numpy agrees to a few ulps
    rng = np.random.default_rng(5)
    m, n, k = 5, 6, 7
    big = lambda r, c: rng.standard_normal((r + 3, c + 4)).astype(dtype)  # noqa: E731
    a_full = big(*((k, m) if ta else (m, k)))
    b_full = big(*((n, k) if tb else (k, n)))
    a = a_full[1:1 + a_full.shape[0] - 3, 2:2 + a_full.shape[1] - 4]  # a block: strided rows
    b = b_full[2:2 + b_full.shape[0] - 3, 1:1 + b_full.shape[1] - 4]
    c_full = np.full((m + 2, n + 3), 7.0, dtype)
    c = c_full[1:1 + m, 2:2 + n]
    alpha = dtype(0.375)
    _gemm(a, ta, b, tb, c, alpha)
    ref = alpha * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64))
    np.testing.assert_allclose(c, ref, rtol=0, atol=TOL[dtype] * np.abs(ref).max())
    outside = np.ones_like(c_full, bool)
    outside[1:1 + m, 2:2 + n] = False
    assert np.all(c_full[outside] == 7.0)  # only the block is written
