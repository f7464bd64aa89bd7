"""How close one SGD step of the numba engine is to its own products, side by side with PyTorch.

Usage: python benchmarks/bench_engine_bound.py [--case 1d_w256] [--rounds 15]

Times, in interleaved blocks on one thread: PyTorch's step and numba's ``CNN.sgd_step`` as
``scaledetect bench`` runs them, and the numba step's gemm calls alone: the same shapes, layouts,
transpositions and channel parts, in the same order, on buffers of the same sizes (one per layer,
so the weights stream from memory as in the step). Prints the medians (ms), the ratios to
PyTorch, the products' GFLOP/s, and the time the step's flops would take at the best rate of a
512 x 512 float32 product of the same BLAS on one thread (a bound for any engine built on it).
"""

import argparse
import sys
import time

import numba
import numpy as np
from numba.typed import List

from scaledetect._kernels import blas, conv
from scaledetect.bench import CASES, _timed, numba_step, step_flops, torch_step
from scaledetect.engine import Engine


@numba.njit(nogil=True)
def _products(ws, xs, zs, dws, dcs, parts):
    """The gemm calls of one numba SGD step (``conv._net_forward``, ``_net_backward``)."""
    one = np.float32(1)
    for k in range(len(ws)):
        c = ws[k].shape[0]
        for t in range(parts):
            r0, r1 = t * c // parts, (t + 1) * c // parts
            conv._gemm(ws[k][r0:r1], False, xs[k], False, zs[k][r0:r1], one)
    for k in range(len(ws) - 1, -1, -1):
        c, kk = ws[k].shape
        if k > 0:  # no dL/df for the input
            for t in range(parts):
                c0, c1 = t * kk // parts, (t + 1) * kk // parts
                conv._gemm(ws[k][:, c0:c1], True, zs[k], False, dcs[k][c0:c1], one)
        for t in range(parts):
            r0, r1 = t * c // parts, (t + 1) * c // parts
            conv._gemm(zs[k][r0:r1], False, xs[k], True, dws[k][r0:r1], one, one)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="1d_w256", choices=[c[0] for c in CASES])
    parser.add_argument("--rounds", type=int, default=15)
    a = parser.parse_args(argv)
    import torch

    spec, batch = {name: (s, b) for name, s, b in CASES}[a.case]
    Engine(threads=1).install()  # the engine's step on one thread (BLAS single-threaded)
    torch.set_num_threads(1)
    blas.single_threaded()  # for the bare products, which run outside the engine
    rng = np.random.default_rng(0)
    ws, xs, zs, dws, dcs = List(), List(), List(), List(), List()
    for k in range(1, spec.depth + 1):
        kk = (1 if k == 1 else spec.width) * spec.filter ** spec.dim
        q = batch * spec.sizes[k] ** spec.dim
        ws.append(rng.standard_normal((spec.width, kk), dtype=np.float32))
        xs.append(rng.standard_normal((kk, q), dtype=np.float32))
        zs.append(np.zeros((spec.width, q), np.float32))
        dws.append(np.zeros((spec.width, kk), np.float32))
        dcs.append(np.zeros((kk, q), np.float32))
    step, model = numba_step(spec, batch)
    parts = model.parts(batch)
    fns = {"torch": torch_step(spec, batch), "numba": step,
           "products": lambda: _products(ws, xs, zs, dws, dcs, parts)}
    times = {k: [] for k in fns}
    for f in fns.values():
        for _ in range(20):
            f()
    for _ in range(a.rounds):
        time.sleep(0.1)  # other threads' spinning ends first
        for k, f in fns.items():
            times[k] += _timed(f, 40)
    ms = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    flops = step_flops(spec, batch)
    n = 512
    sq = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    rate = 2 * n ** 3 / min(_timed(lambda: _square(sq, out), 30))
    print(f"{a.case}, one thread, {parts} part(s): "
          + ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items()))
    print(f"numba / torch {ms['numba'] / ms['torch']:.3f}; products / torch "
          f"{ms['products'] / ms['torch']:.3f} ({flops / ms['products'] / 1e6:.1f} GFLOP/s); "
          f"flops at the best rate of a 512^3 product on one thread ({rate / 1e9:.0f} GFLOP/s): "
          f"{flops / rate * 1e3:.2f} ms = {flops / rate * 1e3 / ms['torch']:.3f} of torch")
    return 0


@numba.njit(nogil=True)
def _square(a, out):
    """``out = a @ a`` by the engine's gemm (scipy's BLAS, single-threaded)."""
    conv._gemm(a, False, a, False, out, np.float32(1))


if __name__ == "__main__":
    sys.exit(main())
