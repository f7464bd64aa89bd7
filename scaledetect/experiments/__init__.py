"""Experiments as data: runs, presets, a resumable cache and local/Dask runners."""

from .cache import Cache
from .config import KINDS, Run
from .presets import PRESETS, all_runs, preset
from .runner import EXECUTORS, execute, run_all

__all__ = ["EXECUTORS", "KINDS", "PRESETS", "Cache", "Run", "all_runs", "execute", "preset",
           "run_all"]
