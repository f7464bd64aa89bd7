"""Benchmark of the numba engine against PyTorch on the CPU (``scaledetect bench``).

One case = one SGD step (forward, backward, plain SGD update ``theta -= lr * grad``) of a CNN at
initialization on a fixed random batch, float32, hinge loss. numba and PyTorch run in the same
process with the same number of threads, timed in alternating rounds so that load on a shared
machine affects both alike; the reported times are medians over every repeat.

GFLOP/s count the multiply-adds of the convolutions (2 flops each): forward ``C_out C_in F^dim Q``
per layer (Q = batch x output positions), the same again for dL/dW and for dL/df_{k-1} (not
computed for the input layer); activations, pooling and readout are not counted. The ceiling is
the GFLOP/s of a float32 numpy matrix product measured in the same run (best of 20).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ._kernels.threads import start_threads
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
    lr = np.float32(LR)
    theta = model.theta

    def step():
        _, _, g = model.value_and_grad(x, y, _HINGE, flat=True)
        g *= lr
        theta.__isub__(g)

    return step, model


def torch_step(spec: NetSpec, batch: int, model=None):
    """A closure running the same SGD step in PyTorch (parameters copied from *model*)."""
    import torch
    import torch.nn.functional as tnf

    if model is None:
        model = init_cnn(spec, 0, dtype=np.float32)
    x, y = _batch(spec, batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ps = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    params = list(ps.values())
    conv = tnf.conv1d if spec.dim == 1 else tnf.conv2d
    f, s, d = spec.filter, spec.stride, spec.dim
    act = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}[spec.act]
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


def matmul_gflops(n: int = 512, repeats: int = 20) -> float:
    """GFLOP/s of the fastest of *repeats* float32 ``(n, n) @ (n, n)`` numpy products.

    The best repeat (not the median) because it is a ceiling: on a shared machine the median of
    a multi-threaded BLAS call collapses when another process takes a core. numpy's BLAS uses
    its own default thread count.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    return 2 * n ** 3 / min(_timed(lambda: a @ b, repeats)) / 1e9


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


def run(threads: int = 2, repeats: int = 100, rounds: int = 5, jit: bool = True) -> dict:
    """Run every case; return the benchmark as one JSON-ready object.

    Parameters
    ----------
    threads : int
        numba and PyTorch threads.
    repeats : int
        Timed steps per engine and case (split in *rounds* alternating rounds, after a warm-up).
    jit : bool
        Also measure cold/warm JIT start-up in subprocesses.

    Returns
    -------
    dict
        ``{"cases": [{"name", "numba_ms", "torch_ms", "ratio", "gflops", "torch_gflops",
        "flops"}], "ceiling_gflops", "threads", "repeats", "jit_cold_s", "jit_warm_s",
        "jit_warm_import_s", "jit_warm_cache_misses", "torch", "numba_omp_wait_policy",
        "numba_threading_layer"}``; torch fields are null without PyTorch.
    """
    import numba

    policy = start_threads()  # before set_num_threads, which would launch them with defaults
    numba.set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    per_round = max(1, repeats // rounds)
    cases = []
    for name, spec, batch in CASES:
        step, model = numba_step(spec, batch)
        tstep = torch_step(spec, batch, model) if torch is not None else None
        for _ in range(5):
            step()
            if tstep is not None:
                tstep()
        tn, tt = [], []
        for _ in range(rounds):
            tn += _timed(step, per_round)
            if tstep is not None:
                tt += _timed(tstep, per_round)
        flops = step_flops(spec, batch)
        n_ms = 1e3 * float(np.median(tn))
        t_ms = 1e3 * float(np.median(tt)) if tt else None
        cases.append({"name": name, "numba_ms": n_ms, "torch_ms": t_ms,
                      "ratio": n_ms / t_ms if t_ms else None,
                      "gflops": flops / n_ms / 1e6,
                      "torch_gflops": flops / t_ms / 1e6 if t_ms else None,
                      "flops": flops})
    result = {"cases": cases, "ceiling_gflops": matmul_gflops(), "threads": threads,
              "repeats": per_round * rounds, "torch": torch.__version__ if torch else None,
              "numba_omp_wait_policy": policy, "numba_threading_layer": numba.threading_layer()}
    if jit:
        j = jit_times(threads)
        result.update(jit_cold_s=j["cold"]["seconds"], jit_warm_s=j["warm"]["seconds"],
                      jit_warm_import_s=j["warm"]["import"],
                      jit_warm_cache_misses=j["warm"]["cache_misses"])
    return result


def table(result: dict) -> str:
    """A readable table of ``run()``'s result."""
    lines = [f"{'case':10s} {'numba ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'GFLOP/s':>8s}"]
    for c in result["cases"]:
        t = f"{c['torch_ms']:9.3f}" if c["torch_ms"] is not None else f"{'-':>9s}"
        r = f"{c['ratio']:6.3f}" if c["ratio"] is not None else f"{'-':>6s}"
        lines.append(f"{c['name']:10s} {c['numba_ms']:9.3f} {t} {r} {c['gflops']:8.1f}")
    lines.append(f"ceiling (numpy float32 matmul): {result['ceiling_gflops']:.1f} GFLOP/s, "
                 f"threads {result['threads']}")
    if "jit_cold_s" in result:
        lines.append(f"JIT start-up: cold {result['jit_cold_s']:.1f} s, warm "
                     f"{result['jit_warm_s']:.2f} s ({result['jit_warm_cache_misses']} compiles)")
    return "\n".join(lines)
