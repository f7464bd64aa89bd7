"""The engine's batch chunks: fixed by the net and the batch, run on threads, bit-identical.

``CNN.value_and_grad`` splits a large enough batch into ``CHUNKS`` chunks of consecutive samples
for its leading layers (the deeper ones and the readout run on the whole batch in between) and
adds the chunks' gradients in chunk order; the chunks run on ``numba.get_num_threads()`` Python
threads. Small test nets fall below ``CHUNK_MIN_MACS`` and ``CHUNK_MIN_COLS``, so the tests
force chunking by lowering the thresholds.
"""

import numba
import numpy as np
import pytest

from scaledetect import TaskSpec
from scaledetect.nn import model as model_mod
from scaledetect.nn.losses import hinge
from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec
from scaledetect.nn.train import TrainSpec, recipe_net, train

_SPEC = NetSpec(dim=1, size=32, depth=3, filter=2, stride=2, width=32, act="tanh")


def _data(spec, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1) + (spec.size,) * spec.dim)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return x, y


def _force_chunks(monkeypatch, min_cols=0):
    """Chunk every batch of >= 2 samples; split the layers with >= *min_cols* columns per chunk."""
    monkeypatch.setattr(model_mod, "CHUNK_MIN_MACS", 0)
    monkeypatch.setattr(model_mod, "CHUNK_MIN_COLS", min_cols)


def _need_two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("NUMBA_NUM_THREADS=1: no second thread to compare with")


def test_chunks_depend_on_net_and_batch_only(monkeypatch):
    m = init_cnn(_SPEC, 0)
    macs = 32 * 2 * 16 + 32 * 32 * 2 * 8 + 32 * 32 * 2 * 4  # forward multiply-adds per sample
    monkeypatch.setattr(model_mod, "CHUNK_MIN_MACS", 7 * macs)
    monkeypatch.setattr(model_mod, "CHUNK_MIN_COLS", 24)
    assert m.chunks(6) == [(0, 6)]  # 6 samples: below the multiply-add threshold, whole
    assert m.chunks(7) == [(0, 3), (3, 7)]  # 7 samples: two chunks covering 0..6 once
    # layers run per chunk: those with >= 24 output columns in the smaller chunk (3 samples):
    # N_1 = 16 -> 48 columns, N_2 = 8 -> 24, N_3 = 4 -> 12
    assert m._plan(7)[1] == 2
    assert m.chunks(1) == [(0, 1)]  # never an empty chunk
    saved = numba.get_num_threads()
    try:
        for t in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(t)
            assert m.chunks(7) == [(0, 3), (3, 7)]
    finally:
        numba.set_num_threads(saved)
    monkeypatch.setattr(model_mod, "CHUNK_MIN_COLS", 49)  # not even the first layer: whole
    assert m.chunks(7) == [(0, 7)]


@pytest.mark.parametrize("dim,split", [(1, 1), (1, 2), (1, 3), (2, 1), (2, 3)])
def test_chunked_gradient_equals_whole_batch(dim, split, monkeypatch):
    # float64: the chunked gradient is the whole-batch one summed in another order (two partial
    # sums over the samples instead of one), so they agree to a few ulps of the largest entry;
    # *split* leading layers of 3 run per chunk (all 3: the readout alone runs whole)
    spec = NetSpec(dim=dim, size=16 if dim == 2 else 32, depth=3, filter=2, stride=2,
                   width=32, act="relu")
    x, y = _data(spec, 9, 1)
    loss = hinge(1.0)
    cols = 4 * spec.sizes[split] ** dim  # 4 samples in the smaller chunk
    results = []
    for chunked in (False, True):
        if chunked:
            _force_chunks(monkeypatch, cols)
        m = init_cnn(spec, 2, dtype=np.float64)
        assert m._plan(9) == (([(0, 4), (4, 9)], split) if chunked else ([(0, 9)], 0))
        results.append(m.value_and_grad(x, y, loss, flat=True))
    (v0, o0, g0), (v1, o1, g1) = results
    np.testing.assert_allclose(o1, o0, rtol=0, atol=1e-13 * np.abs(o0).max())
    np.testing.assert_allclose(v1, v0, rtol=0, atol=1e-13 * np.abs(v0).max())
    assert np.abs(g1 - g0).max() <= 1e-13 * np.abs(g0).max()


