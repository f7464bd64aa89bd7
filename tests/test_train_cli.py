"""``scaledetect train`` and ``scaledetect predict`` (SPEC section 7): files, shapes, errors."""

import json

import numpy as np
import pytest

from scaledetect import TaskSpec, tasks
from scaledetect.cli import main
from scaledetect.nn.io import load_model

TINY = ["--dim", "1", "--size", "16", "--xi", "4", "--depth", "2", "--width", "3",
        "--n-train", "16", "--n-test", "8", "--max-epochs", "3", "--stop", "epochs",
        "--checkpoint-every", "1", "--seed", "5", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_models_history_and_checkpoint(run_dir, capsys):
    assert {p.name for p in run_dir.iterdir()} == {"model.npz", "init.npz", "history.json",
                                                    "checkpoint.npz"}
    model, init = load_model(run_dir / "model.npz"), load_model(run_dir / "init.npz")
    # the recipe defaults for train: mean-field readout, alpha 1, gain sqrt(F) = sqrt(2)
    assert (model.spec.param, model.spec.alpha, model.spec.gain) == ("mf", 1.0, 2 ** 0.5)
    assert model.spec == init.spec and model.spec.depth == 2 and model.spec.width == 3
    assert not np.array_equal(model.params["conv1.weight"], init.params["conv1.weight"])
    h = json.loads((run_dir / "history.json").read_text())
    # records every 5 epochs by default, plus epoch 0 and the last one
    assert h["epochs"] == 3 and [r["epoch"] for r in h["records"]] == [0, 3]
    assert h["config"]["seed"] == 5 and h["config"]["train"]["lr"] == pytest.approx(0.03)


def test_train_prints_where_and_final_errors(tmp_path, capsys):
    assert main(["train", *TINY, "--max-epochs", "1", "--out", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    assert "train error" in text and "test error" in text
    for name in ("model.npz", "init.npz", "history.json"):
        assert str(tmp_path / "r" / name) in text


def test_resume_of_a_finished_run_returns_it(run_dir, capsys):
    before = load_model(run_dir / "model.npz").params
    assert main(["train", *TINY, "--out", str(run_dir), "--resume"]) == 0
    after = load_model(run_dir / "model.npz").params
    assert all(np.array_equal(v, after[k]) for k, v in before.items())
    assert "resumed" in capsys.readouterr().out


def test_predict_writes_every_layer(run_dir, tmp_path):
    x = tasks.sample(TaskSpec(dim=1, size=16, xi=4), 5, 0).images
    np.save(tmp_path / "x.npy", x)
    got = {}
    for batch in ("256", "2"):  # one forward pass, then three
        assert main(["predict", "--model", str(run_dir / "model.npz"), "--input",
                     str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npz"),
                     "--batch", batch]) == 0
        with np.load(tmp_path / "y.npz", allow_pickle=False) as f:
            got[batch] = {k: f[k] for k in f.files}
    # depth 2, stride 2: layer0 (5,1,16), layer1 (5,3,8), layer2 (5,3,4), output (5,)
    assert {k: v.shape for k, v in got["256"].items()} == {
        "layer0": (5, 1, 16), "layer1": (5, 3, 8), "layer2": (5, 3, 4), "output": (5,)}
    ref = load_model(run_dir / "model.npz").forward(x, layers=True)
    names = ["layer0", "layer1", "layer2", "output"]
    for name, r in zip(names, ref, strict=True):
        # the same single forward pass: identical
        np.testing.assert_array_equal(got["256"][name], r)
        # in batches of 2: float32 results may differ only by summation order (~1e-7 relative)
        np.testing.assert_allclose(got["2"][name], r, rtol=1e-5, atol=1e-6)


def test_predict_rejects_wrong_input_shape(run_dir, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 32), np.float32))
    rc = main(["predict", "--model", str(run_dir / "model.npz"), "--input",
               str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and r"must have shape (n, 1, 16)" in err and "(4, 1, 32)" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y.npz").exists()


@pytest.mark.parametrize("flags, name", [
    (["--width", "0"], "width"), (["--loss", "square"], "loss"), (["--lr", "-1"], "lr"),
    (["--stop", "never"], "stop"), (["--xi", "40"], "xi"), (["--momentum", "1"], "momentum"),
])
def test_bad_training_flags_exit_2_and_write_nothing(tmp_path, capsys, flags, name):
    rc = main(["train", *TINY, *flags, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{name} must" in err
    assert not (tmp_path / "r").exists()


def test_unknown_flag_exits_2(tmp_path, capsys):
    assert main(["train", *TINY, "--colour", "red", "--out", str(tmp_path / "r")]) == 2
    assert "unrecognized arguments: --colour red" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_existing_run_is_not_overwritten_without_resume(run_dir, capsys):
    stamp = (run_dir / "model.npz").stat().st_mtime_ns
    assert main(["train", *TINY, "--out", str(run_dir)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (run_dir / "model.npz").stat().st_mtime_ns == stamp


def test_predict_reads_data_npz_and_refuses_pickles(run_dir, tmp_path, capsys):
    x = tasks.sample(TaskSpec(dim=1, size=16, xi=4), 3, 1).images
    np.savez(tmp_path / "d.npz", images=x, labels=np.ones(3))  # what `scaledetect data` writes
    assert main(["predict", "--model", str(run_dir / "model.npz"), "--input",
                 str(tmp_path / "d.npz"), "--out", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(f["output"], load_model(run_dir / "model.npz").forward(x))
    np.save(tmp_path / "o.npy", np.array([x[0], None], dtype=object), allow_pickle=True)
    rc = main(["predict", "--model", str(run_dir / "model.npz"), "--input",
               str(tmp_path / "o.npy"), "--out", str(tmp_path / "z.npz")])
    assert rc == 2 and "pickle" in capsys.readouterr().err
    assert not (tmp_path / "z.npz").exists()
