"""Atomic writes (results appear complete or not at all) and the one JSON encoder.

Every file is written to a temporary file next to its target, then renamed onto it. Every JSON
text the package writes or prints goes through ``dumps_json``: standard JSON only, non-finite
numbers (NaN, inf) become ``null``, never the non-standard ``NaN``/``Infinity``.
"""

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import ScaleDetectError, require_path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path next to *path*; rename it onto *path* only if the block succeeds.

    Raises
    ------
    ScaleDetectError
        Before anything is written, if *path* is an existing folder or its parent is a file.
    """
    require_path("path", path)
    path = Path(path)
    if path.is_dir():
        raise ScaleDetectError(f"{path} is a folder; a file name is needed here (e.g. "
                               f"{path / ('out' + suffix)})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ScaleDetectError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to ``path`` (``.npz``, uncompressed, no pickle) atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file; object arrays (pickles) are refused."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write *obj* as indented JSON (``dumps_json``) atomically."""
    text = dumps_json(obj, indent=2)  # encoded first: an unencodable object writes nothing
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(text + "\n")


def dumps_json(obj: object, **kwargs) -> str:
    """Standard JSON text of *obj*: NaN and inf become ``null``, numpy scalars and arrays plain
    numbers and lists, paths strings; ``allow_nan=False`` guards the result.

    *kwargs* go to ``json.dumps`` (``indent``, ``sort_keys``, ...).

    Raises
    ------
    TypeError
        For an object JSON cannot hold (named in the message).
    """
    return json.dumps(_plain(obj), allow_nan=False, **kwargs)


def _plain(x: object) -> object:
    """*x* with non-finite floats replaced by None, containers and numpy values made plain."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {(k.item() if isinstance(k, np.generic) else k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return _plain(x.item())
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if x is None or isinstance(x, str | int | bool):
        return x
    raise TypeError(f"cannot write {type(x).__name__} as JSON")
