"""Both steppers through the one loop: resume compared array by array, divergence, the folder
lock across processes, one-sample training sets, the saved best deep model, the noise keys."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from skips import skip_without

import scaledetect
from scaledetect import TaskSpec, tasks
from scaledetect.cli import main
from scaledetect.nn.train import TrainSpec, recipe_net, train
from scaledetect.perturb import corrupt

_TASK = TaskSpec(dim=1, size=16, xi=4)
_NET = recipe_net(size=16, depth=2, width=4)
TINY = ["--dim", "1", "--size", "16", "--xi", "4", "--depth", "2", "--width", "3",
        "--n-train", "16", "--n-test", "8", "--max-epochs", "3", "--stop", "epochs",
        "--no-progress"]


class _Stop(Exception):
    pass


def _arrays(path: Path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "meta"}  # meta holds wall times


def _same_files(a: Path, b: Path, names) -> None:
    for name in names:
        x, y = _arrays(a / name), _arrays(b / name)
        assert x.keys() == y.keys(), name
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}:{k}")


def _no_times(h) -> dict:
    d = h.to_dict()
    for r in [*d["records"], d["final"]]:
        r.pop("seconds")
    return {**d, "wall_time": None}


# ---------------------------------------------------------------------------- numba stepper

def test_numba_resume_matches_every_array_and_the_history(tmp_path):
    # momentum + L1 (the gradient path, with a momentum buffer to restore) and noise;
    # interrupted after epoch 5, resumed from the checkpoint of epoch 4
    spec = TrainSpec(n_train=32, n_test=16, batch_size=8, momentum=0.9, wd_power=1,
                     weight_decay=1e-3, lr=0.5, train_noise=0.2, stop="epochs", max_epochs=6,
                     checkpoint_every=2, record_every=2, dtype="float64")
    whole = train(_TASK, _NET, spec, 9, out_dir=tmp_path / "a", progress=False)

    def stop(epoch, model, rec):
        if epoch == 5:
            raise _Stop

    with pytest.raises(_Stop):
        train(_TASK, _NET, spec, 9, out_dir=tmp_path / "b", progress=False, callback=stop)
    again = train(_TASK, _NET, spec, 9, out_dir=tmp_path / "b", progress=False, resume=True)
    assert _no_times(again.history) == _no_times(whole.history)
    assert again.model.theta.tobytes() == whole.model.theta.tobytes()
    # the final checkpoint holds the model, the initial model and the momentum buffer
    _same_files(tmp_path / "a", tmp_path / "b", ("model.npz", "init.npz", "checkpoint.npz"))
    assert {k.split("/")[1] for k in _arrays(tmp_path / "a" / "checkpoint.npz")} == {
        "model", "init", "velocity"}


def test_numba_resume_in_the_continuation_restores_at_stop(tmp_path):
    # the criterion (loss <= the loss after epoch 2 of the same trajectory) is met at some
    # E <= 2; then 2 E more epochs; interrupted one epoch after E
    base = TrainSpec(n_train=32, n_test=16, stop="epochs", max_epochs=2, record_every=1)
    probe = train(_TASK, _NET, base, 7, progress=False).history.records
    spec = TrainSpec(**{**base.to_dict(), "stop": "loss", "max_epochs": 50,
                        "loss_threshold": probe[2].train_loss, "continue_factor": 2.0,
                        "checkpoint_every": 1})
    whole = train(_TASK, _NET, spec, 7, out_dir=tmp_path / "a", progress=False)
    e = whole.history.epochs_to_stop

    def stop(epoch, model, rec):
        if epoch == e + 1:
            raise _Stop

    with pytest.raises(_Stop):
        train(_TASK, _NET, spec, 7, out_dir=tmp_path / "b", progress=False, callback=stop)
    again = train(_TASK, _NET, spec, 7, out_dir=tmp_path / "b", progress=False, resume=True)
    assert _no_times(again.history) == _no_times(whole.history)
    assert again.at_stop.theta.tobytes() == whole.at_stop.theta.tobytes()
    _same_files(tmp_path / "a", tmp_path / "b",
                ("model.npz", "init.npz", "at_stop.npz", "checkpoint.npz"))


def test_numba_divergence_stops_at_the_first_nonfinite_epoch(tmp_path):
    # lr 1e9 (issue 19): the API says "diverged" at the first epoch E that ends with a NaN or
    # infinite mini-batch loss, parameter or (where evaluated) training loss, and stops there
    spec = TrainSpec(n_train=16, n_test=8, stop="epochs", max_epochs=10, lr=1e9,
                     record_every=1)
    h = train(_TASK, _NET, spec, 3, progress=False).history  # the training set every epoch
    E = h.epochs
    assert h.stop_reason == "diverged" and 1 <= E < 10 and h.final.epoch == E
    assert [r.epoch for r in h.records] == list(range(E + 1))
    assert all(np.isfinite(r.train_loss) for r in h.records[:-1])
    # recording every 5 epochs: found from the steps, not at the next record epoch
    sparse = TrainSpec(**{**spec.to_dict(), "record_every": 5})
    r = train(_TASK, _NET, sparse, 3, out_dir=tmp_path / "r", progress=False)
    assert r.history.stop_reason == "diverged" and E <= r.history.epochs < 5
    assert not (tmp_path / "r").exists()  # init.npz written at the start, removed


def test_cli_divergence_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--lr", "1e9", "--max-epochs", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "training diverged at epoch " in err and "--lr, now 1e+09" in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_cli_trains_on_a_single_sample(tmp_path, capsys):
    # issue 19: --n-train 1 ended in "cannot reshape array of size 0"
    out = tmp_path / "run"
    assert main(["train", *TINY, "--n-train", "1", "--out", str(out)]) == 0
    h = json.loads((out / "history.json").read_text())
    assert h["config"]["train"]["n_train"] == 1 and h["records"][0]["train_error"] in (0.0, 1.0)
    # the test set still avoids the training configuration
    train_set, test_set = tasks.train_test(_TASK, 1, 8, 0)
    assert len(train_set.labels) == 1 and len(test_set.labels) == 8
    assert not any(np.array_equal(train_set.positions[0], p) for p in test_set.positions)


_HOLDER = """
import sys, time, pathlib
from scaledetect import TaskSpec
from scaledetect.nn.train import TrainSpec, recipe_net, train
out = pathlib.Path(sys.argv[1])
def hold(epoch, model, rec):
    if epoch == 1:
        (out.parent / "holding").touch()
        while not (out.parent / "go").exists():
            time.sleep(0.05)