def test_one_and_two_threads_train_bit_identical(monkeypatch):
    _need_two_threads()
    _force_chunks(monkeypatch, 64)  # two chunks; layer 1 (16 x 4 columns) per chunk
    task = TaskSpec(dim=1, size=32, xi=8)
    net = recipe_net(size=32, depth=3, width=16)
    spec = TrainSpec(n_train=64, n_test=16, stop="epochs", max_epochs=2, momentum=0.9)
    runs = [train(task, net, spec, 5, progress=False, threads=t) for t in (1, 2)]
    assert runs[0].model._plan(spec.batch_size)[1] == 1
    a, b = (r.model.theta for r in runs)
    assert a.tobytes() == b.tobytes()
    assert [r["train_loss"] for r in runs[0].history["records"]] == \
        [r["train_loss"] for r in runs[1].history["records"]]


def test_two_threads_really_run_the_chunks_concurrently(monkeypatch):
    _need_two_threads()
    # run_tasks puts task j on thread j mod T: with 2 threads the two tasks see two thread ids
    import threading

    seen = []
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        model_mod.run_tasks([lambda: seen.append(threading.get_ident())] * 2)
        assert len(set(seen)) == 2
        numba.set_num_threads(1)
        seen.clear()
        model_mod.run_tasks([lambda: seen.append(threading.get_ident())] * 2)
        assert set(seen) == {threading.get_ident()}
    finally:
        numba.set_num_threads(saved)


@pytest.mark.parametrize("name", ["loss_stop_float64", "epochs_float32"])
def test_chunked_training_matches_pinned_run(name, monkeypatch):
    # the pinned runs (tests/test_train_pinned.py) are too small to be chunked; forced into two
    # chunks they sum the gradient in another order, and must stay the same training within
    # rounding: final loss within the pinned reference tolerance (measured against the whole-batch
    # run: 5.6e-15 relative in float64, 5.6e-9 in float32), same stopping epochs
    from test_train_pinned import _CASES, _NET, _TASK

    kw, _, expected = _CASES[name]
    _force_chunks(monkeypatch, 32)  # 4 samples per chunk: layers 1 and 2 of 3 split
    h = train(_TASK, _NET, TrainSpec(**kw), 3, progress=False).history
    reference, rtol = expected["reference_loss"]
    assert h["final"]["train_loss"] == pytest.approx(reference, rel=rtol)
    assert (h["epochs"], h["epochs_to_stop"]) == (expected["epochs"], expected["epochs_to_stop"])


def test_forward_chunks_on_threads_bit_identical(monkeypatch):
    _need_two_threads()
    # 150 samples: FORWARD_CHUNK = 64 -> chunks of 64, 64, 22, on 1 thread or on 2 (chunks 0 and
    # 2 on the calling thread, 1 on the other); the same numbers either way, every layer
    assert model_mod.FORWARD_CHUNK == 64
    spec = NetSpec(dim=2, size=8, depth=2, filter=2, stride=2, width=8, act="tanh")
    x, _ = _data(spec, 150, 3)
    m = init_cnn(spec, 4)
    saved = numba.get_num_threads()
    got = []
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            got.append(m.forward(x, layers=True))
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(*got, strict=True):
        assert a.tobytes() == b.tobytes()
    # and the chunks agree with one chunk of all 150 to float32 rounding (BLAS may sum a
    # column's products in another order for another matrix width: 1e-5 relative, ~100 ulps)
    monkeypatch.setattr(model_mod, "FORWARD_CHUNK", 1000)
    whole = init_cnn(spec, 4).forward(x, layers=True)
    for a, b in zip(got[0], whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
