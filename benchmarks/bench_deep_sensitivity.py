"""Benchmark of ``scaledetect.deep.measure_module``: every node of VGG11 (width 1/4, 28 x 28).

P = 2048 probes of the 2D two-point task (d = 28, xi = 14, gap 2, L2) through every node of
VGG11 at width 1/4 (22 nodes and the head), mean estimator with standard errors. Target: under
10 s on 2 cores; peak memory set by the batch (256 probes, i.e. 768 images per forward pass),
not by P.

Reported:
- ``time_s``: the measurement, after a warm-up (best of ``--repeat``), and ``cpu_s`` its CPU
  time (all threads; on a quiet machine ``time_s`` is about ``cpu_s`` / threads);
- ``forward_s``: the bare forward passes of the same images (3 P + 512 for the elasticity) in
  batches of 768, without capturing anything: the network's share of the time;
- ``capture_s``: the same forward passes capturing every node (``ModuleSource``);
- per P in ``--memory`` (default 2048 and 8192), in a fresh process each: the tracemalloc
  peak of the measurement (numpy allocations; torch's allocator is not traced) and the
  process's maximum RSS (everything, torch included).

Run ``python benchmarks/bench_deep_sensitivity.py [--probe 2048] [--memory 2048 8192] [--json]``.
Timings on a machine shared with other jobs are inflated; compare the ratios within one run.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

TASK = dict(dim=2, size=28, rule="distance", norm="l2", gap=2, xi=14)


def _setup():
    import torch

    from scaledetect import TaskSpec
    from scaledetect.deep.archs import build

    torch.manual_seed(0)
    return build("vgg11", 0.25, 28).eval(), TaskSpec(**TASK)


def torch_threads() -> int:
    """torch's intra-op thread count."""
    import torch

    return torch.get_num_threads()


def _forward_times(module, n_images: int) -> tuple[float, float]:
    import torch

    from scaledetect.deep import ModuleSource

    x = np.random.default_rng(0).random((768, 1, 28, 28), np.float32)
    t = torch.from_numpy(x)
    src = ModuleSource(module, (1, 28, 28))
    batches = max(1, round(n_images / 768))
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(batches):
            module(t)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(batches):
        src.representations(x)
    return bare, time.perf_counter() - t0


def _child(probe: int) -> dict:
    """Warm-up, then one traced measurement; peak numpy memory and max RSS of this process."""
    from scaledetect.deep import measure_module

    module, task = _setup()
    measure_module(module, task, probe=256, rng=0)
    tracemalloc.start()
    t0 = time.perf_counter()
    measure_module(module, task, probe=probe, rng=1)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"probe": probe, "tracemalloc_peak_mb": peak / 2**20, "max_rss_mb": rss,
            "traced_time_s": elapsed}


def main(argv=None) -> dict:
    """Run the benchmark; print a table or JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probe", type=int, default=2048)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--memory", type=int, nargs="*", default=[2048, 8192])
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        print(json.dumps(_child(a.child)))
        return {}
    from scaledetect.deep import measure_module

    module, task = _setup()
    t0 = time.perf_counter()
    s = measure_module(module, task, probe=256, rng=0)  # warm-up
    warm = time.perf_counter() - t0
    best = cpu = float("inf")
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        s = measure_module(module, task, probe=a.probe, rng=1)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    bare, capture = _forward_times(module, 3 * a.probe + 512)
    memory = [json.loads(subprocess.run(
        [sys.executable, __file__, "--child", str(p_)], check=True, capture_output=True,
        text=True).stdout) for p_ in a.memory]
    res = {"arch": "vgg11", "width_factor": 0.25, "probe": a.probe, "layers": len(s.layers),
           "warmup_s": warm, "time_s": best, "cpu_s": cpu, "forward_s": bare, "capture_s": capture,
           "forward_share": bare / best, "memory": memory}
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"VGG11 w=1/4, {len(s.layers)} layers, P={a.probe}: {best:.2f} s "
              f"(CPU time {cpu:.2f} s over {torch_threads()} threads) "
              f"(bare forward {bare:.2f} s = {bare / best:.0%}, with capture {capture:.2f} s)")
        for m in memory:
            print(f"  P={m['probe']:>6}: tracemalloc peak {m['tracemalloc_peak_mb']:.0f} MB, "
                  f"max RSS {m['max_rss_mb']:.0f} MB, time {m['traced_time_s']:.1f} s (traced)")
    return res


if __name__ == "__main__":
    main()