train(TaskSpec(dim=1, size=16, xi=4), recipe_net(size=16, depth=2, width=3),
      TrainSpec(n_train=16, n_test=8, stop="epochs", max_epochs=3, checkpoint_every=100), 5,
      out_dir=out, progress=False, callback=hold)
"""


def test_second_run_into_a_folder_in_use_exits_2(tmp_path, capsys):
    # issue 19: two `train --out SAME` at once both exited 0 and mixed two seeds. A first run
    # (another process, seed 5) holds the folder at epoch 1, before any checkpoint or model
    out = tmp_path / "run"
    root = str(Path(scaledetect.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    first = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "holding").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert main(["train", *TINY, "--seed", "6", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "is in use by another training run" in err and err.count("\n") == 1
    finally:
        (tmp_path / "go").touch()
        assert first.wait(timeout=120) == 0
    h = json.loads((out / "history.json").read_text())
    assert h["config"]["seed"] == 5 and not (out / ".lock").exists()


# ---------------------------------------------------------------------------- PyTorch stepper

_T2 = TaskSpec(dim=2, size=28, rule="distance", xi=14, gap=2, norm="l2", amplitude="mean")


def _error(module, x, y) -> float:
    """Error fraction ``y f(x) <= 0`` of *module*, computed here with plain torch."""
    import torch

    with torch.no_grad():
        out = module(torch.from_numpy(x))
    return float(np.mean(~(y * out.numpy() > 0)))


def test_saved_best_deep_model_gives_the_recorded_best_test_error(tmp_path):
    torch = skip_without("torch")
    from scaledetect.deep.io import load_arch_model
    from scaledetect.deep.train import DeepTrainSpec, train_arch

    spec = DeepTrainSpec(arch="lenet", width_factor=0.5, n_train=128, n_test=64, batch_size=32,
                         epochs=4, lr=0.05, train_noise=0.1)
    r = train_arch(_T2, spec, rng=2, out_dir=tmp_path, progress=False, threads=1)
    best, _ = load_arch_model(tmp_path / "model.npz")
    final, _ = load_arch_model(tmp_path / "final.npz")
    x, y = r.data.x_test, r.data.y_test  # the noisy test images the errors were measured on
    assert _error(best, x, y) == r.test_error == r.history.records[r.best_epoch].test_error
    assert _error(final, x, y) == r.history.final.test_error
    assert r.test_error == min(rec.test_error for rec in r.history.records)
    state = r.model.state_dict()  # the returned best model is the saved one
    assert all(torch.equal(v, state[k]) for k, v in best.state_dict().items())


def test_deep_resume_matches_every_array_and_the_history(tmp_path):
    skip_without("torch")
    from scaledetect.deep.train import DeepTrainSpec, train_arch

    spec = DeepTrainSpec(arch="alexnet", width_factor=1 / 16, n_train=96, n_test=32,
                         batch_size=32, epochs=4, checkpoint_every=2, train_noise=0.2)
    whole = train_arch(_T2, spec, rng=1, out_dir=tmp_path / "a", progress=False, threads=1)
    def stop(epoch, rec):
        if epoch == 3:  # the last checkpoint is epoch 2
            raise _Stop

    with pytest.raises(_Stop):
        train_arch(_T2, spec, rng=1, out_dir=tmp_path / "b", progress=False, threads=1,
                   callback=stop)
    again = train_arch(_T2, spec, rng=1, out_dir=tmp_path / "b", progress=False, threads=1,
                       resume=True)
    assert _no_times(again.history) == _no_times(whole.history)
    _same_files(tmp_path / "a", tmp_path / "b",
                ("model.npz", "final.npz", "init.npz", "checkpoint.npz"))
    groups = {k.split("/")[0] for k in _arrays(tmp_path / "a" / "checkpoint.npz")}
    assert groups == {"stepper", "best"}  # model, momentum buffers, torch generator; best model


def test_both_trainers_key_the_noise_by_seed_and_epoch():
    skip_without("torch")
    from scaledetect.deep.train import DeepTrainSpec, train_arch

    sigma, seed = 0.3, 4
    spec = DeepTrainSpec(arch="lenet", width_factor=0.5, n_train=64, n_test=32, batch_size=32,
                         epochs=1, train_noise=sigma, data_seed=11)
    r = train_arch(_T2, spec, rng=seed, progress=False, threads=1)
    # the noise stream is the 4th child of the seed (init, shuffle, data, noise, torch)
    key = int(np.random.default_rng(seed).spawn(5)[3].integers(2 ** 62))
    assert r.data.noise_seed == key
    tr, te = tasks.train_test(_T2, 64, 32, 11)  # data_seed: the data stream itself
    x_tr = np.ascontiguousarray(tr.images, np.float32)
    x_te = np.ascontiguousarray(te.images, np.float32)
    np.testing.assert_array_equal(r.data.x_test, corrupt(x_te, sigma,
                                                         np.random.default_rng([key, 0])))
    np.testing.assert_array_equal(r.data.images(2), corrupt(x_tr, sigma,
                                                            np.random.default_rng([key, 2])))
    # the numba trainer draws the same key from the same seed
    n = train(_TASK, _NET, TrainSpec(n_train=16, n_test=8, stop="epochs", max_epochs=1,
                                     train_noise=sigma), seed, progress=False)
    assert n.data.noise_seed == key


def test_cli_deep_divergence_exits_2_and_writes_nothing(tmp_path, capsys):
    skip_without("torch")
    out = tmp_path / "run"
    argv = ["train", "--arch", "lenet", "--lr", "1e9", "--epochs", "3", "--n-train", "64",
            "--n-test", "32", "--threads", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "training diverged at epoch " in err and err.count("\n") == 1
    assert not out.exists()
