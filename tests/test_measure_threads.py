"""``measure`` measures batches in worker threads (``probe.map_batches``): the numbers must not
depend on the number of threads, on whether the source can be copied per thread, or on the
order the workers finish in; an error in a worker must surface, not hang.
"""

import numpy as np
import pytest

from scaledetect import NetSpec, Perturbation, TaskSpec
from scaledetect.nn.model import init_cnn
from scaledetect.sensitivity import measure, probe
from scaledetect.sensitivity.source import CNNSource

# worker threads hand batches over (probe.map_batches): a hang fails the test after 2
# minutes (cold numba cache included; each test takes seconds) instead of stalling the run
pytestmark = pytest.mark.timeout(120)

FIELDS = ("D", "G", "R", "D_se", "G_se", "R_se")


def small_cnn():
    return init_cnn(NetSpec(dim=1, size=16, depth=2, filter=2, stride=2, width=4, bias=True), 0)


_MAP_BATCHES = probe.map_batches  # the real one, whatever a test has patched since


def _workers(monkeypatch, n) -> list:
    """Make ``measure`` stream its batches on *n* worker threads: ``probe.map_batches`` (the
    module attribute ``measure`` calls) replaced by a wrapper passing ``workers=n`` by name.
    Returns the list of worker counts it was called with (so a test sees it took effect)."""
    used = []

    def map_batches(*args, **kwargs):
        used.append(n)
        return _MAP_BATCHES(*args, **{**kwargs, "workers": n})

    monkeypatch.setattr(probe, "map_batches", map_batches)
    return used


@pytest.mark.parametrize("kwargs", [
    {},
    {"pert": Perturbation(diffeo="maxent", noise_match="sample"), "probe_noise": 0.3},
    {"estimator": "median"},
])
def test_one_and_three_threads_give_the_same_bits(monkeypatch, kwargs):
    # Every batch's sums are computed by the same operations whichever thread runs it and are
    # merged in batch order: 1 and 3 workers (3 > cores: workers finish out of order) agree
    # exactly, not to a tolerance. 1300 probes: 6 batches of 256 and a short one.
    model, task = small_cnn(), TaskSpec(size=16, xi=8)
    runs = []
    for n in (1, 3):
        used = _workers(monkeypatch, n)
        runs.append(measure(model, task, probe=1300, rng=3, batch_size=256, **kwargs))
        assert used == [n]  # the measurement really ran on n workers
    for name in FIELDS:
        a, b = getattr(runs[0], name), getattr(runs[1], name)
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)


def test_source_without_fork_takes_turns_and_gives_the_same_numbers():
    # A plain function cannot be copied per thread: its forward passes take turns (a lock),
    # and the numbers are those of the CNN itself, bit for bit.
    model, task = small_cnn(), TaskSpec(size=16, xi=8)
    calls = []

    def fn(x):
        calls.append(len(x))
        return model.forward(x, layers=True)

    ref = measure(model, task, probe=1000, rng=5, batch_size=256)
    got = measure(fn, task, probe=1000, rng=5, batch_size=256)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))
    assert sorted(calls) == sorted([768] * 3 + [696] + [512])  # 3 P images + the elasticity


def test_cnn_source_forks_an_independent_copy():
    model = small_cnn()
    src = CNNSource(model)
    other = src.fork()
    assert other.model is not model
    x = np.random.default_rng(0).standard_normal((5, 1, 16)).astype(np.float32)
    for a, b in zip(src.representations(x), other.representations(x), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [0, 2])
def test_an_error_in_a_worker_is_raised_not_hung(bad):
    # Batch 0 fixes the centring that the other batches wait for: an error in its forward pass
    # (or in a later batch's) must reach the caller, not leave the other workers waiting.
    model, task = small_cnn(), TaskSpec(size=16, xi=8)
    pert = Perturbation(noise_match="sample")
    ps = probe.draw(task, pert, 1300, 1)
    bad_images = np.concatenate(ps.perturbed(256 * bad, 256 * (bad + 1)))

    def fn(x):
        if x.shape == bad_images.shape and np.array_equal(x, bad_images):
            raise RuntimeError("boom")
        return model.forward(x, layers=True)

    with pytest.raises(RuntimeError, match="boom"):
        measure(fn, task, pert, probe=1300, rng=1, batch_size=256)
