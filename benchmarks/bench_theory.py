"""Benchmark of the exact pooling-net theory and of its Monte Carlo check at large N.

Cases
-----
theory   ``theory.predict`` on the block task and on the distance task (xi = N/4; distance:
         gap 2, l2 norm, not periodic; ReLU pooling net): 2D N = 256, K = 8, strided
         (F = s = 2) and unstrided (F = 2, s = 1); 1D N = 65,536, strided (K = 16) and
         unstrided (K = 12). Target: each under 5 s on 2 cores. For comparison, the pair
         enumeration at the largest 2D size it reaches (N = 32) and the ratio of the two times
         at that size (both rules).
mc       ``sensitivity.measure`` of the 2D pooling net (N = 256, xi = 64, K = 8, F = s = 2),
         P = 20,000 probes (target: under 60 s on 2 cores), and the deviation of every finite
         D_k, G_k from the theory in standard errors.

Run ``python benchmarks/bench_theory.py [--quick] [--skip-mc] [--json]``. Times are wall-clock,
best of ``--repeat`` (theory) or a single run (mc); on a loaded machine they are inflated.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from scaledetect import NetSpec, Perturbation, TaskSpec
from scaledetect.nn import pooling_net
from scaledetect.sensitivity import measure
from scaledetect.theory import predict

THEORY = [(2, 256, 8, 2), (2, 256, 8, 1), (1, 65536, 16, 2), (1, 65536, 12, 1)]
RULES = ("block", "distance")


def _spec(dim, N, K, s, rule="block"):
    extra = {"rule": "distance", "gap": 2} if rule == "distance" else {}
    task = TaskSpec(dim=dim, size=N, xi=N // 4, **extra)
    return task, NetSpec(dim=dim, size=N, depth=K, filter=2, stride=s, width=1, bias=False)


def _time(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _theory_cases(quick, repeat):
    rows = []
    for rule in RULES:
        for dim, N, K, s in THEORY if not quick else [(2, 64, 6, 2), (1, 4096, 12, 2)]:
            task, net = _spec(dim, N, K, s, rule)
            sec, res = _time(lambda t=task, n=net: predict(t, n), repeat)
            rows.append({"case": f"theory {rule} dim={dim} N={N} K={K} s={s}",
                         "seconds": round(sec, 3),
                         "D": [None if not np.isfinite(v) else float(v) for v in res.D]})
        task, net = _spec(2, 32, 5, 2, rule)
        fast, _ = _time(lambda t=task, n=net: predict(t, n), repeat)
        enum, _ = _time(lambda t=task, n=net: predict(t, n, method="enumerate"), 1)
        rows.append({"case": f"{rule} 2D N=32 K=5 s=2: enumeration vs translation",
                     "seconds": round(enum, 3), "translation_seconds": round(fast, 3),
                     "ratio": round(enum / fast, 1)})
    return rows


def _mc_case(quick):
    N, P = (64, 4096) if quick else (256, 20000)
    task, net = _spec(2, N, 8 if N == 256 else 6, 2)
    task = TaskSpec(dim=2, size=N, xi=N // 4)
    th = predict(task, net)
    model = pooling_net(net)
    measure(model, task, probe=256, rng=0)  # warm-up
    t0 = time.perf_counter()
    mc = measure(model, task, Perturbation(), probe=P, rng=11)
    sec = time.perf_counter() - t0
    dev = {}
    for name in ("D", "G"):
        t, m, se = getattr(th, name), getattr(mc, name), getattr(mc, name + "_se")
        dev[name] = [None if not np.isfinite(t[i]) else
                     (0.0 if t[i] == 0 and m[i] == 0 else round(float((m[i] - t[i]) / se[i]), 2))
                     for i in range(len(t))]
    return {"case": f"mc 2D N={N} P={P}", "seconds": round(sec, 3), "deviation_se": dev}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    p.add_argument("--skip-mc", action="store_true", help="theory timings only")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    rows = _theory_cases(a.quick, a.repeat)
    if not a.skip_mc:
        rows.append(_mc_case(a.quick))
    load = os.getloadavg()[0]
    if a.json:
        json.dump({"load_average_1min": load, "cpus": os.cpu_count(), "rows": rows}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"load average (1 min) {load:.1f} on {os.cpu_count()} cpus")
        for r in rows:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
