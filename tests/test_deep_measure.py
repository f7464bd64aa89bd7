"""Layer-by-layer measurement of any network: layer sources, PyTorch nodes, a user's images.

References: D_k, G_k written out directly from their definitions (pairwise sums over the probe
set, no streaming) on representations computed in plain numpy from the module's weights; and
today's numba path. Tolerances: representations in float32 (eps 6e-8, sums of <= 100 terms)
against float64 references give relative errors ~1e-6 in every squared distance, so D, G, R
agree to 1e-4 relative; paths that run the very same arithmetic agree exactly.
"""

import json

import numpy as np
import pytest
from skips import skip_without

from scaledetect import NetSpec, Perturbation, TaskSpec
from scaledetect.cli import main
from scaledetect.errors import ScaleDetectError
from scaledetect.nn.model import init_cnn
from scaledetect.sensitivity import CallableSource, measure
from scaledetect.sensitivity import probe as _probe

MAXENT = Perturbation(diffeo="maxent", temperature=0.003, cutoff=3)


def test_callable_source_runs_the_same_arithmetic_as_the_numba_path():
    # The protocol path (a user's function returning the same arrays) must give bit-identical
    # numbers: one estimator, two ways of obtaining the layers.
    model = init_cnn(NetSpec(dim=1, size=32, depth=3, width=4), rng=0)
    task = TaskSpec(size=32, xi=8)
    ref = measure(model, task, probe=300, rng=5)
    src = CallableSource(lambda x: model.forward(x, layers=True), names=list("abcde"))
    got = measure(src, task, probe=300, rng=5)
    for name in ("D", "G", "R", "D_se", "G_se", "R_se"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))
    assert got.layers == ref.layers == (0, 1, 2, 3, "out")
    rows = got.to_dict()["layers"]
    assert [r["name"] for r in rows] == list("abcde")
    assert [r["depth"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert "name" not in ref.to_dict()["layers"][0]  # numba JSON keeps its classic keys


def test_images_path_needs_maxent_and_matches_the_input_shape():
    model = init_cnn(NetSpec(dim=1, size=16, depth=2, width=3), rng=0)
    x = np.random.default_rng(0).random((40, 1, 16), np.float32)
    with pytest.raises(ScaleDetectError, match="maxent"):
        measure(model, images=x, pert=Perturbation(diffeo="shift"))
    with pytest.raises(ScaleDetectError, match="image shape"):
        measure(model, images=np.zeros((40, 1, 8), np.float32), pert=MAXENT)
    with pytest.raises(ScaleDetectError, match="exactly one"):
        measure(model, TaskSpec(size=16, xi=4), pert=MAXENT, images=x)
    s = measure(model, images=x, pert=MAXENT, probe=30, rng=1)
    assert s.config["probe"] == 30 and s.config["images"] == {"count": 40, "shape": [1, 16]}
    assert np.all(np.isfinite(s.D)) and np.all(s.D > 0)


# ----------------------------------------------------------------------------- PyTorch
def _two_layer_net(torch, inplace=False):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=inplace), nn.Flatten(),
                        nn.Linear(3 * 6 * 6, 1))
    return net.eval()


def _numpy_layers(net, x):
    """input, conv, relu, linear of ``_two_layer_net`` in float64 numpy (zero padding 1)."""
    w = net[0].weight.detach().numpy().astype(np.float64)
    b = net[0].bias.detach().numpy().astype(np.float64)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, _, H, W = x.shape
    conv = np.zeros((n, w.shape[0], H, W))
    for dy in range(3):
        for dx in range(3):
            conv += np.einsum("oc,nchw->nohw", w[:, :, dy, dx], xp[:, :, dy:dy + H, dx:dx + W])
    conv += b[None, :, None, None]
    relu = np.maximum(conv, 0.0)
    lw = net[3].weight.detach().numpy().astype(np.float64)
    out = relu.reshape(n, -1) @ lw.T + net[3].bias.detach().numpy()
    return [x.astype(np.float64), conv, relu, out]


