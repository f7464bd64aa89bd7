"""``reproduce`` gives the same numbers however it gets there: killed with ``kill -9`` while a
training run is in flight and run again, recomputed with ``--rerun all``, or spread over a Dask
LocalCluster.

Everything goes through the command line (the runner's internals may change, the CLI contract
stays) on the smallest figure that trains networks: ``--preset tiny --figure
fig2_init_vs_trained`` (two ReLU nets of the tour's size trained to interpolation and on, plus
their infinite-width prediction). The reference is one uninterrupted run; ``results.csv`` holds
every measured number (D, G, R and standard errors per run, state and layer), so equal files
mean equal results.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from skips import skip_without

from scaledetect.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["reproduce", "--preset", "tiny", "--figure", "fig2_init_vs_trained", "--no-progress"]
START_WITHIN = 180.0  # imports and loading the compiled kernels, on a loaded machine


def _reproduce(out: Path, *extra: str) -> str:
    """Run the command in this process; return the ``results.csv`` it wrote."""
    assert main([*ARGS, "--out", str(out), *extra]) == 0
    return (out / "results.csv").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reference")
    return out, _reproduce(out, "--workers", "1")


def _in_flight(out: Path) -> list[Path]:
    """Training folders with a checkpoint but no final model: runs stopped mid-training."""
    train = out / ".cache" / "train"
    if not train.exists():
        return []
    return [d for d in train.iterdir()
            if (d / "checkpoint.npz").exists() and not (d / "model.npz").exists()]


def _kill_mid_training(out: Path) -> list[Path]:
    """Start the command in a process group of its own, ``kill -9`` the group as soon as a
    training run has written a checkpoint and not yet finished; return the runs in flight."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "scaledetect.cli", *ARGS, "--out", str(out),
                             "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + START_WITHIN
    try:
        while time.monotonic() < deadline and proc.poll() is None and not _in_flight(out):
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return _in_flight(out)  # checked again: the run may have finished before the kill


def test_kill_9_mid_training_then_the_same_command_gives_the_same_results(reference, tmp_path):
    """A training run of the figure is cut after a checkpoint (every 10 epochs, of about 100);
    the same command then continues it from that checkpoint (its ``init.npz`` is not written
    again) and computes what is left: ``results.csv`` equal to the uninterrupted run's, byte for
    byte. A training run takes a fraction of a second, so the kill can come too late: up to 3
    tries."""
    out = tmp_path / "out"
    for _ in range(3):
        shutil.rmtree(out, ignore_errors=True)
        if cut := _kill_mid_training(out):
            break
    else:
        pytest.fail("no training run was caught between its first checkpoint and its end")
    key = cut[0].name.split("-")[0]
    assert not (out / ".cache" / f"{key}.json").exists()  # not finished: no result stored
    started = (cut[0] / "init.npz").stat().st_mtime_ns
    assert _reproduce(out, "--workers", "1") == reference[1]
    # continued from the checkpoint, not started afresh (which rewrites init.npz first)
    assert (cut[0] / "init.npz").stat().st_mtime_ns == started
    assert (cut[0] / "model.npz").exists()


def test_rerun_all_computes_everything_again_with_the_same_numbers(reference, capsys):
    out, csv = reference
    results = sorted((out / ".cache").glob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    capsys.readouterr()
    assert _reproduce(out, "--workers", "1", "--rerun", "all") == csv
    said = capsys.readouterr().out
    assert f"{len(results)} runs of" in said and "(0 cached" in said  # none reused
    assert all(p.stat().st_mtime_ns > before[p] for p in results)  # really recomputed


def test_dask_local_cluster_with_training_runs_gives_the_same_results(reference, tmp_path):
    """Two LocalCluster worker processes, each training in its own checkpoint folder."""
    skip_without("dask")
    out = tmp_path / "dask"
    assert _reproduce(out, "--executor", "dask", "--workers", "2") == reference[1]
    assert len(list((out / ".cache" / "train").iterdir())) == 2  # the two trained seeds
