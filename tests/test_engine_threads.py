"""The engine's channel parts: fixed by the net and the batch, run on threads, bit-identical.

``CNN.value_and_grad`` on a batch with at least ``PARTS_MIN_MACS`` forward multiply-adds splits
every layer's channels into ``PARTS`` blocks (rows of the layer's products); the blocks of a layer
run at once on the engine policy's threads or one after the other on one, the same gemm calls
either way.
Small test nets fall below the threshold, so the tests force parts by lowering it.
"""

import numba
import numpy as np
import pytest

from scaledetect import TaskSpec
from scaledetect.engine import Engine, run_tasks
from scaledetect.nn import model as model_mod
from scaledetect.nn.losses import hinge
from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec
from scaledetect.nn.train import TrainSpec, recipe_net, train

# the threads meet at a spinning barrier (_kernels/conv.py): a hang fails the test after 2
# minutes (cold numba cache included; each test takes seconds) instead of stalling the run
pytestmark = pytest.mark.timeout(120)

_SPEC = NetSpec(dim=1, size=32, depth=3, filter=2, stride=2, width=32, act="tanh")


def _data(spec, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1) + (spec.size,) * spec.dim)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return x, y


def _force_parts(monkeypatch, parts=2):
    """Split every batch's layers in *parts* channel blocks."""
    monkeypatch.setattr(model_mod, "PARTS_MIN_MACS", 0)
    monkeypatch.setattr(model_mod, "PARTS_MIN_WEIGHTS", 0)
    monkeypatch.setattr(model_mod, "PARTS", parts)


def _need_two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("NUMBA_NUM_THREADS=1: no second thread to compare with")


def _with_threads(t, fn):
    with Engine(threads=t):
        return fn()


def test_parts_depend_on_net_and_batch_only(monkeypatch):
    m = init_cnn(_SPEC, 0)
    cols = 2 * 16 + 32 * 2 * 8 + 32 * 2 * 4  # im2col entries per sample (N = 32, F = s = 2)
    weights = 32 * 2 + 2 * 32 * 32 * 2
    assert (m._cols, m._weights) == (cols, weights)
    monkeypatch.setattr(model_mod, "PARTS_MIN_MACS", 7 * 32 * cols)  # 32 channels: macs = 32 cols
    monkeypatch.setattr(model_mod, "PARTS_MIN_WEIGHTS", weights / (8 * cols))
    assert m.parts(6) == 1  # 6 samples: below the multiply-add threshold, whole layers
    assert m.parts(7) == model_mod.PARTS == 2
    assert m.parts(9) == 1  # 9 samples: im2col entries outweigh the weights
    for t in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        assert _with_threads(t, lambda: m.parts(7)) == 2


@pytest.mark.parametrize("dim,width,parts", [(1, 32, 2), (1, 7, 3), (2, 32, 2), (2, 5, 2)])
def test_parts_gradient_equals_whole_layers(dim, width, parts, monkeypatch):
    # float64: a part's rows come from a gemm of fewer rows (dL/df from fewer columns of W);
    # every entry is the same sum of the same products, which BLAS may block differently, so
    # they agree to a few ulps of the largest entry. Widths 7 and 5: unequal blocks, and parts
    # with no input channel in the first layer (C_in = 1)
    spec = NetSpec(dim=dim, size=16 if dim == 2 else 32, depth=3, filter=2, stride=2,
                   width=width, act="relu")
    x, y = _data(spec, 9, 1)
    loss = hinge(1.0)
    results = []
    for split in (False, True):
        if split:
            _force_parts(monkeypatch, parts)
        m = init_cnn(spec, 2, dtype=np.float64)
        assert m.parts(9) == (parts if split else 1)
        results.append(m.value_and_grad(x, y, loss, flat=True))
    (v0, o0, g0), (v1, o1, g1) = results
    np.testing.assert_allclose(o1, o0, rtol=0, atol=1e-13 * np.abs(o0).max())
    np.testing.assert_allclose(v1, v0, rtol=0, atol=1e-13 * np.abs(v0).max())
    assert np.abs(g1 - g0).max() <= 1e-13 * np.abs(g0).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [1, 2])
