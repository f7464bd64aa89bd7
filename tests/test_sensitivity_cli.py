"""The ``scaledetect sensitivity`` command (SPEC section 7)."""

import json

import numpy as np

from scaledetect import NetSpec
from scaledetect.cli import main
from scaledetect.nn.io import save_model
from scaledetect.nn.model import init_cnn

POOL = ["sensitivity", "--pooling", "--dim", "1", "--size", "64", "--rule", "block", "--xi", "32",
        "--depth", "4", "--filter", "2", "--stride", "2", "--act", "relu"]


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_pooling_json_has_every_layer_with_standard_errors(capsys):
    # k = 0..4 and "out", each with D, G, R and their s.e.; for the strided pooling net D_k
    # roughly halves per layer (exact ratios 0.49, 0.48, 0.46, 0.39 for N = 64, xi = 32: see
    # test_sensitivity) and G_k rises after k = 1 (rectified noise piles up).
    out = run_json(capsys, POOL + ["--probe", "3000", "--seed", "1", "--json"])
    ks = [row["k"] for row in out["layers"]]
    assert ks == [0, 1, 2, 3, 4, "out"]
    for row in out["layers"][:-1]:
        assert set(row) == {"k", "D", "G", "R", "D_se", "G_se", "R_se"}
    D = np.array([row["D"] for row in out["layers"][:-1]])
    G = np.array([row["G"] for row in out["layers"][:-1]])
    assert np.all((D[1:] / D[:-1] > 0.3) & (D[1:] / D[:-1] < 0.6))
    assert np.all(np.diff(G[1:]) > 0)
    assert out["layers"][-1]["D"] is None  # the pooling net's output is constant: undefined
    cfg = out["config"]
    assert cfg["probe"] == 3000 and cfg["seed"] == 1 and cfg["model"] == "pooling"
    assert cfg["net"]["width"] == 1 and cfg["net"]["bias"] is False


def test_table_and_median(capsys):
    assert main(POOL + ["--probe", "400"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["k", "D", "G", "R", "D_se", "G_se", "R_se"]
    assert len(text.splitlines()) == 1 + 6
    out = run_json(capsys, POOL + ["--probe", "400", "--estimator", "median", "--json"])
    assert "D_se" not in out["layers"][0] and out["config"]["estimator"] == "median"


def test_saved_model_and_task_mismatch(tmp_path, capsys):
    path = tmp_path / "m.npz"
    save_model(path, init_cnn(NetSpec(dim=1, size=32, depth=3, width=4), 0))
    base = ["sensitivity", "--model", str(path), "--probe", "300", "--dim", "1"]
    out = run_json(capsys, base + ["--size", "32", "--xi", "8", "--json", "--channel-mean"])
    assert [row["k"] for row in out["layers"]] == [0, 1, 2, 3, "out"]
    assert out["config"]["channel_mean"] is True and out["config"]["net"]["width"] == 4
    assert out["config"]["model"] == str(path)
    assert main(base + ["--size", "64", "--xi", "8"]) == 2
    err = capsys.readouterr().err
    assert "task must match the model's input" in err and "size=32" in err


def test_exactly_one_model_source(capsys):
    assert main(["sensitivity", "--probe", "10"]) == 2
    assert "one of the arguments --pooling --model is required" in capsys.readouterr().err
    assert main(["sensitivity", "--pooling", "--model", "x.npz"]) == 2
    assert "--model: not allowed with argument --pooling" in capsys.readouterr().err
