"""``scaledetect bench --json``: every case reports its share of the ceiling, its ratios to
PyTorch at 1 and N threads, and how many threads each column really kept busy."""

import numba
import pytest

from scaledetect import bench


def test_every_case_has_ceiling_share_ratios_and_threads_used():
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    result = bench.run(threads=threads, repeats=2, rounds=1, jit=False)
    torch = result["torch"] is not None
    for c in result["cases"]:
        for t in sorted({1, threads}):
            b = c["by_threads"][str(t)]
            # share of the ceiling: 100 x GFLOP/s / the run's best float32 product
            assert c[f"pct_ceiling_{t}t"] == pytest.approx(
                100 * c["flops"] / b["numba_ms"] / 1e6 / result["ceiling_gflops"])
            assert b["numba_threads_used"] == pytest.approx(b["numba_cpu_ms"] / b["numba_ms"])
            assert (c[f"ratio_{t}t"] is not None) == torch
            if torch:
                assert c[f"ratio_{t}t"] == pytest.approx(b["numba_ms"] / b["torch_ms"])
        assert c["pct_ceiling"] == c[f"pct_ceiling_{threads}t"]
    assert "used n/t" in bench.table(result)
