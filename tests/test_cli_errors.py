"""Every command turns bad input into one line on stderr, exit status 2, and writes nothing.

Each case is (argv, text the message must contain): the text names the offending parameter (and,
where the value is short, the value received), so a user can fix the flag without a traceback.
All cases fail in validation, before any numba compilation or sampling: the file runs in seconds.
"""

import numpy as np
import pytest

from scaledetect.cli import main

# (argv, expected fragment of the error line)
CASES = [
    ("data --seed -1 --out d.npz", "argument --seed: must be an integer >= 0; got '-1'"),
    ("data --seed abc --out d.npz", "argument --seed: must be an integer >= 0; got 'abc'"),
    ("data --count 0 --out d.npz", "count must be an integer >= 1; got count=0"),
    ("data --size 0 --out d.npz", "size must be an integer >= 2; got size=0"),
    ("data --dim 3 --out d.npz", "dim must be one of 1, 2; got dim=3"),
    ("data --shape circles --out d.npz", "shape must be one of points, stripes, blobs"),
    ("data --rule nearest --out d.npz", "rule must be one of block, distance"),
    ("data --xi 1000 --out d.npz", "xi must satisfy 1 <= xi <= size"),
    ("data --norm l3 --out d.npz", "norm must be one of l2, linf"),
    ("data --shape blobs --rule distance --blob-width -1 --out d.npz", "blob_width must be > 0"),
    ("data --rule distance --gap -1 --out d.npz", "gap must be >= 0"),
    ("data --delta -1 --show d.png", "delta must be > 0"),
    ("data --temperature -1 --show d.png", "temperature must be > 0"),
    ("data --interp cubic --show d.png", "interp must be one of linear, gaussian, nearest"),
    ("data --noise-match both --show d.png", "noise_match must be one of batch, sample"),
    ("data --count 3", "--out must be given (or --show PNG)"),
    ("train --seed -1 --out r", "argument --seed: must be an integer >= 0; got '-1'"),
    ("train --data-seed -5 --out r", "argument --data-seed: must be an integer >= 0"),
    ("train --lr -1 --out r", "lr must be a finite number > 0; got lr=-1.0"),
    ("train --lr nan --out r", "lr must be a finite number > 0; got lr=nan"),
    ("train --batch-size 0 --out r", "batch_size must be an integer >= 1"),
    ("train --momentum 1.5 --out r", "momentum must satisfy 0 <= momentum < 1"),
    ("train --loss mse --out r", "loss must be one of hinge, logistic"),
    ("train --stop never --out r", "stop must be one of interpolate, loss, epochs"),
    ("train --depth 9 --out r", "stride must divide the side of every layer's input"),
    ("train --act sigmoid --out r", "act must be one of relu, tanh, linear"),
    ("train --dtype float16 --out r", "dtype must be one of float32, float64"),
    ("train --threads 0 --out r", "threads must be an integer >= 1"),
    ("train --max-epochs 0 --out r", "max_epochs must be an integer >= 1"),
    ("train --colour red --out r", "unrecognized arguments: --colour red"),
    ("train --size 32", "the following arguments are required: --out"),
    ("theory --init --seed -1 --size 32 --xi 8 --depth 5", "argument --seed: must be an integer"),
    ("theory --init --noise-draws 0 --size 32 --xi 8 --depth 5", "noise-draws must be an integer"),
    ("theory --init --bias-std -1 --size 32 --xi 8 --depth 5",
     "bias-std must be a finite number >= 0"),
    ("theory --depth 0", "depth must be an integer >= 1; got depth=0"),
    ("theory --act swish", "act must be one of relu, tanh, linear, leaky_relu, gelu; got "
     "act='swish'"),
    ("theory --diffeo rotate", "diffeo must be one of shift, maxent; got diffeo='rotate'"),
    ("sensitivity --pooling --seed -1", "argument --seed: must be an integer >= 0; got '-1'"),
    ("sensitivity --pooling --probe 1", "probe must be an integer >= 2; got probe=1"),
    ("sensitivity --pooling --estimator mode", "estimator must be one of mean, median"),
    ("sensitivity --pooling --batch-size 0", "batch_size must be an integer >= 1"),
    ("sensitivity --pooling --cutoff 0", "cutoff must be >= 1; got cutoff=0.0"),
    ("sensitivity --probe 10", "one of the arguments --pooling --model is required"),
    ("sensitivity --pooling --model m.npz", "--model: not allowed with argument --pooling"),
    ("sensitivity --model missing.npz", "No such file or directory: 'missing.npz'"),
    ("sensitivity --model text.npy", "model file text.npy: not a readable .npz file"),
    ("predict --model missing.npz --input x.npy --out y.npz", "No such file or directory"),
    ("predict --model m --input x --out y.npz --batch 0", "batch must be an integer >= 1"),
    ("reproduce --preset huge --out o", "preset must be one of tiny, quick, paper"),
    ("reproduce --workers 0 --out o", "workers must be >= 1; got workers=0"),
    ("reproduce --executor slurm --out o", "executor must be one of local, dask"),
    ("reproduce --scheduler tcp://h:1 --out o", "scheduler must be given only with"),
    ("reproduce --rerun fig99 --out o", "rerun must be one of"),
    ("reproduce --figure fig99 --out o", "figure must be one of fig1_gallery"),
    ("reproduce --backend jax --out o", "backend must be one of all, numba, torch"),
    ("bench --threads 0", "threads must be >= 1; got threads=0"),
    ("bench --repeats 0", "repeats must be >= 1; got repeats=0"),
    ("nosuchcommand", "invalid choice: 'nosuchcommand'"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.npy").write_text("not an array")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv.split()) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    command = argv.split()[0]
    prefix = "scaledetect: error:" if command == "nosuchcommand" else f"scaledetect {command}"
    assert lines[0].startswith(prefix) and "error:" in lines[0]
    assert message in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_help_exits_0_and_is_self_contained(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "SPEC" not in text
    description = text.split("\n\n")[1]
    assert description.rstrip().endswith(".")  # a whole sentence, not cut mid-way
    for command in ("data", "theory", "sensitivity", "train", "predict", "reproduce", "bench"):
        assert main([command, "--help"]) == 0
        assert "SPEC" not in capsys.readouterr().out


def test_data_show_failure_leaves_neither_file(tmp_path, monkeypatch, capsys):
    # the picture fails after the arrays were written to their temporary file: neither the
    # .npz nor the .png (nor a temporary) may remain
    import matplotlib.figure

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", "d.png")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    argv = ["data", "--size", "16", "--xi", "4", "--count", "8", "--out", str(tmp_path / "d.npz"),
            "--show", str(tmp_path / "d.png")]
    assert main(argv) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_data_show_writes_data_and_picture(tmp_path, capsys):
    argv = ["data", "--size", "16", "--xi", "4", "--count", "8", "--out", str(tmp_path / "d.npz"),
            "--show", str(tmp_path / "d.png")]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "d.png"]
    with np.load(tmp_path / "d.npz", allow_pickle=False) as f:
        assert f["images"].shape == (8, 1, 16)
