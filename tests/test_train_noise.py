"""Noise-corrupted training (``train_noise`` / ``--train-noise``): off is bit-identical to no
noise, draws are fresh per epoch yet reproducible (resume == uninterrupted), bad sigma exits 2."""

import json
import math

import numpy as np
import pytest
from skips import skip_without

from scaledetect import ScaleDetectError, TaskSpec
from scaledetect.cli import main
from scaledetect.nn.io import load_model
from scaledetect.nn.train import TrainSpec, _Data, recipe_net, train

TINY = ["--dim", "1", "--size", "16", "--xi", "4", "--depth", "2", "--width", "3",
        "--n-train", "16", "--n-test", "8", "--max-epochs", "3", "--stop", "epochs",
        "--seed", "5", "--no-progress"]
_TASK = TaskSpec(dim=1, size=16, xi=4)
_NET = recipe_net(size=16, depth=2, width=4)


def _records(path):
    h = json.loads((path / "history.json").read_text())
    return [{k: v for k, v in r.items() if k != "seconds"} for r in h["records"]]


def test_train_noise_zero_is_bit_identical_to_no_flag(tmp_path):
    assert main(["train", *TINY, "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *TINY, "--train-noise", "0", "--out", str(tmp_path / "b")]) == 0
    a, b = load_model(tmp_path / "a" / "model.npz"), load_model(tmp_path / "b" / "model.npz")
    assert a.theta.tobytes() == b.theta.tobytes()
    assert _records(tmp_path / "a") == _records(tmp_path / "b")


@pytest.mark.parametrize("sigma", ["-0.1", "nan", "inf"])
def test_bad_train_noise_exits_2_and_writes_nothing(tmp_path, capsys, sigma):
    rc = main(["train", *TINY, "--train-noise", sigma, "--out", str(tmp_path / "r")])
    assert rc == 2 and not (tmp_path / "r").exists()
    assert "train_noise" in capsys.readouterr().err
    with pytest.raises(ScaleDetectError, match="train_noise"):
        TrainSpec(train_noise=float(sigma))


@pytest.mark.parametrize("sigma", ["-1", "nan"])
def test_bad_train_noise_of_a_pytorch_architecture_exits_2(tmp_path, capsys, sigma):
    skip_without("torch")
    rc = main(["train", "--arch", "lenet", "--train-noise", sigma, "--out", str(tmp_path / "r")])
    assert rc == 2 and not (tmp_path / "r").exists()
    assert "train_noise" in capsys.readouterr().err


def test_epoch_noise_is_fresh_per_epoch_reproducible_and_of_relative_size_sigma():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (64, 1, 32)).astype(np.float32)
    sigma = 0.3
    d = _Data(x, np.ones(64), None, None, sigma=sigma, noise_seed=7)
    e1 = d.images(1).astype(np.float64) - x
    assert d.images(1) is d.images(1)  # cached within an epoch
    e2 = d.images(2).astype(np.float64) - x
    assert not np.allclose(e1, e2)
    again = _Data(x, np.ones(64), None, None, sigma=sigma, noise_seed=7)
    np.testing.assert_array_equal(again.images(2), d.images(2))  # a function of (seed, epoch)
    # E||eta||^2 = sigma^2 mean||x||^2: the mean of 64 * 32 squared N(0, s^2) has relative
    # standard error sqrt(2 / 2048) = 3.1%; allow 3 s.e.
    ratio = np.mean(np.sum(e2 ** 2, axis=(1, 2))) / (sigma ** 2 * np.mean(np.sum(
        x.astype(np.float64) ** 2, axis=(1, 2))))
    assert abs(ratio - 1) < 3 * math.sqrt(2 / 2048)
    assert _Data(x, None, None, None).images(5) is x  # sigma = 0: the clean images themselves


def test_noisy_training_resumes_bit_identically_and_differs_from_clean(tmp_path):
    spec = TrainSpec(n_train=32, n_test=16, stop="epochs", max_epochs=4, checkpoint_every=1,
                     dtype="float64", lr=1.0, train_noise=0.1)
    whole = train(_TASK, _NET, spec, 2, out_dir=tmp_path / "whole", progress=False)

    def interrupt(epoch, model, rec):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_TASK, _NET, spec, 2, out_dir=tmp_path / "cut", progress=False, callback=interrupt)
    resumed = train(_TASK, _NET, spec, 2, out_dir=tmp_path / "cut", progress=False, resume=True)
    assert resumed.model.theta.tobytes() == whole.model.theta.tobytes()
    assert _records(tmp_path / "cut") == _records(tmp_path / "whole")
    clean = train(_TASK, _NET, TrainSpec(**{**spec.to_dict(), "train_noise": 0.0}), 2,
                  progress=False)
    # same initialization (the noise stream is a fourth, separate stream), different training
    assert clean.init.theta.tobytes() == whole.init.theta.tobytes()
    assert not np.allclose(clean.model.theta, whole.model.theta)
