"""The ``scaledetect sensitivity`` command (SPEC section 7)."""

import json

import numpy as np
import pytest

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


def _direct(layers_of, x, xd, xn):
    """SPEC section 5 written out: den_k = sum_{i != j} ||a_i - a_j||^2 / (P (P - 1)),
    D_k = mean_i ||f_k(tau x_i) - a_i||^2 / den_k, G_k likewise with x_i + eta_i; R = D / G."""
    rows = []
    for a, b, c in zip(layers_of(x), layers_of(xd), layers_of(xn), strict=True):
        a, b, c = (v.reshape(len(v), -1) for v in (a, b, c))
        P = len(a)
        den = ((a[:, None, :] - a[None, :, :]) ** 2).sum() / (P * (P - 1))
        D = ((b - a) ** 2).sum(1).mean() / den
        G = ((c - a) ** 2).sum(1).mean() / den
        rows.append((D, G, D / G))
    return np.array(rows)


@pytest.mark.parametrize("match", ["batch", "sample"])
def test_images_on_a_numba_model_equal_the_definitions(tmp_path, capsys, match):
    """``sensitivity --model M --images X``: D, G, R at every layer equal SPEC section 5
    computed here on the same 48 probe images (the command's subset of 60, regenerated with
    the public probe set of the same seed), through a plain-numpy float64 forward pass
    (tests/naive.py): float32 representations give relative errors ~1e-6 per squared distance,
    so rtol 1e-4. Independently of the code's streams: batch matching sets sigma^2 to
    mean_i ||tau x_i - x_i||^2 / N (recorded, to 1e-6) and makes G_0 = D_0 up to the
    chi-square spread of 48 x 16 squared Gaussians (relative s.e. sqrt(2 / 768) = 5.1%,
    3 s.e.); sample matching makes ||eta_i|| = ||tau x_i - x_i|| for every i, so G_0 = D_0 to
    float32 rounding."""
    from naive import net_forward

    from scaledetect import Perturbation
    from scaledetect.sensitivity import probe

    net = NetSpec(dim=1, size=16, depth=3, filter=2, stride=2, width=3, bias=True)
    model = init_cnn(net, 4)
    path, data = tmp_path / "m.npz", tmp_path / "x.npz"
    save_model(path, model)
    rng = np.random.default_rng(0)
    # smooth images: a random walk, so that a small deformation is a small change
    images = np.cumsum(rng.standard_normal((60, 1, 16)), -1).astype(np.float32)
    np.savez(data, images=images)
    T, P, seed = 0.004, 48, 5
    out = run_json(capsys, ["sensitivity", "--model", str(path), "--images", str(data),
                            "--diffeo", "maxent", "--temperature", str(T), "--cutoff", "3",
                            "--noise-match", match, "--probe", str(P), "--seed", str(seed),
                            "--json"])
    got = np.array([[row[q] for q in ("D", "G", "R")] for row in out["layers"]])
    pert = Perturbation(diffeo="maxent", temperature=T, cutoff=3.0, noise_match=match)
    ps = probe.draw_images(images, pert, P, seed)
    x = ps.clean(0, P)
    xd = ps.deformed(0, P, x)
    xn = ps.noisy(0, P, x, xd)
    ref = _direct(lambda v: net_forward(net, model.params, v), x, xd, xn)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    assert np.all(got[1:-1, 0] > 0) and np.all(got[1:-1, 1] > 0)
    change = ((xd.astype(np.float64) - x) ** 2).sum(axis=(1, 2))
    D0, G0 = got[0, 0], got[0, 1]
    if match == "batch":
        assert out["config"]["sigma"] ** 2 == pytest.approx(change.mean() / 16, rel=1e-6)
        assert abs(G0 / D0 - 1) < 3 * np.sqrt(2 / (P * 16))
    else:
        eta2 = ((xn.astype(np.float64) - x) ** 2).sum(axis=(1, 2))
        np.testing.assert_allclose(eta2, change, rtol=1e-5)
        assert G0 == pytest.approx(D0, rel=1e-5)
