"""Results cache: one ``<key>.json`` (and ``<key>.npz``) per finished run, written atomically.

A run is finished exactly when its JSON exists, so an interrupted sweep resumes by skipping those.
"""

import json
from pathlib import Path

import numpy as np

from ..io import load_npz, save_npz, write_json


class Cache:
    """A folder of finished runs keyed by ``Run.key``."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __contains__(self, key: str) -> bool:
        return (self.root / f"{key}.json").exists()

    def get(self, key: str) -> tuple[dict, dict[str, np.ndarray]]:
        """The stored JSON result and its arrays (empty dict if none)."""
        result = json.loads((self.root / f"{key}.json").read_text())
        npz = self.root / f"{key}.npz"
        return result, (load_npz(npz) if npz.exists() else {})

    def put(self, key: str, result: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
        """Store a result; the arrays first, so the JSON (the "finished" mark) comes last."""
        if arrays:
            save_npz(self.root / f"{key}.npz", **arrays)
        write_json(self.root / f"{key}.json", result)
