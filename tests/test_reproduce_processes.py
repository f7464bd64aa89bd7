"""``reproduce`` leaves no process behind: not after ``kill -9``, not after Ctrl-C (exit 130).

Each test starts ``scaledetect reproduce --preset tiny --workers 2`` in a session of its own,
waits until both pool workers and multiprocessing's resource tracker are running and a training
run has started, then kills it. Every descendant must be gone within ``GONE_WITHIN`` seconds
(workers poll their parent every 0.5 s). Processes are found through /proc (Linux only).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN = 30.0  # workers poll every 0.5 s; the margin is for a loaded machine
START_WITHIN = 120.0  # spawning two workers imports numba in each; slow on a loaded machine


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of *pid*, or None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents[int(entry)] = st[1]
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"  # a zombie has exited (only its entry remains)


def _default_sigint() -> None:
    """In the child before exec: SIGINT's default action, as in a terminal. An ignored SIGINT is
    inherited across exec (and Python then leaves it ignored); the test process can have one
    from an earlier test's libraries, and the child would then never see the Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaledetect.cli", "reproduce", "--preset", "tiny", "--workers",
         "2", "--out", str(tmp_path / "out"), "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=_default_sigint)
    deadline = time.monotonic() + START_WITHIN
    train = tmp_path / "out" / ".cache" / "train"
    while time.monotonic() < deadline:
        kids = _descendants(proc.pid)
        # two workers + the resource tracker, and a training run has written its first files
        if len(kids) >= 3 and train.exists() and any(train.iterdir()):
            return proc, kids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("reproduce did not start its workers in time")


def _wait_gone(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


def test_kill_9_leaves_no_worker_or_resource_tracker(tmp_path):
    proc, kids = _start(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=GONE_WITHIN)
    left = _wait_gone(kids)
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still alive {GONE_WITHIN:g} s after kill -9: {left}"


def test_ctrl_c_exits_130_and_leaves_no_process(tmp_path):
    proc, kids = _start(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    try:
        _, err = proc.communicate(timeout=GONE_WITHIN)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("reproduce did not exit after Ctrl-C")
    left = _wait_gone(kids)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    assert not left, f"still alive after Ctrl-C: {left}"