def test_parts_on_one_and_two_threads_bit_identical(dim, dtype, monkeypatch):
    _need_two_threads()
    _force_parts(monkeypatch)
    spec = NetSpec(dim=dim, size=16 if dim == 2 else 32, depth=3, filter=2, stride=2, width=32,
                   act="tanh")
    x, y = _data(spec, 9, 6)
    m = init_cnn(spec, 3, dtype=dtype)
    got = [_with_threads(t, lambda: m.value_and_grad(x, y, hinge(1.0), flat=True))
           for t in (1, 2)]
    for a, b in zip(*got, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dim", [1, 2])
def test_sgd_step_in_parts_on_one_and_two_threads(dim, monkeypatch):
    # the step inside the backward pass: each part updates its rows of W after every part has
    # read W (dL/df of the layer below); 1 and 2 threads bit-identical, and the same step as
    # whole layers to a few ulps (float64, as the gradients above)
    spec = NetSpec(dim=dim, size=16 if dim == 2 else 32, depth=3, filter=2, stride=2, width=32,
                   act="relu", bias=True)
    x, y = _data(spec, 9, 7)
    whole = init_cnn(spec, 4, dtype=np.float64)
    whole.sgd_step(x, y, hinge(1.0), 0.1, 0.2)
    _force_parts(monkeypatch)
    steps = []
    for t in (1, 2) if numba.config.NUMBA_NUM_THREADS >= 2 else (1,):
        m = init_cnn(spec, 4, dtype=np.float64)
        assert m.parts(9) == 2
        _with_threads(t, lambda m=m: m.sgd_step(x, y, hinge(1.0), 0.1, 0.2))
        steps.append(m.theta)
    assert all(s.tobytes() == steps[0].tobytes() for s in steps)
    start = init_cnn(spec, 4, dtype=np.float64).theta
    moved = np.abs(whole.theta - start).max()
    assert moved > 0.01  # a real step
    assert np.abs(steps[0] - whole.theta).max() <= 1e-13 * np.abs(whole.theta).max()


def test_one_and_two_threads_train_bit_identical(monkeypatch):
    _need_two_threads()
    _force_parts(monkeypatch)
    task = TaskSpec(dim=1, size=32, xi=8)
    net = recipe_net(size=32, depth=3, width=16)
    spec = TrainSpec(n_train=64, n_test=16, stop="epochs", max_epochs=2, momentum=0.9)
    runs = [train(task, net, spec, 5, progress=False, threads=t) for t in (1, 2)]
    assert runs[0].model.parts(spec.batch_size) == 2
    a, b = (r.model.theta for r in runs)
    assert a.tobytes() == b.tobytes()
    assert [r.train_loss for r in runs[0].history.records] == \
        [r.train_loss for r in runs[1].history.records]


def test_two_threads_really_run_the_chunks_concurrently(monkeypatch):
    _need_two_threads()
    # run_tasks puts task j on thread j mod T: with 2 threads the two tasks see two thread ids
    import threading

    seen = []
    with Engine(threads=2):
        run_tasks([lambda: seen.append(threading.get_ident())] * 2)
    assert len(set(seen)) == 2
    seen.clear()
    with Engine(threads=1):
        run_tasks([lambda: seen.append(threading.get_ident())] * 2)
    assert set(seen) == {threading.get_ident()}


@pytest.mark.parametrize("name", ["loss_stop_float64", "epochs_float32"])
def test_parts_training_matches_pinned_run(name, monkeypatch):
    # the pinned runs (tests/test_train_pinned.py) are too small to be split; forced into two
    # channel parts they may sum in another blocking, and must stay the same training within
    # rounding: final loss within the pinned reference tolerance, same stopping epochs
    from test_train_pinned import _CASES, _NET, _TASK

    kw, _, expected = _CASES[name]
    _force_parts(monkeypatch)
    h = train(_TASK, _NET, TrainSpec(**kw), 3, progress=False).history
    reference, rtol = expected["reference_loss"]
    assert h.final.train_loss == pytest.approx(reference, rel=rtol)
    assert (h.epochs, h.epochs_to_stop) == (expected["epochs"], expected["epochs_to_stop"])


def test_forward_chunks_on_threads_bit_identical(monkeypatch):
    _need_two_threads()
    # 150 samples: FORWARD_CHUNK = 64 -> chunks of 64, 64, 22, on 1 thread or on 2 (chunks 0 and
    # 2 on the calling thread, 1 on the other); the same numbers either way, every layer
    assert model_mod.FORWARD_CHUNK == 64
    spec = NetSpec(dim=2, size=8, depth=2, filter=2, stride=2, width=8, act="tanh")
    x, _ = _data(spec, 150, 3)
    m = init_cnn(spec, 4)
    got = [_with_threads(t, lambda: m.forward(x, layers=True)) for t in (1, 2)]
    for a, b in zip(*got, strict=True):
        assert a.tobytes() == b.tobytes()
    # and the chunks agree with one chunk of all 150 to float32 rounding (BLAS may sum a
    # column's products in another order for another matrix width: 1e-5 relative, ~100 ulps)
    monkeypatch.setattr(model_mod, "FORWARD_CHUNK", 1000)
    whole = init_cnn(spec, 4).forward(x, layers=True)
    for a, b in zip(got[0], whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
