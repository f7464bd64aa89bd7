"""Benchmark of ``sensitivity.measure``: time and peak memory.

Cases
-----
cnn      all layers of a 1D CNN (N = 128, K = 7, F = s = 2, width 64, random init or --model),
         P = 4096 probes (target: under 2 s on 2 cores).
pooling  the idealized pooling net of the done-when command (N = 256, xi = 128, K = 7),
         P = 100,000 probes: memory must stay bounded (streaming).

Run ``python benchmarks/bench_sensitivity.py [--quick] [--model M.npz] [--json]``. Time is the
best of ``--repeat`` runs after a warm-up (numba compilation excluded), and the time of the
same number of bare forward passes (the engine's share) is reported with it; memory is the
tracemalloc peak of a separate run (numpy allocations are traced) and the process's maximum RSS.
"""

import argparse
import json
import resource
import sys
import time
import tracemalloc

import numpy as np

from scaledetect import NetSpec, TaskSpec
from scaledetect.nn.io import load_model
from scaledetect.nn.model import init_cnn, pooling_net
from scaledetect.sensitivity import measure


def _case(name, model, task, probe, repeat):
    measure(model, task, probe=min(probe, 512), rng=0)  # warm-up: compile, caches
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = measure(model, task, probe=probe, rng=1)
        best = min(best, time.perf_counter() - t0)
    # the engine's share: the same number of forward passes (3 P images), layers=True
    x = np.zeros((min(probe, 768) * 3,) + task.image_shape, np.float32)
    t0 = time.perf_counter()
    for _ in range(-(-probe // (len(x) // 3))):
        model.forward(x, layers=True)
    forward = time.perf_counter() - t0
    tracemalloc.start()
    measure(model, task, probe=probe, rng=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"name": name, "probe": probe, "layers": len(res.layers), "seconds": round(best, 3),
            "forward_seconds": round(forward, 3),
            "peak_traced_mb": round(peak / 2**20, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None, quick=False):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small P (smoke test)")
    p.add_argument("--model", default=None, help="a trained 1D model to use for the cnn case")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    quick = quick or a.quick
    if a.model:
        cnn = load_model(a.model)
    else:
        cnn = init_cnn(NetSpec(dim=1, size=128, depth=7, filter=2, stride=2, width=64), 0)
    spec = cnn.spec
    cases = [_case("cnn", cnn, TaskSpec(dim=1, size=spec.size, xi=max(1, spec.size // 4)),
                   512 if quick else 4096, 1 if quick else a.repeat)]
    pool = pooling_net(NetSpec(dim=1, size=256, depth=7, filter=2, stride=2, width=1, bias=False))
    cases.append(_case("pooling", pool, TaskSpec(dim=1, size=256, xi=128),
                       2048 if quick else 100_000, 1))
    report = {"cases": cases, "cnn": spec.to_dict(), "trained": bool(a.model)}
    if a.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        for c in cases:
            print(f"{c['name']:8s} P={c['probe']:>6d}  {c['seconds']:7.3f} s "
                  f"(of which ~{c['forward_seconds']:.3f} s forward passes)  "
                  f"peak traced {c['peak_traced_mb']:7.1f} MB  max RSS {c['max_rss_mb']:7.1f} MB")
    return report


if __name__ == "__main__":
    main()
