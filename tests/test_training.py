"""The training loop of ``scaledetect.training`` with a plain-numpy stepper: stopping rules,
schedule, selection, records, divergence, checkpoints, resume, the folder lock, the history."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from scaledetect import ScaleDetectError
from scaledetect.io import save_npz
from scaledetect.perturb import corrupt
from scaledetect.training import (
    EpochRecord,
    LoopSpec,
    RunFolder,
    Stepper,
    TrainData,
    TrainHistory,
    run_loop,
)


class LinearStepper:
    """Hinge-loss linear classifier ``f(x) = w . x + b`` with heavy-ball SGD (numpy)."""

    name = "linear"

    def __init__(self, dim, seed=0, momentum=0.5):
        self.w = np.random.default_rng(seed).standard_normal(dim) * 0.1
        self.b = np.zeros(1)
        self.v = np.zeros(dim + 1)
        self.mu = momentum
        self.init = self.model_arrays()
        self.lrs = []  # (steps so far, lr) of every step
        self.poison_at = None  # step index from which the loss is NaN
        self._finite = True

    def step(self, x, y, lr):
        X = x.reshape(len(x), -1)
        margin = y * (X @ self.w + self.b[0])
        act = margin < 1
        g = np.concatenate([-(y[act, None] * X[act]).sum(0), [-y[act].sum()]]) / len(x)
        self.v = self.mu * self.v + g
        self.w -= lr * self.v[:-1]
        self.b -= lr * self.v[-1:]
        if self.poison_at is not None and len(self.lrs) >= self.poison_at:
            self.w[:] = np.nan
        self.lrs.append(lr)
        self._finite &= bool(np.isfinite(np.maximum(0, 1 - margin)).all()) and \
            bool(np.isfinite(self.w).all())

    def epoch_finite(self):
        ok, self._finite = self._finite, True
        return ok

    def evaluate(self, x, y):
        margin = y * (x.reshape(len(x), -1) @ self.w + self.b[0])
        return float(np.mean(np.maximum(0, 1 - margin))), float(np.mean(~(margin > 0)))

    def init_arrays(self):
        return {k: v.copy() for k, v in self.init.items()}

    def model_arrays(self):
        return {"w": self.w.copy(), "b": self.b.copy()}

    def state_arrays(self):
        return {**self.model_arrays(), "v": self.v.copy()}

    def load_state(self, arrays):
        self.w, self.b, self.v = (arrays[k].copy() for k in ("w", "b", "v"))

    def extras(self):
        return {"penalty": float(self.w @ self.w)}

    def write_model(self, path, arrays):
        save_npz(path, **arrays)


class ScriptedStepper(LinearStepper):
    """Training loss and error after e epochs read from a script (``steps_per_epoch`` steps
    make an epoch): stopping rules checked exactly, independent of any learning."""

    def __init__(self, script, steps_per_epoch, dim=4):
        super().__init__(dim)
        self.script, self.per = script, steps_per_epoch
        self.evaluated = []  # epochs at which the training set was evaluated

    def evaluate(self, x, y):
        e = len(self.lrs) // self.per
        if len(x) == N_TRAIN:
            self.evaluated.append(e)
            return self.script(e)
        return 0.5, 0.25  # the test set


N_TRAIN = 24


def _data(n_test=16, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN + n_test, 1, 4))
    y = np.where(x[:, 0, :] @ np.array([1.0, -2.0, 0.5, 1.5]) > 0, 1.0, -1.0)
    if n_test == 0:
        return TrainData(x, y)
    return TrainData(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:])


def _run(stepper, spec, seed=3, **kw):
    return run_loop(stepper, kw.pop("data", None) or _data(), spec, np.random.default_rng(seed),
                    config={"seed": seed}, progress=False, **kw)


def test_linear_stepper_satisfies_the_protocol():
    assert isinstance(LinearStepper(4), Stepper)


# ---------------------------------------------------------------------------- stopping rules

def test_interpolation_at_epoch_3_continues_for_twice_as_long():
    # training error 0 first after epoch 3; continue_factor 2: end at 3 + ceil(2 * 3) = 9.
    # Waiting, the training set is evaluated every epoch (0..3); afterwards on record epochs
    # (every 4: 4, 8) and the last (9).
    s = ScriptedStepper(lambda e: (1.0 / (e + 1), 0.0 if e >= 3 else 0.5), steps_per_epoch=3)
    spec = LoopSpec(batch_size=8, lr=0.1, stop="interpolate", max_epochs=50, continue_factor=2,
                    record_every=4)
    out = _run(s, spec)
    h = out.history
    assert (h.epochs, h.epochs_to_stop, h.stop_reason) == (9, 3, "continued")
    assert [r.epoch for r in h.records] == [0, 3, 4, 8, 9]
    assert s.evaluated == [0, 1, 2, 3, 4, 8, 9]
    assert len(s.lrs) == 9 * 3  # ceil(24 / 8) = 3 steps per epoch
    assert out.at_stop is not None and (h.best_epoch, h.selection) == (9, "last")


def test_loss_threshold_met_at_0_ends_there_and_max_epochs_ends_waiting():
    s = ScriptedStepper(lambda e: (0.001, 0.5), steps_per_epoch=3)
    h = _run(s, LoopSpec(batch_size=8, stop="loss", loss_threshold=0.01, max_epochs=5,
                         continue_factor=3)).history
    assert (h.epochs, h.epochs_to_stop, h.stop_reason) == (0, 0, "loss")  # 0 + ceil(3 * 0)
    s = ScriptedStepper(lambda e: (1.0, 0.5), steps_per_epoch=3)
    h = _run(s, LoopSpec(batch_size=8, stop="loss", max_epochs=5, record_every=2)).history
    assert (h.epochs, h.epochs_to_stop, h.stop_reason) == (5, None, "max_epochs")
    assert [r.epoch for r in h.records] == [0, 2, 4, 5]


def test_a_nonfinite_loss_ends_the_run_as_diverged_and_leaves_nothing(tmp_path):
    # NaN from step 7 on = the first step of epoch 3 (3 steps per epoch): diverged at 3, although
    # stop="epochs" evaluates nothing between records (every 10 epochs)
    s = LinearStepper(4)
    s.poison_at = 7
    out = _run(s, LoopSpec(batch_size=8, stop="epochs", max_epochs=20, record_every=10,
                           checkpoint_every=1), out_dir=tmp_path / "run")
    h = out.history
    assert (h.epochs, h.stop_reason, [r.epoch for r in h.records]) == (3, "diverged", [0, 3])
    assert math.isnan(h.final.train_loss)
    assert not (tmp_path / "run").exists()  # init.npz and two checkpoints written, then removed
    d = h.to_dict()
    assert d["final"]["train_loss"] == "nan"  # standard JSON
    json.dumps(d, allow_nan=False)


# ---------------------------------------------------------------------------- schedule, selection

def test_cosine_schedule_gives_each_epoch_its_rate():
    s = LinearStepper(4)
    E, lr = 6, 0.3
    h = _run(s, LoopSpec(batch_size=8, lr=lr, schedule="cosine", max_epochs=E)).history
    want = [lr * (1 + math.cos(math.pi * e / E)) / 2 for e in range(E)]  # epoch e+1 trains at
    assert [r.lr for r in h.records] == [lr, *want]
    assert s.lrs == [w for w in want for _ in range(3)]
    with pytest.raises(ScaleDetectError, match="schedule must be constant unless stop='epochs'"):
        LoopSpec(schedule="cosine", stop="loss")


def test_best_test_selection_keeps_the_earliest_lowest_test_error(tmp_path):
    seen = {}
    s = LinearStepper(4, momentum=0.9)
    out = _run(s, LoopSpec(batch_size=4, lr=0.5, max_epochs=8, selection="best_test"),
               data=_data(n_test=40), out_dir=tmp_path / "r",
               callback=lambda e, rec: seen.update({e: s.model_arrays()}))
    h = out.history
    errors = [r.test_error for r in h.records]
    best = int(np.argmin(errors))  # argmin: the first of equal minima
    assert h.best_epoch == best and h.test_error == min(errors)
    want = s.init if best == 0 else seen[best]
    for k, v in want.items():
        np.testing.assert_array_equal(out.selected[k], v)
    with np.load(tmp_path / "r" / "model.npz") as f:
        np.testing.assert_array_equal(f["w"], want["w"])
    with np.load(tmp_path / "r" / "final.npz") as f:
        np.testing.assert_array_equal(f["w"], s.w)  # the last model beside the selected one
    with pytest.raises(ScaleDetectError, match="selection must be 'last' without a test set"):
        _run(LinearStepper(4), LoopSpec(selection="best_test"), data=_data(n_test=0))


def test_noise_of_epoch_e_is_the_draw_keyed_by_seed_and_epoch():
    # every mini-batch of epoch e holds rows of corrupt(x_train, sigma, rng([seed, e])); the
    # test images carry the draw of rng([seed, 0]) and epoch 0 is evaluated on epoch 1's images
    sigma, key = 0.5, 77
    clean = _data(n_test=8)
    data = clean.with_noise(sigma, key)
    batches = []

    class Recording(LinearStepper):
        def step(self, x, y, lr):
            batches.append(x.copy())
            super().step(x, y, lr)

    run_loop(Recording(4), data, LoopSpec(batch_size=8, max_epochs=3),
             np.random.default_rng(0), config={}, progress=False)
    for e in (1, 2, 3):
        want = corrupt(clean.x_train, sigma, np.random.default_rng([key, e]))
        for b in batches[3 * (e - 1):3 * e]:
            assert all(any(np.array_equal(row, w) for w in want) for row in b)
    np.testing.assert_array_equal(data.x_test,
                                  corrupt(clean.x_test, sigma, np.random.default_rng([key, 0])))
    assert not np.array_equal(data.images(1), data.images(2))


# ---------------------------------------------------------------------------- resume, checkpoint

class _Stop(Exception):
    pass


def _stop_at(epoch):
    def callback(e, rec):
        if e == epoch:
            raise _Stop
    return callback


def _no_times(h: TrainHistory) -> dict:
    d = h.to_dict()
    for r in [*d["records"], d["final"]]:
        r.pop("seconds")
    return {**d, "wall_time": None}


def test_resume_after_an_interruption_is_bit_identical(tmp_path):
    spec = LoopSpec(batch_size=5, lr=0.2, schedule="cosine", max_epochs=9, checkpoint_every=2,
                    selection="best_test")
    data = _data(n_test=30)
    whole = _run(LinearStepper(4), spec, data=data, out_dir=tmp_path / "a")
    with pytest.raises(_Stop):  # epoch 5: the last checkpoint is epoch 4
        _run(LinearStepper(4), spec, data=data, out_dir=tmp_path / "b", callback=_stop_at(5))
    assert not (tmp_path / "b" / "model.npz").exists()
    assert not (tmp_path / "b" / ".lock").exists()  # released on the way out
    s = LinearStepper(4)
    again = _run(s, spec, data=data, out_dir=tmp_path / "b", resume=True)
    assert _no_times(again.history) == _no_times(whole.history)
    for name in ("model.npz", "final.npz", "init.npz", "checkpoint.npz"):
        with np.load(tmp_path / "a" / name) as a, np.load(tmp_path / "b" / name) as b:
            assert a.files == b.files
            for k in a.files:
                if k != "meta":  # holds wall times
                    np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}:{k}")
    # a finished run resumed returns its result without training
    s = LinearStepper(4)
    done = _run(s, spec, data=data, out_dir=tmp_path / "b", resume=True)
    assert s.lrs == [] and _no_times(done.history) == _no_times(whole.history)
    with pytest.raises(ScaleDetectError, match="already holds a run"):
        _run(LinearStepper(4), spec, data=data, out_dir=tmp_path / "b")


def test_checkpoint_of_another_run_or_version_is_refused(tmp_path):
    spec = LoopSpec(batch_size=8, max_epochs=3, checkpoint_every=1)

    def run(identity, stepper=None, **kw):
        return run_loop(stepper or LinearStepper(4), _data(), spec, np.random.default_rng(3),
                        config={}, identity=identity, out_dir=tmp_path, progress=False, **kw)

    with pytest.raises(_Stop):
        run({"seed": 3, "train": {"lr": 0.1}}, callback=_stop_at(2))
    with pytest.raises(ScaleDetectError, match=r"the seed differs from the checkpoint's$"):
        run({"seed": 4, "train": {"lr": 0.1}}, resume=True)
    with pytest.raises(ScaleDetectError, match="train differs from the checkpoint's "
                       r"\(lr=0.1 in the checkpoint but 0.2 now\)$"):
        run({"seed": 3, "train": {"lr": 0.2}}, resume=True)
    other = LinearStepper(4)
    other.name = "other"
    with pytest.raises(ScaleDetectError, match="written by a 'linear' run, not a 'other' one"):
        _run(other, spec, out_dir=tmp_path, resume=True)
    # the older formats: the numba trainer's version 2, the PyTorch trainer's unversioned one
    for fmt, version in (("scaledetect-checkpoint", 2), ("scaledetect-deep-checkpoint", None)):
        save_npz(tmp_path / "checkpoint.npz", state=np.array(json.dumps(
            {"format": fmt, "version": version, "config": {}})))
        with pytest.raises(ScaleDetectError, match=r"^checkpoint .*: written by an older "
                           r"scaledetect .*; delete it to start afresh$"):
            _run(LinearStepper(4), spec, out_dir=tmp_path, resume=True)


# ---------------------------------------------------------------------------- the folder lock

def test_a_folder_in_use_is_refused_and_nothing_is_written(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out):  # this process holds it: alive
        assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()
        with pytest.raises(ScaleDetectError, match=r"is in use by another training run \(pid "):
            _run(LinearStepper(4), LoopSpec(max_epochs=2), out_dir=out)
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    assert not out.exists()  # created by the holder, empty: removed with the lock


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # exited and reaped
    out = tmp_path / "run"
    out.mkdir()
    import socket

    (out / ".lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    h = _run(LinearStepper(4), LoopSpec(batch_size=8, max_epochs=2), out_dir=out).history
    assert h.epochs == 2 and (out / "model.npz").exists() and not (out / ".lock").exists()


def test_lock_of_another_host_counts_as_held(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere.invalid"}))
    with pytest.raises(ScaleDetectError, match="pid 1 on elsewhere.invalid"):
        with RunFolder(tmp_path):
            pass
    assert (tmp_path / ".lock").exists()  # not ours: left alone


# ---------------------------------------------------------------------------- the history

def test_history_round_trips_through_json(tmp_path):
    recs = (EpochRecord(0, 0.1, 1.0, 0.5, 0.9, 0.5, 0.01, {"conv1": 0.0}, 0.0),
            EpochRecord(3, 0.05, float("nan"), 1.0, float("inf"), 1.0, None, None, 2.5))
    h = TrainHistory(config={"seed": 1}, records=recs, epochs=3, epochs_to_stop=None,
                     stop_reason="diverged", selection="best_test", best_epoch=0, wall_time=2.6)
    assert h.final is recs[1] and h.test_error == 0.5  # of the selected epoch 0
    h.write(tmp_path / "h.json")
    text = (tmp_path / "h.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = TrainHistory.read(tmp_path / "h.json")
    assert back.to_dict() == h.to_dict() and math.isnan(back.final.train_loss)
    assert back.records[0] == recs[0] and back.final.test_loss == math.inf
    with pytest.raises(ScaleDetectError, match="history must have format"):
        TrainHistory.from_dict({**h.to_dict(), "version": 0})
    with pytest.raises(ScaleDetectError, match="best_epoch must be the epoch of a record"):
        TrainHistory(config={}, records=recs, epochs=3, epochs_to_stop=None,
                     stop_reason="max_epochs", selection="last", best_epoch=2, wall_time=0.0)
