"""The per-batch sums of the ``mean`` estimator (``_kernels.moments._layer_sums``) against plain
numpy, and the batch/thread independence of ``MeanAccumulator``.

Tolerances: the kernel does the float64 operations of the numpy formulas in another summation
order (pairwise row sums, four rows at a time for T), so the sums agree to a few float64 ulps
of the sum of absolute terms: 1e-13 relative to the largest |entry| of each sum.
"""

import numpy as np
import pytest

from scaledetect._kernels.moments import _COLS, _ROW, _layer_sums
from scaledetect.sensitivity.moments import MeanAccumulator


def reference(a, b, e, c, shift, d0):
    """``M = Q^T Q``, ``T = Q^T (a - c)``, ``d`` with ``Q = (1, r, d, g, d0) - shift`` (numpy)."""
    a, b, e = (np.asarray(z, np.float64) for z in (a, b, e))
    d = ((b - a) ** 2).sum(1)
    g = ((e - a) ** 2).sum(1)
    x = a - c
    r = (x**2).sum(1)
    Q = np.stack([np.ones(len(a)), r, d, g, d if d0 is None else d0], axis=1) - shift
    return Q.T @ Q, Q.T @ x, d


def _close(got, want):
    scale = max(np.abs(want).max(), 1e-300)
    assert np.abs(got - want).max() <= 1e-13 * scale


# dims around the kernel's chunk edges (8-wide halving, _ROW, _COLS), rows around 4 and 1
@pytest.mark.parametrize("n, dim", [(1, 1), (5, 7), (6, 9), (4, _COLS + 3), (7, _ROW + 1),
                                    (9, 2 * _ROW + 13), (256, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer0", [True, False])
def test_layer_sums_equal_numpy(n, dim, dtype, layer0):
    rng = np.random.default_rng(n * 1000 + dim)
    a = (rng.standard_normal((n, dim)) + 3.0).astype(dtype)  # an offset, as after a ReLU
    b = (a + 0.1 * rng.standard_normal((n, dim))).astype(dtype)
    e = (a + 0.2 * rng.standard_normal((n, dim))).astype(dtype)
    c = a.astype(np.float64).mean(0)
    shift = rng.standard_normal(5)
    d0 = None if layer0 else rng.random(n)
    M0, T0 = rng.standard_normal((5, 5)), rng.standard_normal((5, dim))  # sums are added to
    M, T, d = M0.copy(), T0.copy(), np.empty(n)
    _layer_sums(a, b, e, c, shift, np.empty(0) if d0 is None else d0, M, T, d)
    Mr, Tr, dr = reference(a, b, e, c, shift, d0)
    _close(d, dr)
    _close(M - M0, Mr)
    _close(T - T0, Tr)


def test_float32_rows_are_converted_before_subtracting():
    # 1 + 2^-23 and 1 differ by one float32 ulp: the change must be exactly 2^-46 per entry, as
    # float64 arithmetic on the float32 values gives.
    a = np.ones((1, 16), np.float32)
    b = np.full((1, 16), 1 + 2.0**-23, np.float32)
    M, T, d = np.zeros((5, 5)), np.zeros((5, 16)), np.empty(1)
    _layer_sums(a, b, a, np.zeros(16), np.zeros(5), np.empty(0), M, T, d)
    assert d[0] == 16 * 2.0**-46


def _batches(rng, sizes, dims=(3, 40, 1)):
    out = []
    for n in sizes:
        clean = [rng.standard_normal((n, d)).astype(np.float32) + 1 for d in dims]
        out.append((clean, [x + np.float32(0.1) * rng.standard_normal(x.shape).astype(np.float32)
                            for x in clean],
                    [x + np.float32(0.3) * rng.standard_normal(x.shape).astype(np.float32)
                     for x in clean]))
    return out


def test_partial_sums_merged_in_order_equal_the_serial_sums():
    # The threaded measurement computes each batch's sums apart (partial) and merges them in
    # batch order: exactly the serial add, bit for bit, whatever the order the partials were
    # computed in.
    batches = _batches(np.random.default_rng(0), (256, 256, 100))
    serial = MeanAccumulator()
    for b in batches:
        serial.add(*b)
    par = MeanAccumulator()
    par.start(*batches[0])
    parts = [par.partial(*b) for b in reversed(batches)][::-1]
    for p in parts:
        par.merge(p)
    for name in ("D", "G", "R", "D_se", "G_se", "R_se"):
        np.testing.assert_array_equal(par.finish()[name], serial.finish()[name])
