"""Results versions: a hash of the source code a run kind depends on.

A cached result is reused only if it was produced by the same configuration (``Run.key``) *and*
the same code: ``results_version(kind)`` hashes the source of every scaledetect module reachable
through imports from the modules that compute that kind of run (plus the runner itself). Editing
any of them (a kernel, the task sampler, the theory) changes the version, and ``reproduce`` then
runs the affected runs again instead of silently reusing numbers of older code. Changes to
modules a kind does not import (the figures, the report, the CLI) leave its results valid.
"""

import ast
import functools
import hashlib
from pathlib import Path

from ..errors import require_choice
from .config import KINDS

_PACKAGE = Path(__file__).resolve().parents[1]  # .../scaledetect
_RUNNER = ("scaledetect.experiments.runner", "scaledetect.experiments.config")
_MEASURE = ("scaledetect.sensitivity", "scaledetect.nn.model", "scaledetect.nn.pooling",
            "scaledetect.nn.filters", "scaledetect.diagnostics")
#: The modules that compute each kind of run; their imports are followed.
ROOTS = {
    "theory": ("scaledetect.theory",),
    "nngp": ("scaledetect.theory",),
    "pooling": _MEASURE,
    "init": _MEASURE,
    "train": (*_MEASURE, "scaledetect.nn.train"),
    "deep": (*_MEASURE, "scaledetect.experiments.deep", "scaledetect.deep"),
}


@functools.cache
def results_version(kind: str) -> str:
    """Hex SHA-256 (first 12 digits) of the sources *kind* depends on (see the module doc).

    Parameters
    ----------
    kind : str
        One of ``experiments.KINDS``.

    Examples
    --------
    >>> len(results_version("theory"))
    12
    """
    require_choice("kind", kind, KINDS)
    h = hashlib.sha256()
    for path in sorted(source_files(kind)):
        h.update(str(path.relative_to(_PACKAGE.parent)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def source_files(kind: str) -> set[Path]:
    """The source files of every scaledetect module imported, transitively, by *kind*'s roots.

    The runner and run description (``experiments/runner.py``, ``config.py``) are always
    included but their lazy imports are not followed (they import every kind's code).
    """
    require_choice("kind", kind, KINDS)
    seen: set[Path] = {_file(m) for m in _RUNNER}
    todo = [_file(m) for m in ROOTS[kind]]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [p for p in _imports(path) if p not in seen]
    return seen


def _file(module: str) -> Path:
    """``scaledetect.a.b`` -> ``.../scaledetect/a/b.py`` or ``.../a/b/__init__.py``."""
    base = _PACKAGE.parent.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports(path: Path) -> list[Path]:
    """Files of the scaledetect modules *path* imports (anywhere in it, lazy imports included)."""
    package = ".".join(path.relative_to(_PACKAGE.parent).parent.parts)  # the containing package
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            # `from pkg import sub` needs only pkg/sub.py; `from mod import name` needs mod
            names = [f"{module}.{a.name}" if _exists(f"{module}.{a.name}") else module
                     for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [_file(n) for n in names if n.split(".")[0] == "scaledetect" and _exists(n)]
    return found


def _exists(module: str) -> bool:
    base = _PACKAGE.parent.joinpath(*module.split("."))
    return (base / "__init__.py").exists() or base.with_suffix(".py").exists()
