"""``scaledetect theory`` command line (SPEC section 7)."""

import json
import time

import numpy as np

from scaledetect import NetSpec, TaskSpec
from scaledetect.cli import main
from scaledetect.theory import predict


def test_json_matches_predict(capsys):
    assert main(["theory", "--size", "32", "--xi", "16", "--depth", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [row["k"] for row in out["layers"]] == [0, 1, 2, 3, 4, 5, "out"]
    assert "D_se" not in out["layers"][0]
    th = predict(TaskSpec(dim=1, size=32, xi=16),
                 NetSpec(dim=1, size=32, depth=5, width=1, bias=False))
    assert np.allclose([row["D"] for row in out["layers"][:5]], th.D[:5], rtol=1e-14)
    assert out["layers"][4]["D"] == 0.0  # xi = N/2 = 2^4: the blocks of layer 4
    assert out["layers"][5]["D"] is None  # single unit: den = 0, D undefined
    assert out["config"]["net"]["width"] == 1 and out["config"]["net"]["bias"] is False


def test_table_init_and_symbolic(capsys):
    assert main(["theory", "--size", "16", "--xi", "8", "--depth", "2", "--stride", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["k", "D", "G", "R"]
    assert main(["theory", "--size", "8", "--xi", "4", "--depth", "2", "--init", "--json",
                 "--noise-draws", "256"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["source"] == "theory.nngp" and "G_se" in out["layers"][1]
    assert main(["theory", "--symbolic"]) == 0
    assert "G ~ s^(1 k)" in capsys.readouterr().out
    assert main(["theory", "--symbolic", "--latex"]) == 0
    assert "\\pi" in capsys.readouterr().out


def test_errors_exit_2(capsys):
    assert main(["theory", "--shape", "blobs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scaledetect theory: error: shape must") and len(err.splitlines()) == 1
    assert main(["theory", "--size", "12", "--depth", "3"]) == 2
    assert "stride" in capsys.readouterr().err


def test_fast_enough_for_interactive_use(capsys):
    """Issue 5: under 2 s for the 1D N = 256, K = 8 case (the computation itself; CPU time)."""
    t0 = time.process_time()
    assert main(["theory", "--size", "256", "--depth", "8", "--json"]) == 0
    assert time.process_time() - t0 < 2.0
