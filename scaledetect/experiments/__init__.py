"""Experiments as data: runs, the run-kind registry, typed results, a resumable cache, runners.

Which runs make which figure is the studies' business (``scaledetect.studies``).
"""

from .cache import Cache
from .config import Run
from .kinds import KINDS, RunKind, kind_of, register
from .records import RunResult
from .runner import EXECUTORS, execute, run_all

__all__ = ["EXECUTORS", "KINDS", "Cache", "Run", "RunKind", "RunResult", "execute", "kind_of",
           "register", "run_all"]
