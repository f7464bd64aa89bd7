"""``scaledetect spectrum``: JSON and table for numba and PyTorch models, errors exit 2."""

import json

import numpy as np
import pytest
from skips import skip_without

from scaledetect import NetSpec
from scaledetect.cli import main
from scaledetect.diagnostics.channel_sum import channel_sum
from scaledetect.diagnostics.spectrum import spectra
from scaledetect.nn.io import save_model
from scaledetect.nn.model import init_cnn


@pytest.fixture(scope="module")
def numba_model(tmp_path_factory):
    model = init_cnn(NetSpec(dim=1, size=64, depth=3, filter=4, stride=4, width=6), 0)
    path = tmp_path_factory.mktemp("sp") / "model.npz"
    save_model(path, model)
    return model, path


def test_json_of_a_numba_model_equals_the_api(numba_model, capsys):
    model, path = numba_model
    assert main(["spectrum", "--model", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["kind"] == "numba" and out["config"]["net"]["filter"] == 4
    assert [x["name"] for x in out["layers"]] == ["conv1", "conv2", "conv3"]
    for got, want in zip(out["layers"], spectra(model), strict=True):
        assert set(got) >= {"k", "name", "eigenvalues", "power", "constant_fraction"}
        np.testing.assert_allclose(got["power"], want.power, rtol=1e-15)
        assert got["constant_fraction"] == want.constant_fraction


def test_channel_sum_flag_and_table(numba_model, capsys):
    model, path = numba_model
    assert main(["spectrum", "--model", str(path), "--json", "--channel-sum"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = spectra(channel_sum(model))
    assert [x["shape"] for x in out["layers"]] == [[1, 1, 4]] * 3
    np.testing.assert_allclose(out["layers"][2]["power"], want[2].power, rtol=1e-12)
    assert main(["spectrum", "--model", str(path)]) == 0
    text = capsys.readouterr().out
    assert "const.frac" in text and len(text.strip().splitlines()) == 4


def test_json_of_a_pytorch_model(tmp_path, capsys):
    skip_without("torch")
    from scaledetect.deep.archs import build
    from scaledetect.deep.io import save_arch_model

    module = build("vgg11", 0.125, 28)
    save_arch_model(tmp_path / "vgg.npz", module, {"arch": "vgg11", "width_factor": 0.125,
                                                   "size": 28})
    assert main(["spectrum", "--model", str(tmp_path / "vgg.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["arch"] == "vgg11" and len(out["layers"]) == 8
    assert all(len(x["eigenvalues"]) == 9 for x in out["layers"])  # 3 x 3: nine modes
    np.testing.assert_allclose(out["layers"][4]["power"], spectra(module)[4].power, rtol=1e-6)


def test_missing_or_bad_model_exits_2(tmp_path, capsys):
    assert main(["spectrum", "--model", str(tmp_path / "none.npz")]) == 2
    (tmp_path / "bad.npz").write_text("not a zip")
    assert main(["spectrum", "--model", str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("scaledetect spectrum: error:") == 2