def _direct_DG(clean, diffeo, noise, channel_mean):
    """SPEC definitions: den = sum_{i != j} ||a_i - a_j||^2 / (P (P - 1)), D, G, R."""
    out = []
    for a, b, c in zip(clean, diffeo, noise, strict=True):
        if channel_mean and a.ndim >= 3:
            a, b, c = a.mean(1), b.mean(1), c.mean(1)
        a, b, c = (v.reshape(len(v), -1) for v in (a, b, c))
        P = len(a)
        pair = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
        den = pair.sum() / (P * (P - 1))  # the diagonal is 0
        D = ((b - a) ** 2).sum(1).mean() / den
        G = ((c - a) ** 2).sum(1).mean() / den
        out.append((D, G, D / G))
    return np.array(out)


@pytest.mark.parametrize("capture", ["fx", "hooks"])
@pytest.mark.parametrize("channel_mean", [False, True])
def test_module_nodes_equal_a_plain_numpy_computation(capture, channel_mean):
    torch = skip_without("torch")
    from scaledetect.deep import measure_module

    net = _two_layer_net(torch)
    x = np.random.default_rng(1).standard_normal((60, 2, 6, 6)).astype(np.float32)
    s = measure_module(net, images=x, pert=MAXENT, rng=3, capture=capture,
                       channel_mean=channel_mean)
    assert s.names == ("input", "0", "1", "3")  # the Flatten is a reshape, not a layer
    assert s.depths == (0.0, 1 / 3, 2 / 3, 1.0) and s.layers == (0, 1, 2, "out")
    # the same probe images, regenerated from the same seed by the same streams
    ps = _probe.draw_images(x, MAXENT, None, 3)
    xc = ps.clean(0, ps.size)
    xd = ps.deformed(0, ps.size, xc)
    xn = ps.noisy(0, ps.size, xc, xd)
    ref = _direct_DG(*(_numpy_layers(net, v) for v in (xc, xd, xn)), channel_mean)
    got = np.stack([s.D, s.G, s.R], axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    assert s.config["capture"] == capture and s.config["images"]["count"] == 60


def test_in_place_activation_does_not_overwrite_the_captured_conv_output():
    # ReLU(inplace=True) overwrites the conv output tensor: the conv node must still hold the
    # pre-activation values (negative entries included).
    torch = skip_without("torch")
    from scaledetect.deep import ModuleSource

    net = _two_layer_net(torch, inplace=True)
    x = np.random.default_rng(2).standard_normal((5, 2, 6, 6)).astype(np.float32)
    ref = _numpy_layers(_two_layer_net(torch), x)
    for capture in ("fx", "hooks"):
        reps = ModuleSource(net, (2, 6, 6), capture=capture).representations(x)
        assert (reps[1] < 0).any()
        for a, b in zip(reps, ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_numba_cnn_as_torch_module_gives_todays_numbers():
    torch = skip_without("torch")
    from scaledetect.deep import measure_module
    from scaledetect.deep.simple import SimpleCNN

    model = init_cnn(NetSpec(dim=1, size=32, depth=3, width=4), rng=0)
    task = TaskSpec(size=32, xi=8)
    ref = measure(model, task, probe=512, rng=2)
    net = SimpleCNN.from_cnn(model)
    assert net.readout_weight.dtype == torch.float32
    got = measure_module(net, task, probe=512, rng=2, capture="hooks")
    # hooks on the leaf modules layers.0..2 are exactly f_1..f_3; the head is appended
    assert got.names == ("input", "layers.0", "layers.1", "layers.2", "output")
    for name in ("D", "G", "R", "D_se", "G_se", "R_se"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-4)


def test_task_shift_probes_and_errors():
    torch = skip_without("torch")
    from scaledetect.deep import measure_module

    net = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(32, 1))
    task = TaskSpec(size=16, xi=4)
    s = measure_module(net, task, probe=256, rng=0)
    assert s.config["task"]["size"] == 16 and s.config["perturbation"]["diffeo"] == "shift"
    assert s.D[0] == pytest.approx(s.G[0], rel=0.1)  # G_0 = D_0 by batch matching
    x = np.zeros((8, 1, 16), np.float32)
    with pytest.raises(ScaleDetectError, match="maxent"):
        measure_module(net, images=x)
    with pytest.raises(ScaleDetectError, match="layers"):
        measure_module(net, task, probe=256, layers=["nope"])
    with pytest.raises(ScaleDetectError, match="device"):
        measure_module(net, task, probe=256, device="nonsense")
    assert net.training  # its mode is restored


# ----------------------------------------------------------------------------- command line
def _deep_model(tmp_path, torch):
    from scaledetect.deep.archs import build
    from scaledetect.deep.io import save_arch_model

    torch.manual_seed(0)
    path = tmp_path / "lenet.npz"
    save_arch_model(path, build("lenet", 0.5, 28),
                    {"arch": "lenet", "width_factor": 0.5, "size": 28})
    return str(path)


TASK2D = ["--dim", "2", "--size", "28", "--rule", "distance", "--norm", "l2", "--gap", "2",
          "--xi", "14", "--probe", "256", "--json"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_deep_model_names_depths_and_shuffling(tmp_path, capsys):
    torch = skip_without("torch")
    path = _deep_model(tmp_path, torch)
    base = ["sensitivity", "--model", path] + TASK2D
    out = _json(capsys, base)
    rows = out["layers"]
    assert rows[0]["name"] == "input" and rows[-1]["k"] == "out"
    assert all({"k", "name", "depth", "D", "G", "R", "D_se"} <= set(r) for r in rows)
    depths = [r["depth"] for r in rows]
    assert depths[0] == 0 and depths[-1] == 1 and np.all(np.diff(depths) > 0)
    assert out["config"]["arch"] == "lenet" and out["config"]["model"] == path
    # seed 0 permutes the second conv's 3 input channels as (2, 0, 1), not the identity
    from scaledetect.diagnostics.shuffle import permutations
    perms = permutations([(3, 1, 5, 5), (8, 3, 5, 5)], 1, 0)
    assert perms[1][0].tolist() == [2, 0, 1]
    sh = _json(capsys, base + ["--shuffle-channels", "1", "--shuffle-seed", "0"])
    assert [r["name"] for r in sh["layers"]] == [r["name"] for r in rows]
    assert sh["config"]["shuffle"] == {"mode": 1, "seed": 0}
    # the first conv has one input channel: mode 1 leaves everything up to the second conv
    # identical (same probes, same arithmetic); the second conv onwards sees scrambled inputs
    second = [r["name"] for r in rows].index("features.3")
    for a, b in zip(rows[:second], sh["layers"][:second], strict=True):
        assert a["D"] == b["D"] and a["G"] == b["G"]
    assert any(a["D"] != b["D"] for a, b in zip(rows[second:], sh["layers"][second:],
                                                strict=True))


def test_cli_images(tmp_path, capsys):
    torch = skip_without("torch")
    path = _deep_model(tmp_path, torch)
    data = tmp_path / "x.npz"
    rng = np.random.default_rng(0)
    np.savez(data, images=rng.random((40, 1, 28, 28), np.float32),
             labels=rng.integers(0, 2, 40))
    base = ["sensitivity", "--model", path, "--images", str(data), "--json"]
    out = _json(capsys, base + ["--diffeo", "maxent", "--probe", "32"])
    assert out["config"]["images"] == {"count": 40, "shape": [1, 28, 28]}
    assert out["config"]["probe"] == 32 and out["layers"][1]["name"] == "features.0"
    assert main(base) == 2  # shift diffeo on user images
    assert "maxent" in capsys.readouterr().err
    np.savez(data, images=np.zeros((4, 3, 28, 28), np.float32))
    assert main(base + ["--diffeo", "maxent"]) == 2
    assert "must match the model's input" in capsys.readouterr().err


def test_cli_numba_model_images_and_bad_values(tmp_path, capsys):
    from scaledetect.nn.io import save_model

    path = tmp_path / "m.npz"
    save_model(path, init_cnn(NetSpec(dim=1, size=16, depth=2, width=3), 0))
    data = tmp_path / "x.npz"
    np.savez(data, images=np.random.default_rng(0).random((20, 1, 16), np.float32))
    out = _json(capsys, ["sensitivity", "--model", str(path), "--images", str(data),
                         "--diffeo", "maxent", "--json"])
    assert [r["k"] for r in out["layers"]] == [0, 1, 2, "out"] and out["config"]["probe"] == 20
    base = ["sensitivity", "--model", str(path), "--dim", "1", "--size", "16", "--probe", "256"]
    for bad in (["--shuffle-channels", "3"], ["--device", "cuda"], ["--shuffle-seed", "-1"]):
        assert main(base + bad) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and bad[0].lstrip("-") in err


def test_untraceable_module_falls_back_to_hooks_and_layers_selects_nodes():
    # Data-dependent control flow defeats torch.fx symbolic tracing: "auto" then uses forward
    # hooks on the leaf modules, "fx" says so. A layer selection keeps the depths of the full
    # node list (input 0, conv 1/4, relu 2/4, pool 3/4, head 1).
    torch = skip_without("torch")
    from scaledetect.deep import ModuleSource

    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 2, 3, padding=1)
            self.act = torch.nn.ReLU()
            self.pool = torch.nn.AvgPool1d(2)
            self.head = torch.nn.Linear(16, 1)

        def forward(self, x):
            h = self.pool(self.act(self.conv(x)))
            if h.sum() > 0:  # data-dependent: not traceable
                h = 2 * h
            return self.head(h.flatten(1))

    net = Branchy().eval()
    src = ModuleSource(net, (1, 16))
    assert src.capture == "hooks" and src.names == ("input", "conv", "act", "pool", "head")
    with pytest.raises(ScaleDetectError, match="fx"):
        ModuleSource(net, (1, 16), capture="fx")
    sel = ModuleSource(net, (1, 16), layers=["act"])
    assert sel.names == ("input", "act", "head") and sel.depths == (0.0, 0.5, 1.0)
    seq = torch.nn.Sequential(*list(net.children())[:3])
    part = ModuleSource(seq, (1, 16), layers=["1"])
    assert part.names == ("input", "1", "2") and part.depths == (0.0, 2 / 3, 1.0)


def test_numba_paths_work_with_torch_hidden(tmp_path):
    # torch blocked (import raises): the numba measurement, shuffling and the command still
    # work; a deep model file says it needs torch, in one line, exit status 2.
    import subprocess
    import sys
    import textwrap

    from scaledetect.nn.io import save_model

    path = tmp_path / "m.npz"
    save_model(path, init_cnn(NetSpec(dim=1, size=16, depth=2, width=3), 0))
    deep = tmp_path / "deep.npz"
    np.savez(deep, config=np.array(json.dumps({"format": "scaledetect-arch-model", "version": 1,
                                               "arch": "lenet", "width_factor": 1, "size": 28})))
    code = textwrap.dedent(f"""
        import importlib.abc, sys

        class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, NoTorch())
        import scaledetect.deep, scaledetect.diagnostics
        from scaledetect.cli import main
        assert main(["sensitivity", "--model", {str(path)!r}, "--dim", "1", "--size", "16",
                     "--probe", "256", "--shuffle-channels", "2", "--json"]) == 0
        assert main(["sensitivity", "--model", {str(deep)!r}, "--dim", "2", "--size", "28",
                     "--probe", "256"]) == 2
        assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"]["shuffle"] == {"mode": 2, "seed": 0}
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "torch" in err[0]
