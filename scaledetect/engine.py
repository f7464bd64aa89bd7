"""The engine's policy (threads, compiling aside, BLAS) and the machinery that follows it.

One frozen ``Engine`` holds every setting of how the numba kernels run, apart from the model:

- ``threads``: Python threads one call of the engine may use (``run_tasks``, ``run_parts``). The
  kernels are serial and release the GIL; threads come from Python, never from ``prange``. Results
  never depend on it (tested).
- ``compile_aside``: on a cold numba cache, whether a kernel may compile in a child process while
  this one compiles another (``compile_aside``).
- ``blas_single``: whether the kernels' BLAS (scipy's OpenBLAS, ``_kernels.blas``) is set to one
  thread before they run. A multi-threaded BLAS product stalls whenever another process takes a
  core (2 loaded cores: one SGD step of the 2D bench case 0.72 ms with 1 BLAS thread, 142 ms
  with 2); the count is set once and left at 1 (setting it back woke OpenBLAS's spinning threads).

An entry point installs one policy: ``with Engine(threads=1, compile_aside=False): ...`` for a
block (restored on exit, nestable), or ``Engine(...).install()`` for the rest of the process (a
worker process's initializer). A field left ``None`` keeps the enclosing policy's value; outside
every policy: numba's thread count of the calling thread (``numba.set_num_threads``, by default
``NUMBA_NUM_THREADS``, the cores), compiling aside on, BLAS single-threaded.

Threads. ``with`` policies belong to the thread that enters them (like numba's own thread count,
which is thread-local); a thread that entered none follows the installed policy. Threads the
engine starts to share out work (the tasks of ``run_tasks``, the probe batches of
``sensitivity.probe.map_batches``) run under ``worker_policy()``, the starting thread's policy
with ``threads=1``: the parallelism is spent on the workers, so work nested in them runs serially.
"""

import atexit
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import numba
import numpy as np

from ._kernels.blas import single_threaded
from .errors import require, require_int

__all__ = ["Engine", "compile_aside", "current", "notice_compile", "run_parts", "run_tasks",
           "set_blas", "threads", "wait_aside", "worker_policy"]


@dataclass(frozen=True)
class Engine:
    """How the numba engine runs; a context manager installing it (see the module's docstring).

    Attributes
    ----------
    threads : int >= 1 or None
        Python threads of one engine call (channel parts of an SGD step, chunks of a forward
        pass); at most ``numba.config.NUMBA_NUM_THREADS`` are used. None: the enclosing policy's,
        at the top numba's thread count of the calling thread.
    compile_aside : bool or None
        Whether a cold kernel may compile in a child process meanwhile (None: enclosing, at the
        top True). ``SCALEDETECT_COMPILE_ASIDE=0`` in the environment turns it off as well.
    blas_single : bool or None
        Whether the kernels set scipy's OpenBLAS to one thread before they run (None: enclosing,
        at the top True). False leaves its count alone (``_kernels.blas.blas_threads``).

    Examples
    --------
    >>> with Engine(threads=1):
    ...     current().threads
    1
    """

    threads: int | None = None
    compile_aside: bool | None = None
    blas_single: bool | None = None

    def __post_init__(self):
        if self.threads is not None:
            require_int("threads", self.threads, 1)
        for name in ("compile_aside", "blas_single"):
            value = getattr(self, name)
            require(value is None or isinstance(value, bool), name, "be True, False or None",
                    value)

    def over(self, outer: "Engine") -> "Engine":
        """The policy with its ``None`` fields taken from *outer*."""
        if None not in (self.threads, self.compile_aside, self.blas_single):
            return self
        return Engine(threads=_pick(self.threads, outer.threads),
                      compile_aside=_pick(self.compile_aside, outer.compile_aside),
                      blas_single=_pick(self.blas_single, outer.blas_single))

    def __enter__(self) -> "Engine":
        """Put the policy in force on the calling thread (over the one in force); return
        ``current()``.
        """
        _stack().append(self.over(_in_force()))
        return current()

    def __exit__(self, *exc) -> bool:
        _stack().pop()
        return False

    def install(self) -> "Engine":
        """Make this policy (``None`` fields: the defaults) the process's outside every ``with``,
        for good; return the one it replaces (``previous.install()`` puts it back).
        """
        global _installed
        previous, _installed = _installed, self.over(_TOP)
        return previous


def _pick(value, default):
    return default if value is None else value


_TOP = Engine(threads=None, compile_aside=True, blas_single=True)
_installed = _TOP


class _Local(threading.local):
    """Per thread: the stack of policies entered with ``with`` (made on a thread's first use)."""

    def __init__(self):
        self.stack: list[Engine] = []


_local = _Local()


def _stack() -> list:
    return _local.stack


def _in_force() -> Engine:
    """The calling thread's innermost ``with`` policy, else the installed one (``threads`` may
    be None).
    """
    stack = _local.stack
    return stack[-1] if stack else _installed


def current() -> Engine:
    """The policy in force on the calling thread, every field set (``threads``: see ``threads``)."""
    policy = _in_force()
    t = threads()
    return policy if policy.threads == t else _with_threads(policy, t)


_variants: dict = {}  # (policy, threads) -> the policy with that many threads: a few at most


def _with_threads(policy: Engine, t: int) -> Engine:
    key = (policy, t)
    variant = _variants.get(key)
    if variant is None:
        variant = _variants[key] = replace(policy, threads=t)
    return variant


def threads() -> int:
    """Threads an engine call on the calling thread may use: the policy's, else numba's count,
    at most ``NUMBA_NUM_THREADS``.
    """
    t = _in_force().threads
    if t is None:
        return numba.get_num_threads()
    return min(t, numba.config.NUMBA_NUM_THREADS)


