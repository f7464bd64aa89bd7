"""``scaledetect bench --json``: the flops it divides by are the convolutions' multiply-adds,
its times are those of the step it names, and it reports every thread count and PyTorch column.

The derived fields (GFLOP/s, % of the ceiling, ratios) are quotients of these; checking them
against the same quotients would only repeat the code, so the inputs are checked instead.
"""

import time

import numba
import numpy as np

from scaledetect import bench

# Flops of one SGD step, counted by hand (bench's docstring: 2 flops per multiply-add of the
# forward pass C_out C_in F^dim Q, the same again for dL/dW and for dL/df_{k-1} except at the
# input layer; Q = batch x output positions, batch 8). With P_k = (N / 2^k)^dim positions:
#   flops = 2 * 8 * F^dim * C * (2 * P_1 + 3 * C * sum_{k=2..K} P_k)
#   1d_w16:  N 128, K 7: P_1 = 64, sum P_2..7 = 63        -> 512 * (128 + 3024)     = 1,613,824
#   1d_w64:  the same with C = 64                           -> 2048 * (128 + 12096)   = 25,034,752
#   1d_w256: C = 256                                        -> 8192 * (128 + 48384)   = 397,410,304
#   2d_w32:  N 32, K 5, F^2 = 4: P_1 = 256, sum P_2..5 = 85 -> 2048 * (512 + 8160)    = 17,760,256
FLOPS = {"1d_w16": 1_613_824, "1d_w64": 25_034_752, "1d_w256": 397_410_304,
         "2d_w32": 17_760_256}


def _own_ms(spec, batch, repeats: int = 10) -> float:
    """Median wall milliseconds of the same numba step, timed here on one thread."""
    numba.set_num_threads(1)
    step, _ = bench.numba_step(spec, batch)
    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def test_flops_times_and_columns():
    """Flops equal the hand count above; each case's 1-thread time lies within a factor 3 of an
    independent timing of the same step (runs minutes apart differ by up to 20% on a quiet
    machine, more when other processes load it: measured within 15% at load 8 on 2 cores; a
    unit slip of 1000 or a step doing other work than the SGD step fails); every thread count
    has a column, with PyTorch's fields null exactly when PyTorch is absent."""
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    saved = numba.get_num_threads()
    try:
        result = bench.run(threads=threads, repeats=4, rounds=2, jit=False)
        own = {name: _own_ms(spec, batch) for name, spec, batch in bench.CASES}
    finally:
        numba.set_num_threads(saved)
    torch = result["torch"] is not None
    assert [c["name"] for c in result["cases"]] == list(FLOPS)
    for c in result["cases"]:
        assert c["flops"] == FLOPS[c["name"]]
        assert sorted(c["by_threads"], key=int) == [str(t) for t in sorted({1, threads})]
        ms = c["by_threads"]["1"]["numba_ms"]
        assert own[c["name"]] / 3 < ms < 3 * own[c["name"]], (c["name"], ms, own[c["name"]])
        for b in c["by_threads"].values():
            assert (b["torch_ms"] is not None) == torch and (b["ratio"] is not None) == torch
    assert "used n/t" in bench.table(result)
