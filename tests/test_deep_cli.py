"""``scaledetect train --arch``: clean one-line errors (exit 2, nothing written) and a tiny run."""

import json

import pytest
from skips import needs, skip_without

from scaledetect import cli


@needs("torch")  # without it every --arch gives the one line of tests/test_without_extras.py
@pytest.mark.parametrize("flags,match", [
    (["--arch", "vgg12"], "arch must be one of vgg11, vgg11bn"),
    (["--arch", "vgg11", "--width-factor", "0"], "width_factor must be a number > 0"),
    (["--arch", "vgg11", "--width-factor", "-1"], "width_factor must be a number > 0"),
    (["--arch", "vgg11", "--size", "16", "--xi", "8"], "size must be an integer >= 28"),
    (["--arch", "lenet", "--dim", "1"], "dim must be 2"),
    (["--arch", "lenet", "--device", "tpu"], "device must be one of cpu, cuda, mps"),
])
def test_arch_errors(tmp_path, capsys, flags, match):
    out = tmp_path / "run"
    assert cli.main(["train", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not out.exists()


def test_arch_tiny_run(tmp_path, capsys):
    skip_without("torch")
    out = tmp_path / "run"
    argv = ["train", "--arch", "LeNet", "--width-factor", "0.5", "--n-train", "128",
            "--n-test", "64", "--epochs", "2", "--seed", "1", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "trained lenet (width factor 0.5) for 2 epochs" in text and "test error" in text
    hist = json.loads((out / "history.json").read_text())
    # the defaults of --arch are the two-point task with image mean 1
    assert hist["config"]["task"] == {"dim": 2, "size": 28, "shape": "points",
                                      "rule": "distance", "xi": 14, "gap": 2.0, "norm": "l2",
                                      "periodic": False, "blob_width": 1.0, "amplitude": "mean"}
    assert hist["config"]["train"]["batch_size"] == 128
    assert hist["config"]["train"]["momentum"] == 0.9
    assert len(hist["records"]) == 3
    for name in ("init.npz", "model.npz", "final.npz", "checkpoint.npz"):
        assert (out / name).exists()
    assert cli.main(argv) == 2  # refuses to overwrite
    assert "already holds a run" in capsys.readouterr().err
