"""Results cache: one ``<key>.json`` (and ``<key>.npz``) per finished run, written atomically.

A run is finished exactly when its JSON exists, has the current record layout
(``records.SCHEMA``) *and* records the results version of the current code for its kind
(``RunKind.version``): results of older code are never reused, they are computed again (and
overwritten). An interrupted sweep resumes by skipping finished runs; an interrupted training
run resumes from its checkpoint in ``train/<key>-<version>/``.
"""

import json
import shutil
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

    def __contains__(self, key: str) -> bool:
        """True if *key* is cached with the record layout and code version of today."""
        path = self.root / f"{key}.json"
        if not path.exists():
            return False
        try:
            result = json.loads(path.read_text())
            kind = KINDS[result["run"]["kind"]]
            return result.get("schema") == SCHEMA and result.get("version") == kind.version()
        except (ValueError, KeyError, TypeError):  # unreadable or foreign: not a usable result
            return False

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

    def drop(self, key: str) -> None:
        """Forget *key*: its result (the "finished" mark first), arrays and training folders."""
        for suffix in (".json", ".npz"):
            (self.root / f"{key}{suffix}").unlink(missing_ok=True)
        for folder in (self.root / "train").glob(f"{key}-*"):
            shutil.rmtree(folder, ignore_errors=True)

    def workdir(self, run) -> Path:
        """Folder for a run's intermediate files (training checkpoints), per code version."""
        return self.root / "train" / f"{run.key}-{kind_of(run).version()}"
