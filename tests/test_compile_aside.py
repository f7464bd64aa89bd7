"""A cold first ``train`` compiles the backward kernel in a child process while it compiles the
forward one, a measurement the moments kernel (``engine.compile_aside``): the child must
leave exactly the kernel the parent then calls, or the parent silently compiles it again."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from scaledetect import engine
from scaledetect._kernels.conv import _net_backward
from scaledetect.nn import model as model_mod
from scaledetect.nn.losses import hinge
from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec
from scaledetect.sensitivity import moments as moments_mod

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing compiles")

_PARENT = """
import numpy as np
from scaledetect._kernels.conv import _net_backward
from scaledetect.nn.losses import hinge
from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec
spec = NetSpec(dim=2, size=8, depth=2, filter=2, stride=2, width=3, act="tanh")
m = init_cnn(spec, 1, dtype=np.float32)
x = np.random.default_rng(0).standard_normal((5, 1, 8, 8))
m.value_and_grad(x, np.ones(5), hinge(1.0))
print(sum(_net_backward.stats.cache_misses.values()), sum(_net_backward.stats.cache_hits.values()))
"""


def test_child_leaves_the_backward_kernel_the_parent_calls(tmp_path):
    # the child's tiny 1D net and the parent's 2D tanh net with another batch: the kernel's
    # argument types do not depend on the net, so the parent loads it (1 hit) and compiles
    # nothing (0 misses)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), SCALEDETECT_COMPILE_ASIDE="0")
    child = model_mod._WARM_BACKWARD.format(dtype="float32")
    subprocess.run([sys.executable, "-c", child], env=env, check=True, timeout=600)
    out = subprocess.run([sys.executable, "-c", _PARENT], env=env, check=True, timeout=600,
                         capture_output=True, text=True).stdout.split()
    assert out == ["0", "1"]


def test_no_child_on_a_warm_cache_or_when_disabled(monkeypatch):
    m = init_cnn(NetSpec(dim=1, size=8, depth=2, filter=2, stride=2, width=2), 0)
    m.value_and_grad(np.zeros((2, 1, 8)), np.ones(2), hinge(1.0))  # compiled (or loaded) here
    f32 = np.dtype(np.float32)
    monkeypatch.setattr(engine, "_aside", set())
    monkeypatch.setattr(engine, "_children", {})
    engine.compile_aside(_net_backward, f32, "raise SystemExit(3)")
    assert engine._children == {}  # warm
    monkeypatch.setattr(engine, "_aside", set())
    monkeypatch.setattr(engine, "_cached", lambda d, t: False)  # as if cold, on two cores
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("SCALEDETECT_COMPILE_ASIDE", "0")
    engine.compile_aside(_net_backward, f32, "raise SystemExit(3)")
    assert engine._children == {}  # disabled
    monkeypatch.delenv("SCALEDETECT_COMPILE_ASIDE")
    with engine.Engine(compile_aside=False):  # the policy says no
        engine.compile_aside(_net_backward, f32, "raise SystemExit(3)")
    assert engine._children == {}  # and not marked as asked: a later call still compiles aside
    engine.compile_aside(_net_backward, f32, "raise SystemExit(3)")
    child = engine._children[(_net_backward, f32)]  # cold: the code runs in a child
    engine.wait_aside(_net_backward, np.float32)
    assert child.returncode == 3 and engine._children == {}
    engine.compile_aside(_net_backward, f32, "raise SystemExit(3)")
    assert engine._children == {}  # asked once per process


_MEASURE = """
import numpy as np
from scaledetect import TaskSpec
from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec
from scaledetect.sensitivity.measure import measure
from scaledetect.sensitivity.moments import _layer_sums
m = init_cnn(NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=3), 1)
measure(m, TaskSpec(dim=1, size=16, xi=4), probe=300)
print(sum(_layer_sums.stats.cache_misses.values()), sum(_layer_sums.stats.cache_hits.values()))
"""


def test_child_leaves_the_moments_kernel_a_measurement_calls(tmp_path):
    # the input layer's rows and the net's float32 ones: both types must come from the cache
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), SCALEDETECT_COMPILE_ASIDE="0")
    for dtype in ("float32", "float64"):
        subprocess.run([sys.executable, "-c", moments_mod._WARM.format(dtype=dtype)], env=env,
                       check=True, timeout=600)
    out = subprocess.run([sys.executable, "-c", _MEASURE], env=env, check=True, timeout=600,
                         capture_output=True, text=True).stdout.split()
    assert out[0] == "0" and int(out[1]) >= 1
