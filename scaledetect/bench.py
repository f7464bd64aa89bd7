"""Benchmark of the numba engine against PyTorch on the CPU (``scaledetect bench``).

One case = one SGD step (forward, backward, plain SGD update ``theta -= lr * grad``) of a CNN at
initialization on a fixed random batch, float32, hinge loss, each engine as its training loop
takes it: numba's ``CNN.sgd_step`` (the update inside the backward pass), PyTorch's autograd then
``p -= lr * p.grad``. numba and PyTorch run in the same
process with the same number of threads (1, and the chosen count), timed in interleaved rounds
together with the ceiling's matrix product, so that load on a shared machine affects all alike;
the reported times are medians over every repeat. The numba engine runs the fixed channel parts of
the step on its N threads (each part's BLAS single-threaded: multi-threaded BLAS
stalls on a loaded machine); at 1 thread the same parts run one after the other.

A 1-thread column really is one thread: the ceiling's and PyTorch's multi-threaded runs leave
their BLAS and OpenMP workers spinning for a while after them (measured: numba's 1-thread step of
the width-256 case at 10.4 ms of process CPU for 6.2 ms of wall time when timed right after the
ceiling), so every 1-thread block starts after ``SETTLE_S`` of sleep. Each column reports
``numba_threads_used`` / ``torch_threads_used``: process CPU time over wall time (every thread of
the process, spinning ones included), ~1 for a truly single-threaded step. CPU time is taken over
a whole block of steps: Linux adds a running worker thread's time to the process clock only at
a scheduler tick or switch, so per-step CPU times miss busy (spinning) workers.

GFLOP/s count the multiply-adds of the convolutions (2 flops each): forward ``C_out C_in F^dim Q``
per layer (Q = batch x output positions), the same again for dL/dW and for dL/df_{k-1} (not
computed for the input layer); activations, pooling and readout are not counted. The ceiling is
the GFLOP/s of a float32 ``512 x 512`` numpy matrix product (numpy's own BLAS threads) measured
in the same rounds: the best repeat (what the cores give when no one else takes them; the median is
reported too). ``pct_ceiling`` = 100 x median GFLOP/s / ceiling.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from .engine import Engine
from .nn.losses import hinge
from .nn.model import init_cnn
from .nn.spec import NetSpec

CASES = (
    ("1d_w16", NetSpec(dim=1, size=128, depth=7, filter=2, stride=2, width=16), 8),
    ("1d_w64", NetSpec(dim=1, size=128, depth=7, filter=2, stride=2, width=64), 8),
    ("1d_w256", NetSpec(dim=1, size=128, depth=7, filter=2, stride=2, width=256), 8),
    ("2d_w32", NetSpec(dim=2, size=32, depth=5, filter=2, stride=2, width=32), 8),
)
LR = 0.01
SETTLE_S = 0.25  # sleep before every 1-thread block: other threads' spinning ends first

_HINGE = hinge(1.0)


def step_flops(spec: NetSpec, batch: int) -> int:
    """Flops of one SGD step's convolutions (forward, dL/dW, dL/df except for the input)."""
    total = 0
    for k in range(1, spec.depth + 1):
        cin = 1 if k == 1 else spec.width
        macs = spec.width * cin * spec.filter ** spec.dim * batch * spec.sizes[k] ** spec.dim
        total += 2 * macs * (2 if k == 1 else 3)
    return total


def _batch(spec: NetSpec, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1) + (spec.size,) * spec.dim).astype(np.float32)
    y = np.where(rng.random(batch) < 0.5, -1.0, 1.0).astype(np.float32)
    return x, y


def numba_step(spec: NetSpec, batch: int):
    """A closure running one numba SGD step (and the model it updates)."""
    model = init_cnn(spec, 0, dtype=np.float32)
    x, y = _batch(spec, batch)

    def step():
        model.sgd_step(x, y, _HINGE, LR)

    return step, model


