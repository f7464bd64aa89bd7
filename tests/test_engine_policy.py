"""The engine policy (``scaledetect.engine.Engine``): installed and restored, nested, inherited by
the engine's worker threads with one thread each, followed by the kernels, and the numbers it
leaves alone (results do not depend on the thread count).
"""

import threading

import numba
import numpy as np
import pytest

from scaledetect import NetSpec, ScaleDetectError, TaskSpec, cli, init_cnn, measure
from scaledetect._kernels.blas import blas_threads, blas_threads_api
from scaledetect.engine import Engine, current, run_tasks, worker_policy
from scaledetect.nn import model as model_mod
from scaledetect.nn.losses import hinge

TOP = dict(compile_aside=True, blas_single=True)  # the policy outside any: module docstring
MAX = numba.config.NUMBA_NUM_THREADS


def _in_thread(fn):
    """``fn()`` on a fresh thread (one the engine did not start), its value returned here."""
    box = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join()
    return box[0]


def test_outside_any_policy_numba_thread_count_and_defaults():
    # threads=None follows numba's (thread-local) count: what nn.train(threads=) sets today
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert current() == Engine(threads=1, **TOP)
    finally:
        numba.set_num_threads(saved)
    assert current() == Engine(threads=saved, **TOP)


def test_installed_inside_restored_after_even_on_error():
    before = current()
    with Engine(threads=1, compile_aside=False) as p:
        assert p == current() == Engine(threads=1, compile_aside=False, blas_single=True)
    assert current() == before
    with pytest.raises(KeyError), Engine(threads=1, blas_single=False):
        assert current().blas_single is False
        raise KeyError("x")
    assert current() == before


def test_nested_policies_inherit_unset_fields_and_unwind_in_order():
    with Engine(threads=1, compile_aside=False):
        with Engine(threads=2) as inner:  # compile_aside inherited, threads replaced
            assert inner == Engine(threads=2, compile_aside=False, blas_single=True)
            with Engine(blas_single=False):
                assert current() == Engine(threads=min(2, MAX), compile_aside=False,
                                           blas_single=False)
            assert current().blas_single is True
        assert current() == Engine(threads=1, compile_aside=False, blas_single=True)


def test_threads_beyond_numba_are_clamped_and_bad_values_refused():
    with Engine(threads=MAX + 5):
        assert current().threads == MAX
    with pytest.raises(ScaleDetectError, match=r"^threads must be an integer >= 1; got "
                                               r"threads=0$"):
        Engine(threads=0)
    with pytest.raises(ScaleDetectError, match=r"^compile_aside must be True, False or None"):
        Engine(compile_aside="no")


def test_with_is_per_thread_install_is_per_process():
    with Engine(threads=1, compile_aside=False):
        # another thread does not see this thread's `with` (numba's count is thread-local too)
        assert _in_thread(current).compile_aside is True
    previous = Engine(threads=1, compile_aside=False).install()
    try:
        assert _in_thread(current) == Engine(threads=1, compile_aside=False, blas_single=True)
        assert current().threads == 1
        with Engine(threads=2, compile_aside=True):  # a `with` still rules its thread
            assert current() == Engine(threads=min(2, MAX), **TOP)
    finally:
        assert previous.install() == Engine(threads=1, compile_aside=False, blas_single=True)
    assert current().compile_aside is True and _in_thread(current).compile_aside is True


def test_run_tasks_workers_run_the_callers_policy_with_one_thread():
    if MAX < 2:
        pytest.skip("NUMBA_NUM_THREADS=1: no worker thread")
    seen = {}

    def task(j):
        seen[j] = (threading.get_ident(), current())

    with Engine(threads=2, compile_aside=False):
        run_tasks([lambda j=j: task(j) for j in range(4)])
        assert current().threads == 2  # the caller's own policy is back after its tasks
    one = Engine(threads=1, compile_aside=False, blas_single=True)
    assert all(p == one for _, p in seen.values())
    assert len({ident for ident, _ in seen.values()}) == 2  # tasks j on thread j mod 2


def test_measure_batch_workers_run_the_callers_policy_with_one_thread():
    # a plain function as the model: measure calls it from its batch threads; each call sees the
    # caller's policy with threads=1 (its forward chunks then run in turn on that thread)
    model = init_cnn(NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=4), 0)
    calls = []

    def fn(x):
        calls.append((threading.get_ident(), current()))
        return model.forward(x, layers=True)

    with Engine(threads=2, compile_aside=False, blas_single=True) as caller:
        measure(fn, TaskSpec(size=16, xi=8), probe=1000, rng=5, batch_size=256)
    here = threading.get_ident()
    workers = [p for ident, p in calls if ident != here]
    assert len(workers) >= 4  # 4 batches of 3 x 256 images, made in the workers
    assert set(workers) == {worker_policy_of(caller)}


def worker_policy_of(policy: Engine) -> Engine:
    with policy:
        return worker_policy()


def test_blas_rule_followed_by_the_kernels():
    api = blas_threads_api()
    if api is None:
        pytest.skip("scipy's OpenBLAS thread count is not reachable here")
    m = init_cnn(NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=4), 0)
    x = np.zeros((3, 1, 16))
    with blas_threads(2):
        with Engine(blas_single=False):
            m.forward(x)
            assert api[0]() == 2  # left alone
        m.forward(x)
        assert api[0]() == 1  # the default: one thread from now on


@pytest.mark.parametrize("dim", [1, 2])
def test_training_steps_identical_for_every_thread_policy(dim, monkeypatch):
    # parts forced on a small net: the policy's thread count decides whether the channel parts
    # run at once (2) or in turn (1); the numbers must be the same bits
    monkeypatch.setattr(model_mod, "PARTS_MIN_MACS", 0)
    monkeypatch.setattr(model_mod, "PARTS_MIN_WEIGHTS", 0)
    spec = NetSpec(dim=dim, size=16 if dim == 2 else 32, depth=3, filter=2, stride=2, width=16,
                   act="relu")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((9, 1) + (spec.size,) * dim)
    y = np.where(rng.random(9) < 0.5, -1.0, 1.0)
    thetas = []
    for t in range(1, MAX + 1):
        m = init_cnn(spec, 2)
        with Engine(threads=t):
            for _ in range(3):
                m.sgd_step(x, y, hinge(1.0), 0.05)
            out = m.forward(x)
        thetas.append(m.theta.tobytes() + out.tobytes())
    assert len(set(thetas)) == 1


def test_cli_installs_the_commands_policy(monkeypatch, tmp_path):
    # every command runs under one policy, installed by the CLI: `train` under its --threads,
    # the others under the defaults; restored after the command
    from scaledetect.commands import theory as theory_cmd
    from scaledetect.commands import train as train_cmd

    seen = []
    for mod in (theory_cmd, train_cmd):
        monkeypatch.setattr(mod, "run", lambda a: seen.append(current()) or 0)
    before = current()
    assert cli.main(["train", "--out", str(tmp_path), "--threads", "1"]) == 0
    assert cli.main(["theory"]) == 0
    assert seen == [Engine(threads=1, **TOP), before]
    assert current() == before
    assert cli.main(["train", "--out", str(tmp_path), "--threads", "0"]) == 2
