"""A training run's output folder: locked while a run uses it, cleared when the run fails.

The lock is a file ``.lock`` created atomically (``O_CREAT | O_EXCL``) holding the owner's pid
and host, removed when the run ends. A lock whose process is gone (same host, no such pid, or
a zombie) is stale and taken over; a lock of another host cannot be checked and counts as held.
"""

import json
import os
import socket
import time
from pathlib import Path

from ..errors import ScaleDetectError

LOCK = ".lock"
#: Every file a training run writes into its folder.
RUN_FILES = ("init.npz", "at_stop.npz", "checkpoint.npz", "model.npz", "final.npz",
             "history.json")
#: An unreadable lock file younger than this (seconds) is being written: held.
_FRESH = 10.0


class RunFolder:
    """``with RunFolder(path) as folder:`` creates and locks *path* for one training run.

    Parameters
    ----------
    path : str or PathLike
        The folder (created if missing; removed again on exit if this run created it and left
        it empty).

    Raises
    ------
    ScaleDetectError
        On entry, if *path* is a file or another live process holds the lock.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.created = False

    def __enter__(self) -> "RunFolder":
        if self.path.exists() and not self.path.is_dir():
            raise ScaleDetectError(f"out_dir must be a folder; got out_dir={str(self.path)!r} "
                                   "(an existing file)")
        self.created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            acquire(self.path / LOCK)
        except BaseException:
            self._remove_if_empty()
            raise
        return self

    def __exit__(self, *exc) -> None:
        release(self.path / LOCK)
        self._remove_if_empty()

    def file(self, name: str) -> Path:
        """Path of the run file *name* (one of ``RUN_FILES``) in the folder."""
        return self.path / name

    def discard(self) -> None:
        """Delete every run file (a failed run leaves nothing half-done)."""
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)

    def _remove_if_empty(self) -> None:
        if self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()


def acquire(path: Path) -> None:
    """Create the lock file *path* for this process, taking over a stale one.

    Raises
    ------
    ScaleDetectError
        If a live process holds it.
    """
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner is not None and _alive(owner):
                raise ScaleDetectError(
                    f"{path.parent} is in use by another training run (pid {owner['pid']} on "
                    f"{owner['host']} holds {path}); wait for it to end or choose another "
                    "folder") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return
    raise ScaleDetectError(f"{path.parent}: could not take the lock {path} (another run keeps "
                           "taking it); choose another folder")


def release(path: Path) -> None:
    """Remove the lock file *path* if this process holds it."""
    owner = _owner(path)
    if owner is not None and owner.get("pid") == os.getpid() \
            and owner.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def _owner(path: Path) -> dict | None:
    """The lock's ``{"pid", "host"}``; a placeholder (held) while just created; None if stale."""
    try:
        text = path.read_text()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(text)
        if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
            return {"pid": owner["pid"], "host": str(owner.get("host"))}
    except json.JSONDecodeError:
        pass
    if age < _FRESH:  # being written by the process that just created it
        return {"pid": "?", "host": "?"}
    return None


def _alive(owner: dict) -> bool:
    """Whether the lock's process may still be running."""
    if owner["host"] != socket.gethostname() or not isinstance(owner["pid"], int):
        return True
    pid = owner["pid"]
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) holds nothing
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
