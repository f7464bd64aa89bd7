"""Results cache: one ``<key>.json`` (and ``<key>.npz``) per finished run, written atomically.

A run is finished exactly when its JSON exists, has the current record layout
(``records.SCHEMA``) *and* records the results version of the current code for its kind
(``RunKind.version``): results of older code are never reused, they are computed again (and
overwritten). An interrupted sweep resumes by skipping finished runs; an interrupted training
run resumes from its checkpoint in ``train/<key>-<version>/``.

A result whose JSON or ``.npz`` cannot be read (a truncated file, e.g. a disk that filled up
while a copy of the folder was made) counts as missing: it is computed again and listed in
``Cache.damaged`` so that the caller can say so. ``Cache.rerun`` marks results to compute again
without deleting them first: until a new result replaces it, the old one stays on disk.
"""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from ..io import load_npz, save_npz, write_json
from .config import Run
from .kinds import KINDS, kind_of
from .records import SCHEMA, RunResult


class Cache:
    """A folder of finished runs keyed by ``Run.key``."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        #: key -> what was wrong, for every result found unreadable (computed again)
        self.damaged: dict[str, str] = {}
        self._stale: set[str] = set()  # keys to compute again (``rerun``) until ``put``
        self._checked: dict[str, tuple] = {}  # key -> (mtime, size) of an .npz found readable

    def __contains__(self, key: str) -> bool:
        """True if *key* is cached, readable, with the record layout and code version of today,
        and not marked by ``rerun``.
        """
        path = self.root / f"{key}.json"
        if key in self._stale or not path.exists():
            return False
        try:
            result = json.loads(path.read_text())
        except ValueError as err:  # truncated or not JSON
            self.damaged[key] = f"{path.name}: {err}"
            return False
        try:
            kind = KINDS[result["run"]["kind"]]
            if result.get("schema") != SCHEMA or result.get("version") != kind.version():
                return False  # older code or layout: computed again, silently
        except (AttributeError, KeyError, TypeError):  # foreign: not a usable result
            return False
        return self._npz_readable(key)

    def _npz_readable(self, key: str) -> bool:
        """Whether the key's ``.npz`` (if any) is a complete zip archive whose members pass
        their CRC check; remembered per file modification time and size.
        """
        npz = self.root / f"{key}.npz"
        if not npz.exists():
            return True
        stat = npz.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._checked.get(key) == stamp:
            return True
        try:
            with zipfile.ZipFile(npz) as z:
                bad = z.testzip()
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            bad = str(err)
        if bad is not None:
            self.damaged[key] = f"{npz.name}: {bad}"
            return False
        self._checked[key] = stamp
        return True

    def rerun(self, keys) -> None:
        """Compute *keys* again: they count as missing until ``put`` stores their new results.

        Their stored results stay until replaced (an interrupted rerun loses nothing); their
        training checkpoints are removed, so that training starts over.
        """
        for key in keys:
            self._stale.add(key)
            for folder in (self.root / "train").glob(f"{key}-*"):
                shutil.rmtree(folder, ignore_errors=True)

    def get(self, key: str) -> RunResult:
        """The stored result of *key*, typed (``records.RunResult``)."""
        result = json.loads((self.root / f"{key}.json").read_text())
        npz = self.root / f"{key}.npz"
        run = Run.from_dict(result["run"])
        return RunResult.from_json(result, load_npz(npz) if npz.exists() else {}, run,
                                   kind_of(run).record)

    def put(self, key: str, result: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
        """Store a result (``RunResult.to_json()``); the arrays first, so the JSON (the
        "finished" mark) comes last.
        """
        if arrays:
            save_npz(self.root / f"{key}.npz", **arrays)
        write_json(self.root / f"{key}.json", result)
        self._stale.discard(key)
        self.damaged.pop(key, None)

    def drop(self, key: str) -> None:
        """Forget *key*: its result (the "finished" mark first), arrays and training folders."""
        for suffix in (".json", ".npz"):
            (self.root / f"{key}{suffix}").unlink(missing_ok=True)
        for folder in (self.root / "train").glob(f"{key}-*"):
            shutil.rmtree(folder, ignore_errors=True)

    def workdir(self, run) -> Path:
        """Folder for a run's intermediate files (training checkpoints), per code version."""
        return self.root / "train" / f"{run.key}-{kind_of(run).version()}"