def worker_policy() -> Engine:
    """The policy of a thread started to share out this thread's work: ``current()`` with one
    thread (enter it in the worker: ``with policy: ...``).
    """
    return _with_threads(_in_force(), 1)


def set_blas() -> None:
    """Before the kernels run: scipy's OpenBLAS to one thread if the policy says so (cheap)."""
    if _in_force().blas_single:
        single_threaded()


# --------------------------------------------------------------------------- threads
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def run_tasks(tasks: list) -> None:
    """Call every callable of *tasks* (independent of each other) on ``threads()`` threads: task
    j on thread ``j mod T``, the calling thread being thread 0.

    Each task must release the GIL for the threads to overlap (numba ``nogil`` kernels do); the
    tasks run under ``worker_policy()`` (work nested in them runs serially). With one thread, or
    one task, they run in order on the calling thread, under its policy. An exception of any task
    is raised after all have ended.
    """
    t = min(len(tasks), threads())
    if t <= 1:
        for task in tasks:
            task()
        return
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < t - 1:
            _pool = ThreadPoolExecutor(max(t - 1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="scaledetect-engine")
        pool = _pool
    policy = worker_policy()
    groups = [tasks[j::t] for j in range(t)]
    futures = [pool.submit(_run_all, policy, g) for g in groups[1:]]
    try:
        _run_all(policy, groups[0])
    finally:
        for f in futures:
            f.exception()  # wait for every thread before raising
    for f in futures:
        f.result()


def _run_all(policy: Engine, tasks: list) -> None:
    with policy:
        for task in tasks:
            task()


_NO_SYNC = np.zeros(2, np.int64)  # one thread never waits on it


def run_parts(kernel, parts: int) -> None:
    """Run a network kernel's *parts* (``kernel(parts, first, stop, sync)``): each on its own
    thread if ``threads() >= parts`` (the calls meet at the kernel's barriers on *sync*, compiled
    code only), else all in one call on this thread. The same numbers either way.
    """
    if parts > 1 and not numba.config.DISABLE_JIT and threads() >= parts:
        sync = np.zeros(2, np.int64)
        run_tasks([partial(kernel, parts, t, t + 1, sync) for t in range(parts)])
    else:
        kernel(parts, 0, parts, _NO_SYNC)


# --------------------------------------------------------------------------- compiling
_told = False
_checked: set = set()
_aside: set = set()
_children: dict = {}  # (dispatcher, dtype) -> the child compiling it, until waited for


def _cached(dispatcher, dtype) -> bool:
    """Whether *dispatcher* has, in memory or in numba's on-disk cache, a version for *dtype*.

    Reads numba's cache index (private API: any surprise counts as cached, so that no notice is
    printed by mistake).
    """
    if dispatcher.overloads:
        return any(f"({dtype}," in str(sig) for sig in dispatcher.overloads)
    try:
        index = dispatcher._cache._cache_file._load_index()
        return any(f"({dtype}," in str(key[0]) for key in index)
    except Exception:  # noqa: BLE001 - numba internals changed: say nothing
        return True


def notice_compile(dispatcher, dtype) -> None:
    """Print once per process on stderr that kernels are compiling, if *dispatcher* will compile.

    A cold first run (fresh install, new numba or edited kernels) compiles the kernels it uses
    for a few seconds; every later process loads them from numba's cache.
    """
    global _told
    if _told or not hasattr(dispatcher, "overloads"):  # told, or NUMBA_DISABLE_JIT: no compiling
        return
    key = (dispatcher, dtype)  # a set lookup: called twice per SGD step
    if key in _checked:
        return
    _checked.add(key)
    if _cached(dispatcher, dtype):
        return
    _told = True
    print("compiling kernels, first run only", file=sys.stderr, flush=True)


def compile_aside(dispatcher, dtype, code: str) -> None:
    """On a cold cache, compile *dispatcher* for *dtype* in a child process meanwhile.

    The child runs the Python *code* (``{dtype}`` replaced by the dtype's name; it must call
    *dispatcher* with the argument types this process will use) and leaves the compiled kernel in
    numba's on-disk cache; this process compiles other kernels in the meantime and calls
    ``wait_aside`` before its first call of *dispatcher*, which then loads the kernel from the
    cache. Numba compiles one function at a time per process, so on a cold first run two kernels
    compile at once on two cores. Nothing happens on a warm cache, with one core, under
    ``NUMBA_DISABLE_JIT``, if already asked in this process, when the policy says
    ``compile_aside=False`` or with ``SCALEDETECT_COMPILE_ASIDE=0`` (set in the child).
    """
    dtype = np.dtype(dtype)
    key = (dispatcher, dtype)
    if (key in _aside or not hasattr(dispatcher, "overloads") or (os.cpu_count() or 1) < 2
            or not _in_force().compile_aside
            or os.environ.get("SCALEDETECT_COMPILE_ASIDE") == "0"):
        return
    _aside.add(key)
    if _cached(dispatcher, dtype):
        return
    try:
        child = subprocess.Popen([sys.executable, "-c", code.format(dtype=dtype.name)],
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=dict(os.environ, SCALEDETECT_COMPILE_ASIDE="0"))
    except OSError:
        return
    if not _children:
        atexit.register(_wait_all)  # a run that fails early leaves no orphan behind
    _children[key] = child


def wait_aside(dispatcher, dtype) -> None:
    """Wait for the child compiling *dispatcher* for *dtype*, if there is one."""
    if _children:
        child = _children.pop((dispatcher, np.dtype(dtype)), None)
        if child is not None:
            child.wait()


def _wait_all() -> None:
    while _children:
        _children.popitem()[1].wait()
