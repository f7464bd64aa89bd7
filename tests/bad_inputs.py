"""Held-out bad inputs (issue 19, section 3): the cases, the files they need, and the table.

Each CLI case is ``(argv, fragment)``: run in a fresh folder holding the files of
``make_files``, the command must exit 2 with one line on stderr that contains *fragment* (the
parameter and what is wrong with it), print nothing on stdout and leave every file as it was.
Each API case is ``(call, fragment)``: ``eval(call)`` must raise ``ScaleDetectError`` with a
one-line message containing *fragment*. ``tests/test_bad_inputs.py`` checks every case;

    python tests/bad_inputs.py > table.md

prints the table of every case: the command, its exit code (or the exception) and the message.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

BIG = 10**13  # probes, images or noise draws: petabytes
#: ``(argv, fragment)``: the class of defect in the comment above each group.
CLI = [
    # data loss: an output path that is one of the inputs, or a folder where a file goes
    ("predict --model m.npz --input d.npz --out d.npz", "out must differ from --input"),
    ("predict --model m.npz --input d.npz --out m.npz", "out must differ from --model"),
    ("predict --model m.npz --input d.npz --out ./sub/../m.npz", "out must differ from --model"),
    ("predict --model m.npz --input d.npz --out link.npz", "out must differ from --model"),
    ("predict --model link.npz --input x.npy --out m.npz", "out must differ from --model"),
    ("data --size 32 --xi 8 --count 4 --out e.npz --show e.npz", "show must differ from --out"),
    ("predict --model m.npz --input d.npz --out adir", "out must be a file name; got out='adir'"),
    ("data --size 32 --xi 8 --count 4 --out adir", "out must be a file name; got out='adir'"),
    ("data --size 32 --xi 8 --count 4 --show adir", "show must be a file name; got show='adir'"),
    ("predict --model m.npz --input d.npz --out m.npz/y.npz", "m.npz is a file"),
    ("reproduce --preset tiny --out d.npz", "out must be a folder; got out='d.npz'"),
    ("train --size 32 --xi 8 --depth 3 --width 4 --out d.npz", "out must be a folder"),
    ("reproduce --preset tiny --out o --rerun fig8_maxent --figure fig4_unstrided",
     "rerun must name a figure whose runs this call computes"),
    ("reproduce --preset tiny --out o --rerun fig9_architectures --backend numba",
     "rerun must name a figure whose runs this call computes"),
    # silent wrong: values that overflow the model's dtype, complex and string arrays
    ("predict --model m.npz --input big.npy --out y.npz", "finite in the model's dtype float32"),
    ("predict --model m.npz --input nan.npy --out y.npz", "finite in the model's dtype float32"),
    ("predict --model m.npz --input cplx.npy --out y.npz", "input must hold real numbers"),
    ("predict --model m.npz --input str.npy --out y.npz", "input must hold real numbers"),
    ("predict --model m.npz --input str0.npy --out y.npz", "input must hold real numbers"),
    ("predict --model w3e38.npz --input x.npy --out y.npz", "model must give finite layers"),
    ("predict --model winf.npz --input x.npy --out y.npz", "must be finite in dtype float64"),
    ("sensitivity --model w3e38.npz --size 32 --xi 8 --probe 256",
     "model must give finite layers; got NaN or inf at layer 1"),
    ("predict --model m.npz --input trunc.npz --out y.npz", "input trunc.npz: not a readable"),
    ("sensitivity --model m.npz --images x.npy --diffeo maxent", "not an .npz file"),
    ("sensitivity --model m.npz --images cplx.npz --diffeo maxent", "got a complex array"),
    ("sensitivity --model m.npz --images nanimg.npz --diffeo maxent", "images must be finite"),
    # silent wrong: model configs checked as the CLI checks its flags
    ("predict --model bias_yes.npz --input x.npy --out y.npz",
     "bias must be True or False; got bias='yes'"),
    ("predict --model gain_inf.npz --input x.npy --out y.npz", "gain must be a finite number"),
    ("predict --model depth_float.npz --input x.npy --out y.npz",
     "depth must be an integer >= 1; got depth=3.0"),
    ("predict --model size_float.npz --input x.npy --out y.npz",
     "size must be an integer >= 1; got size=32.0"),
    ("predict --model width_str.npz --input x.npy --out y.npz", "width must be an integer"),
    ("predict --model alpha_nan.npz --input x.npy --out y.npz", "alpha must be a finite number"),
    ("predict --model act_list.npz --input x.npy --out y.npz", "act must be one of"),
    ("predict --model trunc.npz --input x.npy --out y.npz", "not a readable .npz file"),
    ("sensitivity --model gain_inf.npz --size 32 --xi 8 --json", "gain must be a finite number"),
    ("spectrum --model bias_yes.npz --json", "bias must be True or False"),
    # non-finite or out-of-type flags
    ("data --size 32 --xi inf --out o.npz", "xi must be a finite number; got xi=inf"),
    ("data --rule distance --size 32 --xi 8 --gap nan --out o.npz", "gap must be a finite"),
    ("data --shape blobs --rule distance --size 32 --xi 8 --blob-width inf --out o.npz",
     "blob_width must be a finite number"),
    ("sensitivity --pooling --size 32 --xi 8 --depth 3 --delta inf", "delta must be a finite"),
    ("sensitivity --pooling --size 32 --xi 8 --depth 3 --diffeo maxent --temperature inf",
     "temperature must be a finite number"),
    ("sensitivity --pooling --size 32 --xi 8 --depth 3 --diffeo maxent --cutoff inf",
     "cutoff must be a finite number"),
    ("sensitivity --pooling --size 32 --xi 8 --depth 3 --gain inf", "gain must be a finite"),
    ("sensitivity --pooling --size 32 --xi 8 --depth 3 --width -3", "width must be an integer"),
    ("theory --size 32 --xi 8 --depth 3 --alpha inf", "alpha must be a finite number"),
    ("theory --size 32 --xi nan --depth 3", "xi must be a finite number; got xi=nan"),
    ("theory --init --size 32 --xi 8 --depth 3 --bias-std inf", "bias-std must be a finite"),
    ("train --size 32 --xi 8 --depth 3 --width 4 --gain nan --out r", "gain must be a finite"),
    ("train --size 32 --xi 8 --depth 3 --width 4 --alpha=-inf --out r", "alpha must be a finite"),
    # tracebacks: runs that cannot fit in memory are refused with the estimate
    (f"data --size 32 --xi 8 --count {BIG} --out o.npz", "the data set must fit in memory"),
    ("data --size 1099511627776 --xi 8 --count 4 --out o.npz", "the data set must fit in memory"),
    ("data --dim 2 --size 4096 --xi 8 --count 100000 --out o.npz", "must fit in memory"),
    (f"sensitivity --pooling --size 32 --xi 8 --depth 3 --probe {BIG}",
     "the probe set and its batches must fit in memory"),
    (f"sensitivity --model m.npz --size 32 --xi 8 --probe {BIG}", "must fit in memory"),
    ("sensitivity --pooling --size 32 --xi 8 --depth 3 --estimator median --probe 10000000",
     "the probe set and its batches must fit in memory"),
    (f"train --size 32 --xi 8 --depth 3 --width 4 --n-train {BIG} --out r",
     "the training and test sets must fit in memory"),
    ("theory --size 1099511627776 --xi 8 --depth 3", "the exact theory must fit in memory"),
    ("theory --dim 2 --size 1048576 --xi 8 --depth 3", "the exact theory must fit in memory"),
    (f"theory --init --size 32 --xi 8 --depth 3 --noise-draws {BIG}",
     "the noise draws and configurations must fit in memory"),
    # unclear messages and files that are not what they claim
    ("predict --model m.npz --input adir --out y.npz", "input adir: not a readable"),
    ("predict --model adir --input x.npy --out y.npz", "Is a directory: 'adir'"),
    ("spectrum --model x.npy", "not a readable .npz file"),
    ("sensitivity --model d.npz --size 32 --xi 8", "config format must be 'scaledetect-model'"),
    ("predict --model m.npz --input m.npz --out y.npz", "must hold an array 'images'"),
    ("sensitivity --model m.npz --size 16 --xi 4", "task must match the model's input"),
]

#: ``(call, fragment)``: evaluated with the names of ``api_namespace()``.
API = [
    ("NetSpec(bias='no')", "bias must be True or False; got bias='no'"),
    ("NetSpec(depth=3.0)", "depth must be an integer >= 1; got depth=3.0"),
    ("NetSpec(width=True)", "width must be an integer >= 1; got width=True"),
    ("NetSpec(gain=float('inf'))", "gain must be a finite number; got gain=inf"),
    ("TaskSpec(size=16.0, xi=4)", "size must be an integer >= 2; got size=16.0"),
    ("TaskSpec(size=16, xi='4')", "xi must be a finite number; got xi='4'"),
    ("TaskSpec(size=16, xi=4, periodic='no')", "periodic must be True or False"),
    ("TaskSpec(dim=True, size=16, xi=4)", "dim must be one of 1, 2; got dim=True"),
    ("TaskSpec(size=16, xi=4, rule='distance', gap=float('inf'))", "gap must be a finite"),
    ("Perturbation(delta='1')", "delta must be a finite number; got delta='1'"),
    ("Perturbation(cutoff=float('inf'))", "cutoff must be a finite number"),
    ("labels(T, np.array([[[-1.0], [3.0]]]))", "positions must lie in the image"),
    ("labels(T, np.array([[[np.nan], [3.0]]]))", "positions must be finite"),
    ("labels(T, np.array([[['a'], ['b']]]))", "positions must be an array of real numbers"),
    ("labels('task', np.array([[[1.0], [3.0]]]))", "task must be a TaskSpec; got task='task'"),
    ("sample('task', 4)", "task must be a TaskSpec"),
    ("sample(T, 4, rng='x')", "rng must be a numpy Generator, an integer seed >= 0 or None"),
    ("sample(T, 4, rng=1.5)", "rng must be a numpy Generator"),
    ("sample(T, True)", "n must be an integer >= 0; got n=True"),
    ("render(None, np.array([[[1.0], [3.0]]]))", "task must be a TaskSpec"),
    ("render(T, 'abc')", "positions must be an array of real numbers; got a string array"),
    ("enumerate_configs('task')", "task must be a TaskSpec"),
    ("shift(T, np.array([[[1.0], [3.0]]]), 0, delta='1')", "delta must be a finite number"),
    ("diffeo(T, 'shift', np.zeros((1, 1, 16)), np.array([[[1.0], [3.0]]]))",
     "pert must be a Perturbation"),
    ("diffeo(T, MAXENT, np.zeros((1, 1, 16), complex), np.array([[[1.0], [3.0]]]))",
     "images must be an array of real numbers; got a complex array"),
    ("matched_noise(np.ones((2, 1, 4), complex), np.zeros((2, 1, 4)), rng=0)",
     "clean must be an array of real numbers; got a complex array"),
    ("matched_noise(np.ones((2, 1, 4)), np.zeros((2, 1, 4)), sigma='a', rng=0)",
     "sigma must be a finite number"),
    ("init_cnn('spec')", "spec must be a NetSpec"),
    ("init_cnn(N, 0, dtype='abc')", "dtype must be float32 or float64; got dtype='abc'"),
    ("init_cnn(N, 0, bias_std='1')", "bias_std must be a finite number"),
    ("init_cnn(N, 'x')", "rng must be a numpy Generator"),
    ("CNN(N, {k: np.full(v.shape, 'a') for k, v in M.params.items()})",
     "must be an array of real numbers; got a string array"),
    ("CNN(N, {k: np.full(v.shape, 1e39) for k, v in M.params.items()}, dtype=np.float32)",
     "must be finite in dtype float32"),
    ("CNN(N, {k: np.ones(v.shape, complex) for k, v in M.params.items()})",
     "got a complex array"),
    ("M.forward(np.array('abc'))", "x must be an array of real numbers; got a string array"),
    ("M.forward(np.ones((1, 1, 16), complex))", "x must be an array of real numbers"),
    ("M.forward(np.full((1, 1, 16), 1e300))", "x must be finite in the model's dtype float32"),
    ("M.forward(np.ones((1, 1, 16)), layers='no')", "layers must be True or False"),
    ("save_model(PATH, None)", "model must be a CNN"),
    ("save_model(3, M)", "path must be a file path"),
    ("load_model(None)", "path must be a file path"),
    ("measure(M, T, probe=256, channel_mean='no')", "channel_mean must be True or False"),
    ("measure(M, images=np.ones((4, 1, 16), complex), pert=MAXENT)", "got a complex array"),
    ("predict('task', POOL)", "task must be a TaskSpec"),
    ("predict(T, POOL, 'shift')", "pert must be a Perturbation"),
    ("nngp(T, N, n_noise=10.5)", "n_noise must be an integer >= 2; got n_noise=10.5"),
    ("nngp(T, N, bias_std=float('nan'))", "bias_std must be a finite number"),
    ("nngp('task', N)", "task must be a TaskSpec"),
]


def api_namespace(folder: Path) -> dict:
    """Names the API cases use: the public API, a task ``T``, nets ``N``/``POOL``, a model
    ``M``, the perturbation ``MAXENT`` and a writable ``PATH`` in *folder*.
    """
    import scaledetect

    ns = {name: getattr(scaledetect, name) for name in scaledetect.__all__}
    ns.update(np=np, T=scaledetect.TaskSpec(size=16, xi=4),
              N=scaledetect.NetSpec(size=16, depth=2, width=2),
              POOL=scaledetect.NetSpec(size=16, depth=2, width=1, bias=False),
              MAXENT=scaledetect.Perturbation(diffeo="maxent"), PATH=str(folder / "api.npz"))
    ns["M"] = scaledetect.init_cnn(ns["N"], 0)
    return ns


def make_files(folder: Path) -> None:
    """The files the CLI cases read: a model ``m.npz`` (1D, size 32, depth 3, width 4), data
    ``d.npz``, images ``x.npy``, bad images, bad model files and a folder ``adir``.
    """
    from scaledetect import NetSpec, TaskSpec, init_cnn, sample, save_model
    from scaledetect.nn.io import model_config

    m = init_cnn(NetSpec(size=32, depth=3, width=4), 0)
    save_model(folder / "m.npz", m)
    batch = sample(TaskSpec(size=32, xi=8), 8, 0)
    np.savez(folder / "d.npz", images=batch.images, labels=batch.labels,
             positions=batch.positions, config=np.array("{}"))
    np.save(folder / "x.npy", np.ones((2, 1, 32)))
    np.save(folder / "big.npy", np.full((2, 1, 32), 1e300))
    np.save(folder / "nan.npy", np.full((2, 1, 32), np.nan))
    np.save(folder / "cplx.npy", np.ones((2, 1, 32), complex))
    np.save(folder / "str.npy", np.full((2, 1, 32), "a"))
    np.save(folder / "str0.npy", np.array("abc"))
    np.savez(folder / "cplx.npz", images=np.ones((4, 1, 32), complex))
    np.savez(folder / "nanimg.npz", images=np.full((4, 1, 32), np.nan))
    config = np.array(json.dumps(model_config(m)))
    np.savez(folder / "w3e38.npz", config=config,
             **{k: np.full(v.shape, 3e38, np.float32) for k, v in m.params.items()})
    cfg64 = {**model_config(m), "dtype": "float64"}
    np.savez(folder / "winf.npz", config=np.array(json.dumps(cfg64)),
             **{k: np.full(v.shape, np.inf) for k, v in m.params.items()})
    for name, field, value in (("bias_yes", "bias", "yes"), ("gain_inf", "gain", float("inf")),
                               ("depth_float", "depth", 3.0), ("size_float", "size", 32.0),
                               ("width_str", "width", "4"), ("alpha_nan", "alpha", float("nan")),
                               ("act_list", "act", ["relu"])):
        cfg = model_config(m)
        cfg["net"][field] = value  # json.dumps writes inf and nan as Infinity and NaN
        np.savez(folder / f"{name}.npz", config=np.array(json.dumps(cfg)), **m.params)
    raw = (folder / "m.npz").read_bytes()
    (folder / "trunc.npz").write_bytes(raw[:len(raw) // 2])
    (folder / "adir").mkdir()
    (folder / "sub").mkdir()
    os.symlink("m.npz", folder / "link.npz")


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file (and the names of folders) under *folder*, by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() and not p.is_symlink() else hashlib.sha256(
            p.read_bytes()).hexdigest()
    return out


def run_cli(argv: str, folder: Path) -> tuple[int | str, str, str]:
    """``scaledetect <argv>`` in-process with *folder* as working directory: ``(exit status or
    the escaping exception, stderr, stdout)``.
    """
    from scaledetect.cli import main

    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(argv.split())
    except BaseException as exc:  # a traceback: what the cases must never give
        rc = f"{type(exc).__name__}: {exc}"
    finally:
        os.chdir(cwd)
    return rc, err.getvalue(), out.getvalue()


def run_api(call: str, ns: dict) -> tuple[str, str]:
    """``(outcome, message)`` of ``eval(call)``: the exception's type, or ``returned``."""
    try:
        eval(call, ns)  # noqa: S307 - the cases above, nothing else
    except Exception as exc:  # what we tabulate: which exception, which message
        return type(exc).__name__, str(exc)
    return "returned", ""


def table() -> str:
    """Markdown table of every case: command or call, exit code or exception, message."""
    rows = ["| # | command | exit code | message (stderr) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "files"
        base.mkdir()
        with contextlib.redirect_stderr(io.StringIO()):
            make_files(base)
        for i, (argv, _) in enumerate(CLI, 1):
            work = Path(tmp) / f"case{i}"
            shutil.copytree(base, work, symlinks=True)
            rc, err, _ = run_cli(argv, work)
            rows.append(f"| {i} | `scaledetect {argv}` | {rc} | {_cell(err)} |")
        ns = api_namespace(Path(tmp))
        for j, (call, _) in enumerate(API, len(CLI) + 1):
            kind, message = run_api(call, ns)
            rows.append(f"| {j} | `{call}` | raises {kind} | {_cell(message)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return " ".join(text.strip().splitlines()).replace("|", "\\|") or "(nothing)"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(table())
