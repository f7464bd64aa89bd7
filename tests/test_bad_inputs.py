"""Bad inputs held out from test_cli_errors.py (issue 19, section 3), one test per defect class.

The cases themselves (command or call, the fragment its message must contain) are in
``tests/bad_inputs.py``, which also prints them as a table. Every CLI case must exit with
status 2 and one line on stderr naming the parameter, print nothing else and leave every file
as it was (no output replacing an input, nothing half-written); every API case must raise
``ScaleDetectError`` with a one-line message naming the parameter. The scenario tests below
cover what one command line cannot: a ``reproduce`` that must not delete cached runs, a
truncated cache file, JSON output, and a second Ctrl-C.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import bad_inputs
import numpy as np
import pytest

from scaledetect import NetSpec, TaskSpec, init_cnn, load_model, save_model
from scaledetect.cli import main
from scaledetect.experiments import Cache, execute
from scaledetect.studies import plans


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_input_files")
    bad_inputs.make_files(folder)
    return folder


@pytest.mark.parametrize(("argv", "fragment"), bad_inputs.CLI, ids=[c[0] for c in bad_inputs.CLI])
def test_cli_case_exits_2_with_one_line_and_touches_nothing(argv, fragment, files, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(files, work, symlinks=True)
    before = bad_inputs.snapshot(work)
    rc, err, out = bad_inputs.run_cli(argv, work)
    assert rc == 2, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"scaledetect {argv.split()[0]}: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err and out == ""
    assert bad_inputs.snapshot(work) == before  # inputs untouched, nothing written


@pytest.mark.parametrize(("call", "fragment"), bad_inputs.API, ids=[c[0] for c in bad_inputs.API])
def test_api_case_raises_one_line_naming_the_parameter(call, fragment, tmp_path):
    kind, message = bad_inputs.run_api(call, bad_inputs.api_namespace(tmp_path))
    assert kind == "ScaleDetectError", (kind, message)
    assert fragment in message and "\n" not in message
    assert not list(tmp_path.iterdir())  # save_model(PATH, None) wrote nothing


def test_numpy_scalars_are_accepted_as_plain_python_values(tmp_path):
    # numpy integers count as integers (a spec built from an array's entries), and the spec
    # holds plain Python values, so the model's JSON config can be written and read back
    task = TaskSpec(size=np.int64(16), xi=np.int64(4), periodic=np.bool_(False))
    assert type(task.size) is int and type(task.xi) is int and type(task.periodic) is bool
    net = NetSpec(size=np.int32(16), depth=np.int64(2), width=np.int16(2), gain=np.float32(2))
    assert type(net.width) is int and type(net.gain) is float and net.gain == 2.0
    save_model(tmp_path / "m.npz", init_cnn(net, 0))
    assert load_model(tmp_path / "m.npz").spec == net


def test_labels_still_excludes_coincident_and_gap_configurations():
    # what labels() refuses is a position outside the image; the rules' own exclusions stay 0
    from scaledetect import labels

    task = TaskSpec(size=16, xi=4, rule="distance", gap=2)
    pos = np.array([[[3.0], [3.0]], [[0.0], [4.0]], [[0.0], [2.0]], [[0.0], [6.0]]])
    # d = 0 (coincident), 4 (in the band 3 <= d < 5), 2 (< 3: +1), 6 (>= 5: -1)
    assert labels(task, pos).tolist() == [0, 0, 1, -1]


# ------------------------------------------------------------------ reproduce and its cache
def _reproduce(out: Path, *extra: str) -> int:
    return main(["reproduce", "--preset", "tiny", "--out", str(out), "--no-progress",
                 "--workers", "1", *extra])


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}


def test_rerun_never_deletes_what_it_does_not_recompute(tmp_path, capsys):
    """``--rerun X --figure Y`` used to delete X's cached runs, compute nothing and leave an
    empty results.csv; now a rerun touches only runs this call computes, replacing each."""
    tiny = plans("tiny")
    f4 = {r.key for r in tiny["fig4_unstrided"].runs()}
    f8 = {r.key for r in tiny["fig8_maxent"].runs()}
    n_all = len({r.key for plan in tiny.values() for r in plan.runs()})
    assert f4.isdisjoint(f8)
    assert _reproduce(tmp_path, "--figure", "fig4_unstrided", "--figure", "fig8_maxent") == 0
    cache = tmp_path / ".cache"
    before, csv = _mtimes(cache), (tmp_path / "results.csv").read_bytes()
    png = (tmp_path / "fig8_maxent.png").read_bytes()
    capsys.readouterr()

    assert _reproduce(tmp_path, "--rerun", "fig8_maxent", "--figure", "fig4_unstrided") == 2
    assert "rerun must name a figure whose runs this call computes" in capsys.readouterr().err
    assert _mtimes(cache) == before and (tmp_path / "results.csv").read_bytes() == csv

    assert _reproduce(tmp_path, "--rerun", "all", "--figure", "fig4_unstrided") == 0
    assert f"{len(f4)} runs of {n_all} (0 cached, {len(f4)} to run again)" in \
        capsys.readouterr().out
    after = _mtimes(cache)
    assert all(after[f"{k}.json"] > before[f"{k}.json"] for k in f4)  # computed again
    assert all(after[f"{k}.json"] == before[f"{k}.json"] for k in f8)  # not touched
    rows = (tmp_path / "results.csv").read_text()
    assert all(k in rows for k in f4 | f8)
    assert (tmp_path / "fig8_maxent.png").read_bytes() == png


def test_rerun_keeps_the_old_result_until_the_new_one_is_stored(tmp_path):
    # an interrupted rerun must lose nothing: the result counts as missing, but stays on disk
    cache = Cache(tmp_path)
    run = plans("tiny")["fig4_unstrided"].theory[0]
    result, arrays = execute(run.to_dict())
    cache.put(run.key, result, arrays)
    cache.rerun([run.key])
    assert run.key not in cache and (tmp_path / f"{run.key}.json").exists()
    # a new call (after Ctrl-C) still has it
    assert Cache(tmp_path).get(run.key).seconds == result["seconds"]
    cache.put(run.key, {**result, "seconds": 2.0}, arrays)
    assert run.key in cache and cache.get(run.key).seconds == 2.0


def test_truncated_cache_file_is_computed_again_and_named(tmp_path, capsys):
    """A truncated ``.npz`` in the cache gave a BadZipFile traceback on every call."""
    assert _reproduce(tmp_path, "--figure", "fig2_init_vs_trained") == 0
    npz = sorted((tmp_path / ".cache").glob("*.npz"))
    assert npz  # the training runs store their filters
    raw = npz[0].read_bytes()
    npz[0].write_bytes(raw[:len(raw) // 2])
    capsys.readouterr()
    assert _reproduce(tmp_path, "--figure", "fig2_init_vs_trained") == 0
    out = capsys.readouterr().out
    assert f"1 cached results could not be read and are computed again: {npz[0].stem}" in out
    n_all = len({r.key for plan in plans("tiny").values() for r in plan.runs()})
    assert f"3 runs of {n_all} (2 cached)" in out
    assert npz[0].read_bytes() == raw  # recomputed: the same numbers, the same file
    assert _reproduce(tmp_path, "--figure", "fig2_init_vs_trained") == 0
    assert f"3 runs of {n_all} (3 cached)" in capsys.readouterr().out


# ------------------------------------------------------------------ JSON
def test_json_output_is_standard_with_null_for_non_finite(tmp_path, capsys):
    """``--json`` printed NaN/Infinity (e.g. the constant fraction of an all-zero filter)."""
    m = init_cnn(NetSpec(size=32, depth=3, width=4), 0)
    for name, w in m.params.items():
        if name.endswith(".weight") and name.startswith("conv"):
            w[...] = 0  # no power on any mode: the constant fraction 0/0 is undefined
    save_model(tmp_path / "zero.npz", m)
    assert main(["spectrum", "--model", str(tmp_path / "zero.npz"), "--json"]) == 0

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    data = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert [layer["constant_fraction"] for layer in data["layers"]] == [None] * 3

    from scaledetect.io import dumps_json, write_json  # the one encoder behind every --json

    obj = {"a": float("nan"), "b": [np.float32(np.inf), 1.5], "c": np.array([1.0, -np.inf]),
           np.int64(3): np.int64(4), "d": (np.float64(2.0),)}
    assert json.loads(dumps_json(obj)) == {"a": None, "b": [None, 1.5], "c": [1.0, None],
                                          "3": 4, "d": [2.0]}
    write_json(tmp_path / "r.json", obj)
    assert json.loads((tmp_path / "r.json").read_text(), parse_constant=refuse)["a"] is None
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        dumps_json({"x": object()})


# ------------------------------------------------------------------ Ctrl-C
def test_in_process_main_gives_back_the_interrupt_handler(monkeypatch, capsys):
    from scaledetect.commands import theory

    def interrupted(args):
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, through the handler main set
        time.sleep(5)
        raise AssertionError("SIGINT did not interrupt")

    monkeypatch.setattr(theory, "run", interrupted)
    assert main(["theory"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_second_ctrl_c_during_clean_up_prints_nothing_more(tmp_path):
    """Ctrl-C reaches the whole process group (parent and workers); a second one during the
    clean-up used to print "Exception ignored ... KeyboardInterrupt" or end with status -2,
    and the terminated workers left "leaked semaphore objects" warnings."""
    import scaledetect

    root = Path(scaledetect.__file__).resolve().parents[1]  # the package under test
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaledetect.cli", "reproduce", "--preset", "tiny", "--out",
         str(tmp_path / "o"), "--workers", "2", "--no-progress"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, start_new_session=True, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "o" / ".cache").glob("*.json")):  # workers busy, runs finishing
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    for _ in range(10):  # more Ctrl-C while the parent stops the workers and exits
        time.sleep(0.1)
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("scaledetect reproduce: interrupted;"), err
    assert "Exception ignored" not in err and "Traceback" not in err
    assert "leaked" not in err, err
