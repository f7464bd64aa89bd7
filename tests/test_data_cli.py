"""``scaledetect data``: arrays written, class balance, errors exit 2 and write nothing."""

import json
import subprocess
import sys

import numpy as np
import pytest

from scaledetect.cli import main
from scaledetect.io import load_npz
from scaledetect.tasks import TaskSpec, labels


def test_stripes_block_writes_500_per_class(tmp_path, capsys):
    # The acceptance command: 1000 samples, exactly 500 of each class, arrays images
    # (float32, (1000, 1, 32, 32)), labels (int8), positions (float64, (1000, 2, 1)) whose
    # labels re-derive to the stored ones.
    out = tmp_path / "d.npz"
    argv = ["data", "--dim", "2", "--shape", "stripes", "--rule", "block", "--size", "32",
            "--xi", "8", "--count", "1000", "--seed", "0", "--out", str(out)]
    assert main(argv) == 0
    d = load_npz(out)
    assert d["images"].shape == (1000, 1, 32, 32) and d["images"].dtype == np.float32
    assert d["labels"].dtype == np.int8 and d["positions"].shape == (1000, 2, 1)
    assert (d["labels"] == 1).sum() == 500 and (d["labels"] == -1).sum() == 500
    task = TaskSpec(dim=2, size=32, shape="stripes", rule="block", xi=8)
    assert np.array_equal(labels(task, d["positions"]), d["labels"])
    assert json.loads(str(d["config"]))["task"] == task.to_dict()
    assert "500 with y=+1" in capsys.readouterr().out
    # same seed, same data
    again = tmp_path / "e.npz"
    assert main(argv[:-1] + [str(again)]) == 0
    assert np.array_equal(load_npz(again)["images"], d["images"])


@pytest.mark.parametrize("flags, name", [
    (["--dim", "1", "--size", "16", "--xi", "40"], "xi"),
    (["--size", "16", "--xi", "16"], "xi"),  # one block: no -1 configuration
    (["--count", "0"], "count"),
    (["--shape", "squares"], "shape"),
    (["--dim", "1", "--shape", "stripes"], "dim"),
    (["--interp", "cubic"], "interp"),
    (["--cutoff", "0.5"], "cutoff"),
])
def test_bad_input_exits_2_naming_parameter_and_writes_nothing(tmp_path, capsys, flags, name):
    out, png = tmp_path / "d.npz", tmp_path / "ex.png"
    # (flags come after --count 10, so "--count 0" overrides it: argparse keeps the last)
    assert main(["data", "--count", "10", *flags, "--out", str(out), "--show", str(png)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0]
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_do_is_an_error(tmp_path, capsys):
    assert main(["data", "--count", "5"]) == 2
    assert "--out" in capsys.readouterr().err


def test_show_writes_png_via_console_script(tmp_path):
    # The command line in a separate process (Agg backend, no display) writes a PNG picture for the
    # blobs/distance example of the issue and no data file; exit status 0.
    png = tmp_path / "ex.png"
    run = subprocess.run([sys.executable, "-m", "scaledetect.cli", "data", "--dim", "2",
                          "--shape", "blobs", "--rule", "distance", "--size", "32", "--xi", "8",
                          "--count", "8", "--show", str(png)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ex.png"]