def torch_step(spec: NetSpec, batch: int, model=None):
    """A closure running the same SGD step in PyTorch (parameters copied from *model*)."""
    import torch
    import torch.nn.functional as tnf

    from .deep.simple import torch_activation

    if model is None:
        model = init_cnn(spec, 0, dtype=np.float32)
    x, y = _batch(spec, batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ps = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    params = list(ps.values())
    conv = tnf.conv1d if spec.dim == 1 else tnf.conv2d
    f, s, d = spec.filter, spec.stride, spec.dim
    act = torch_activation(spec)
    c = spec.width
    cro = c ** -0.5 if spec.param == "ntk" else 1.0 / c

    def step():
        h = xt
        for k in range(1, spec.depth + 1):
            w = ps[f"conv{k}.weight"]
            if f > s:
                h = tnf.pad(h, (0, f - s) * d, mode="circular")
            z = conv(h, w / (w.shape[1] * f ** d) ** 0.5, ps.get(f"conv{k}.bias"), stride=s)
            h = act(z) * spec.gain if spec.gain != 1 else act(z)
        g = h.mean(dim=tuple(range(2, 2 + d)))
        out = spec.alpha * (ps["readout.bias"] + cro * (g @ ps["readout.weight"]))
        loss = torch.relu(1 - yt * out).mean() / spec.alpha
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(LR * p.grad)

    return step


def _timed(fn, repeats: int) -> list[float]:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def _timed_cpu(fn, repeats: int) -> tuple[list[float], float]:
    """Wall seconds of each of *repeats* calls of *fn*, and process CPU seconds (every thread)
    per call, over the whole block.
    """
    c = time.process_time()
    ts = _timed(fn, repeats)
    return ts, (time.process_time() - c) / repeats


def matmul_step(n: int = 512):
    """A closure running one float32 ``(n, n) @ (n, n)`` numpy product, and its flops."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)

    def step():
        np.matmul(a, b, out=out)

    return step, 2 * n ** 3


def matmul_gflops(n: int = 512, repeats: int = 20) -> float:
    """GFLOP/s of the fastest of *repeats* float32 ``(n, n) @ (n, n)`` numpy products.

    The best repeat (not the median) because it is a ceiling: on a shared machine the median of
    a multi-threaded BLAS call collapses when another process takes a core. numpy's BLAS uses
    its own default thread count.
    """
    step, flops = matmul_step(n)
    step()
    return flops / min(_timed(step, repeats)) / 1e9


def blas_info() -> list[dict]:
    """The BLAS libraries loaded (threadpoolctl's report; empty without threadpoolctl)."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    keep = ("internal_api", "prefix", "version", "num_threads", "architecture")
    return [{k: d.get(k) for k in keep} for d in threadpoolctl.threadpool_info()
            if d.get("user_api") == "blas"]


_JIT_SCRIPT = """
import json, time
t = time.perf_counter()
import numpy as np
from scaledetect.bench import CASES, numba_step
from scaledetect._kernels import conv
t_import = time.perf_counter() - t
for name, spec, batch in CASES:
    numba_step(spec, batch)[0]()
total = time.perf_counter() - t
misses = sum(sum(d.stats.cache_misses.values()) for d in
             (getattr(conv, k) for k in dir(conv)) if hasattr(d, "stats"))
print(json.dumps({"seconds": total, "import": t_import, "cache_misses": misses}))
"""


def jit_times(threads: int = 2) -> dict:
    """Seconds to import and run one step of every case in a fresh process, cold and warm cache.

    Cold: ``NUMBA_CACHE_DIR`` set to an empty directory (everything compiles); warm: a second
    process with the same directory (everything loads from the cache). ``cache_misses`` counts
    the kernels that had to compile (0 expected when warm).
    """
    res = {}
    with tempfile.TemporaryDirectory(prefix="scaledetect-jit-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(threads))
        for which in ("cold", "warm"):
            p = subprocess.run([sys.executable, "-c", _JIT_SCRIPT], env=env, capture_output=True,
                               text=True, check=True)
            res[which] = json.loads(p.stdout.strip().splitlines()[-1])
    return res


def _time_case(spec: NetSpec, batch: int, counts: list[int], rounds: int, per_round: int,
               torch, ceiling) -> dict[str, list[float]]:
    """Seconds per step of every engine and thread count, and of the ceiling's product.

    Each round runs, for every thread count, a warm-up step and *per_round* timed steps of numba
    then PyTorch, then *per_round* ceiling products: load on a shared machine hits all alike.
    ``<engine>_cpu_<t>`` holds the process CPU seconds per step of each block (every thread;
    unlike wall time, not inflated when other processes take the cores, but counting spinning
    threads).
    """
    step, model = numba_step(spec, batch)
    tstep = torch_step(spec, batch, model) if torch is not None else None
    times: dict[str, list[float]] = {"ceiling": []}
    for _ in range(rounds):
        for t in counts:
            if torch is not None:
                torch.set_num_threads(t)
            if t == 1:
                time.sleep(SETTLE_S)
            for eng, fn in (("numba", step), ("torch", tstep)):
                if fn is None:
                    continue
                with Engine(threads=t):
                    fn()
                    wall, cpu = _timed_cpu(fn, per_round)
                times.setdefault(f"{eng}_{t}", []).extend(wall)
                times.setdefault(f"{eng}_cpu_{t}", []).append(cpu)
        times["ceiling"] += _timed(ceiling, per_round)
    return times


def _case_result(name: str, flops: int, times: dict, counts: list[int], ceiling: float) -> dict:
    """One case's JSON object: fields at the largest thread count, and ``by_threads``."""
    by = {}
    for t in counts:
        n_ms = 1e3 * float(np.median(times[f"numba_{t}"]))
        tt = times.get(f"torch_{t}")
        t_ms = 1e3 * float(np.median(tt)) if tt else None
        cpu = {e: 1e3 * float(np.median(times[f"{e}_cpu_{t}"])) if f"{e}_cpu_{t}" in times
               else None for e in ("numba", "torch")}
        by[str(t)] = {"numba_ms": n_ms, "torch_ms": t_ms,
                      "numba_cpu_ms": cpu["numba"], "torch_cpu_ms": cpu["torch"],
                      "gflops_per_cpu": flops / cpu["numba"] / 1e6 if cpu["numba"] else None,
                      "numba_threads_used": cpu["numba"] / n_ms,
                      "torch_threads_used": cpu["torch"] / t_ms if t_ms else None,
                      "ratio": n_ms / t_ms if t_ms else None,
                      "gflops": flops / n_ms / 1e6,
                      "torch_gflops": flops / t_ms / 1e6 if t_ms else None,
                      "pct_ceiling": 100 * flops / n_ms / 1e6 / ceiling}
    main = by[str(counts[-1])]
    res = {"name": name, **main, "flops": flops, "by_threads": by}
    for t in counts:
        res[f"ratio_{t}t"] = by[str(t)]["ratio"]
        res[f"pct_ceiling_{t}t"] = by[str(t)]["pct_ceiling"]
    return res


def run(threads: int = 2, repeats: int = 100, rounds: int = 5, jit: bool = True) -> dict:
    """Run every case; return the benchmark as one JSON-ready object.

    Parameters
    ----------
    threads : int
        numba and PyTorch threads of the main figures; 1 thread is measured as well.
    repeats : int
        Timed steps per engine, thread count and case (split in *rounds* interleaved rounds,
        each after a warm-up step).
    rounds : int
    jit : bool
        Also measure cold/warm JIT start-up in subprocesses.

    Returns
    -------
    dict
        ``{"cases": [{"name", "numba_ms", "torch_ms", "ratio", "gflops", "torch_gflops",
        "pct_ceiling", "numba_cpu_ms", "torch_cpu_ms", "gflops_per_cpu", "numba_threads_used",
        "torch_threads_used", "flops", "ratio_1t", "ratio_<threads>t", "pct_ceiling_1t",
        "pct_ceiling_<threads>t", "by_threads": {"1": {...}, ...}}], "ceiling_gflops",
        "ceiling_median_gflops", "threads", "repeats", "loadavg", "blas", "jit_cold_s",
        "jit_warm_s", "jit_warm_import_s", "jit_warm_cache_misses",
        "torch"}``; torch fields are null
        without PyTorch. ``pct_ceiling`` is 100 x the median GFLOP/s over ``ceiling_gflops``,
        the best float32 numpy product of the whole run (numpy's own BLAS threads).
    """
    try:
        import torch
    except ImportError:
        torch = None
    counts = sorted({1, threads})
    per_round = max(1, repeats // rounds)
    load = os.getloadavg()[0]
    ceiling, _ = matmul_step()
    raw, ceil_times = [], []
    for name, spec, batch in CASES:
        times = _time_case(spec, batch, counts, rounds, per_round, torch, ceiling)
        ceil_times += times["ceiling"]
        raw.append((name, step_flops(spec, batch), times))
    mm_flops = matmul_step()[1]
    best = mm_flops / min(ceil_times) / 1e9
    cases = [_case_result(name, flops, times, counts, best) for name, flops, times in raw]
    result = {"cases": cases, "ceiling_gflops": best,
              "ceiling_median_gflops": mm_flops / float(np.median(ceil_times)) / 1e9,
              "threads": threads, "repeats": per_round * rounds,
              "loadavg": [load, os.getloadavg()[0]], "blas": blas_info(),
              "torch": torch.__version__ if torch else None}
    if jit:
        j = jit_times(threads)
        result.update(jit_cold_s=j["cold"]["seconds"], jit_warm_s=j["warm"]["seconds"],
                      jit_warm_import_s=j["warm"]["import"],
                      jit_warm_cache_misses=j["warm"]["cache_misses"])
    return result


def table(result: dict) -> str:
    """A readable table of ``run()``'s result."""
    counts = sorted(result["cases"][0]["by_threads"], key=int)
    head = f"{'case':8s} {'thr':>3s} {'numba ms':>9s} {'torch ms':>9s} {'ratio':>6s} " \
           f"{'GFLOP/s':>8s} {'% ceil':>6s} {'numba CPU ms':>12s} {'used n/t':>9s}"
    lines = [head]
    for c in result["cases"]:
        for t in counts:
            b = c["by_threads"][t]
            tm = f"{b['torch_ms']:9.3f}" if b["torch_ms"] is not None else f"{'-':>9s}"
            r = f"{b['ratio']:6.3f}" if b["ratio"] is not None else f"{'-':>6s}"
            tu = b["torch_threads_used"]
            used = f"{b['numba_threads_used']:.1f}/" + (f"{tu:.1f}" if tu is not None else "-")
            lines.append(f"{c['name']:8s} {t:>3s} {b['numba_ms']:9.3f} {tm} {r} "
                         f"{b['gflops']:8.1f} {b['pct_ceiling']:6.1f} {b['numba_cpu_ms']:12.3f} "
                         f"{used:>9s}")
    lines.append("used n/t: threads numba / PyTorch kept busy (process CPU / wall time)")
    lines.append(f"ceiling (numpy float32 matmul): best {result['ceiling_gflops']:.1f}, median "
                 f"{result['ceiling_median_gflops']:.1f} GFLOP/s; load average "
                 f"{result['loadavg'][0]:.1f} -> {result['loadavg'][1]:.1f}")
    if "jit_cold_s" in result:
        lines.append(f"JIT start-up: cold {result['jit_cold_s']:.1f} s, warm "
                     f"{result['jit_warm_s']:.2f} s ({result['jit_warm_cache_misses']} compiles)")
    return "\n".join(lines)
