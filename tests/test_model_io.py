"""Model files (SPEC section 4): exact round trip, and every malformed file refused by name."""

import json
import pickle

import numpy as np
import pytest

from scaledetect import NetSpec, ScaleDetectError
from scaledetect.nn import init_cnn, pooling_net
from scaledetect.nn.io import load_model, param_shapes, save_model


@pytest.mark.parametrize("net, dtype", [
    (NetSpec(dim=1, size=16, depth=3, width=4, bias=True, param="mf", alpha=0.5, gain=1.5),
     np.float32),
    (NetSpec(dim=2, size=8, depth=2, filter=3, stride=2, width=3, bias=False, act="tanh"),
     np.float64),
])
def test_round_trip_is_exact(tmp_path, net, dtype):
    model = init_cnn(net, 0, dtype=dtype)
    save_model(tmp_path / "m.npz", model)
    back = load_model(tmp_path / "m.npz")
    assert back.spec == net and np.dtype(back.dtype) == np.dtype(dtype)
    assert set(back.params) == set(model.params) == set(param_shapes(net))
    for k, v in model.params.items():
        assert back.params[k].dtype == v.dtype and np.array_equal(back.params[k], v), k
    x = np.random.default_rng(1).normal(size=(3, 1) + (net.size,) * net.dim)
    np.testing.assert_array_equal(back.forward(x), model.forward(x))


def test_file_layout_is_spec_section_4(tmp_path):
    net = NetSpec(dim=1, size=16, depth=2, width=5)
    save_model(tmp_path / "m.npz", init_cnn(net, 0))
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        names = set(f.files)
        config = json.loads(str(f["config"]))
        shapes = {k: f[k].shape for k in f.files if k != "config"}
    assert names == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                     "readout.weight", "readout.bias", "config"}
    assert shapes == {"conv1.weight": (5, 1, 2), "conv1.bias": (5,), "conv2.weight": (5, 5, 2),
                      "conv2.bias": (5,), "readout.weight": (5,), "readout.bias": (1,)}
    assert config["net"] == net.to_dict() and config["dtype"] == "float32"


def test_pooling_net_round_trip(tmp_path):
    net = NetSpec(dim=1, size=16, depth=4, width=1, bias=False)
    pool = pooling_net(net)
    save_model(tmp_path / "p.npz", pool)
    back = load_model(tmp_path / "p.npz")
    x = np.random.default_rng(0).normal(size=(2, 1, 16))
    np.testing.assert_array_equal(back.forward(x), pool.forward(x))


def _write(path, arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def good(tmp_path):
    net = NetSpec(dim=1, size=16, depth=2, width=3)
    save_model(tmp_path / "good.npz", init_cnn(net, 0))
    with np.load(tmp_path / "good.npz") as f:
        return {k: f[k] for k in f.files}


def _config(arrays, **change):
    cfg = json.loads(str(arrays["config"]))
    for k, v in change.items():
        if k == "net":
            cfg["net"].update(v)
        else:
            cfg[k] = v
    return np.array(json.dumps(cfg))


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.pop("conv2.bias"), "missing array.*conv2.bias"),
    (lambda a: a.update({"conv3.weight": np.zeros((3, 3, 2), np.float32)}),
     "unexpected array.*conv3.weight"),
    (lambda a: a.update({"conv2.weight": np.zeros((3, 3, 3), np.float32)}),
     r"conv2.weight must have shape \(3, 3, 2\).*got shape \(3, 3, 3\)"),
    (lambda a: a.update({"readout.bias": np.zeros(1, np.float64)}),
     "readout.bias must have dtype float32.*got dtype float64"),
    (lambda a: a.pop("config"), "'config' is missing"),
    (lambda a: a.update({"config": np.array("{not json")}), "not valid JSON"),
    (lambda a: a.update({"config": _config(a, net={"depth": 0})}), "invalid net.*depth"),
    (lambda a: a.update({"config": _config(a, net={"colour": "red"})}), "unknown.*colour"),
    (lambda a: a.update({"config": _config(a, dtype="int8")}), "dtype must be one of"),
    (lambda a: a.update({"config": _config(a, format="pytorch")}), "config format"),
    (lambda a: a.update({"config": np.array([1.0, 2.0])}), "0-d string"),
])
def test_malformed_files_are_refused_by_name(tmp_path, good, mutate, message):
    arrays = dict(good)
    mutate(arrays)
    with pytest.raises(ScaleDetectError, match=message):
        load_model(_write(tmp_path / "bad.npz", arrays))


def test_object_arrays_and_pickles_are_refused(tmp_path, good):
    arrays = dict(good)
    arrays["readout.bias"] = np.array([{"evil": 1}], dtype=object)  # needs pickle to load
    np.savez(tmp_path / "obj.npz", **arrays)
    with pytest.raises(ScaleDetectError, match="refused"):
        load_model(tmp_path / "obj.npz")
    # a bare pickle renamed .npz: numpy would unpickle it, we refuse
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"conv1.weight": [1.0]}))
    with pytest.raises(ScaleDetectError, match="refused"):
        load_model(tmp_path / "pickle.npz")
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "obj.npz").read_bytes()[:200])
    with pytest.raises(ScaleDetectError, match="model file"):
        load_model(tmp_path / "truncated.npz")


def test_save_refuses_inconsistent_model_and_writes_nothing(tmp_path):
    model = init_cnn(NetSpec(dim=1, size=16, depth=2, width=3), 0)
    model.params["conv1.weight"] = model.params["conv1.weight"][:2]
    with pytest.raises(ScaleDetectError, match="conv1.weight must have shape"):
        save_model(tmp_path / "m.npz", model)
    assert list(tmp_path.iterdir()) == []
