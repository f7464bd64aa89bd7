"""Benchmark of ``sensitivity.measure``: time, CPU time and peak memory, with the engine's share.

Cases
-----
cnn      every layer of the training recipe's 1D CNN (``nn.train.recipe_net()``: N = 128, K = 7,
         F = s = 2, width 64, biases; random init, or a trained one with --model), block task
         xi = 32, P = 4096 probes. Target: at most 0.3 s on 2 cores.
pooling  the idealized pooling net of the done-when command (N = 256, xi = 128, K = 7),
         P = 100,000 probes: memory must stay bounded (streaming).

Run ``python benchmarks/bench_sensitivity.py [--quick] [--model M.npz] [--json]``. Time is the
best of ``--repeat`` runs after a warm-up (numba compilation excluded), with the process CPU
time of that run. Timed side by side with it (in turn, each repeat), the engine's share: the
bare forward passes that ``measure`` needs (3 P images in batches of its size, plus the
2 x 256 images of the elasticity) on one thread (``forward_seconds``, CPU ``forward_cpu_seconds``;
``engine_cpu_share`` is its share of the measurement's CPU time, which the load inflates
little) and split over the measurement's two threads (``forward_2t_seconds``, each thread its
own model copy: the time ``measure`` cannot go under; ``engine_share`` is it over
``seconds``). Memory is the tracemalloc peak of a separate run (numpy allocations are traced)
and the process's maximum RSS. The machine's load average is reported: on a shared machine
every time is inflated, the ratios measured side by side much less.
"""

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from scaledetect import NetSpec, TaskSpec
from scaledetect._kernels.blas import blas_threads
from scaledetect.engine import Engine
from scaledetect.nn import init_cnn, pooling_net
from scaledetect.nn.io import load_model
from scaledetect.nn.train import recipe_net
from scaledetect.sensitivity import measure
from scaledetect.sensitivity.measure import _auto_batch
from scaledetect.sensitivity.probe import BLOCK, WORKERS
from scaledetect.sensitivity.source import CNNSource

TARGET_SECONDS = 0.3  # the cnn case on 2 cores


def _timed(fn) -> tuple[float, float]:
    """Wall and process CPU time of one call of *fn*."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _forward_passes(model, task, probe: int):
    """The bare forward passes of a measurement: ``(one, two)``, callables running them on 1 and
    on ``WORKERS`` threads (each its own model copy), and the pool to shut down after use."""
    batch = _auto_batch(CNNSource(model), task.image_shape, False)
    sizes = [3 * (min(lo + batch, probe) - lo) for lo in range(0, probe, batch)] + [2 * BLOCK]
    xs = {n: np.zeros((n,) + task.image_shape, np.float32) for n in set(sizes)}
    models = [model] + [model.copy() for _ in range(WORKERS - 1)]

    def part(w):
        with Engine(threads=1):  # as in measure's workers
            for n in sizes[w::WORKERS]:
                models[w].forward(xs[n], layers=True)

    def parts():  # BLAS on one thread set once, as measure does (the workers must not toggle it)
        with blas_threads(1):
            return list(pool.map(part, range(WORKERS)))

    def one():  # outputs dropped at once, as measure does (keeping them all costs page faults)
        with Engine(threads=1):  # one thread: the engine would split its chunks over two
            for n in sizes:
                model.forward(xs[n], layers=True)

    pool = ThreadPoolExecutor(WORKERS)
    return one, parts, pool


def _case(name, model, task, probe, repeat, engine=True):
    run = lambda: measure(model, task, probe=probe, rng=1)  # noqa: E731
    measure(model, task, probe=min(probe, 512), rng=0)  # warm-up: compile, caches
    res = run()
    out = {"name": name, "probe": probe, "layers": len(res.layers)}
    fns = {"": run}
    if engine:  # timed side by side with the measurement, each repeat in turn
        one, two, pool = _forward_passes(model, task, probe)
        fns.update(forward_=one, forward_2t_=two)
    best = {}
    for _ in range(repeat):
        for key, fn in fns.items():
            wall, cpu = _timed(fn)
            if key not in best or wall < best[key][0]:
                best[key] = (wall, cpu)
    if engine:
        pool.shutdown()
    wall, cpu = best[""]
    out.update(seconds=round(wall, 3), cpu_seconds=round(cpu, 3))
    if engine:
        out.update(forward_seconds=round(best["forward_"][0], 3),
                   forward_cpu_seconds=round(best["forward_"][1], 3),
                   forward_2t_seconds=round(best["forward_2t_"][0], 3),
                   engine_share=round(best["forward_2t_"][0] / wall, 2),
                   engine_cpu_share=round(best["forward_"][1] / cpu, 2))
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.update(peak_traced_mb=round(peak / 2**20, 1),  # RSS: the process so far
               max_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    return out


def main(argv=None, quick=False):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small P (smoke test)")
    p.add_argument("--model", default=None, help="a trained 1D model to use for the cnn case")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    quick = quick or a.quick
    cnn = load_model(a.model) if a.model else init_cnn(recipe_net(), 0)
    spec = cnn.spec
    cases = [_case("cnn", cnn, TaskSpec(dim=1, size=spec.size, xi=max(1, spec.size // 4)),
                   512 if quick else 4096, 1 if quick else a.repeat)]
    pool = pooling_net(NetSpec(dim=1, size=256, depth=7, filter=2, stride=2, width=1, bias=False))
    cases.append(_case("pooling", pool, TaskSpec(dim=1, size=256, xi=128),
                       2048 if quick else 100_000, 1, engine=False))
    c = cases[0]
    report = {"cases": cases, "cnn": spec.to_dict(), "trained": bool(a.model),
              "target_seconds": TARGET_SECONDS,
              "target_met": bool(not quick and c["seconds"] <= TARGET_SECONDS),
              "cpus": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()]}
    if a.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return report
    for c in cases:
        engine = (f"  bare forward passes {c['forward_seconds']:.3f} s on 1 thread (CPU "
                  f"{c['forward_cpu_seconds']:.3f} s, {c['engine_cpu_share']:.0%} of the CPU), "
                  f"{c['forward_2t_seconds']:.3f} s on {WORKERS} ({c['engine_share']:.0%} of "
                  f"the time)" if "forward_seconds" in c else "")
        print(f"{c['name']:8s} P={c['probe']:>6d}  {c['seconds']:7.3f} s "
              f"(CPU {c['cpu_seconds']:.3f} s){engine}  peak traced "
              f"{c['peak_traced_mb']:.1f} MB  max RSS {c['max_rss_mb']:.1f} MB")
    verdict = "n/a (--quick)" if quick else "met" if report["target_met"] else "not met"
    print(f"target: cnn <= {TARGET_SECONDS} s: {verdict}; "
          f"load average {report['load_average']} on {report['cpus']} CPUs")
    return report


if __name__ == "__main__":
    main()
