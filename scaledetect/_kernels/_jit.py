"""The one place where numba options are set; every kernel uses ``jit`` or ``ijit`` from here.

``cache=True`` so a second process compiles nothing; ``fastmath`` stays off (exactness first, no
benchmark has shown it to pay); ``nogil`` so that Python threads run kernels at once. The kernels
are serial: threads come from Python (``nn/model.py``), never from ``prange`` (numba's parallel
functions cost seconds more of a first run's compiling).

``ijit`` (``inline="always"``) is for small helpers called from other kernels: numba inlines them
into the caller's IR instead of compiling each one on its own (its own LLVM module, optimized and
turned into machine code once for itself and again inside every caller that links it). Only the
first-run compile time changes (measured: a small ``scaledetect train`` 9.5 s -> 6.4 s of
compiling); the operations and their order, hence every number, stay the same. Helpers with
several call sites or large loop nests stay ``jit`` (inlining them would type and lower their IR
once per call site).
"""

import atexit
import os
import subprocess
import sys

import numba
from numpy import dtype as np_dtype

OPTIONS = {"cache": True, "fastmath": False, "nogil": True}

jit = numba.njit(**OPTIONS)
ijit = numba.njit(inline="always", **OPTIONS)  # small helpers, see above

_told = False
_checked: set = set()


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


_aside: set = set()
_children: dict = {}  # (dispatcher, dtype) -> the child compiling it, until waited for


def compile_aside(dispatcher, dtype, code: str) -> None:
    """On a cold cache, compile *dispatcher* for *dtype* in a child process meanwhile.

    The child runs the Python *code* (``{dtype}`` replaced by the dtype's name; it must call
    *dispatcher* with the argument types this process will use) and leaves the compiled kernel in
    numba's on-disk cache; this process compiles other kernels in the meantime and calls
    ``wait_aside`` before its first call of *dispatcher*, which then loads the kernel from the
    cache. Numba compiles one function at a time per process, so on a cold first run two kernels
    compile at once on two cores. Nothing happens on a warm cache, with one core, under
    ``NUMBA_DISABLE_JIT``, if already asked in this process, or with
    ``SCALEDETECT_COMPILE_ASIDE=0``.
    """
    dtype = np_dtype(dtype)
    key = (dispatcher, dtype)
    if (key in _aside or not hasattr(dispatcher, "overloads") or (os.cpu_count() or 1) < 2
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
        child = _children.pop((dispatcher, np_dtype(dtype)), None)
        if child is not None:
            child.wait()


def _wait_all() -> None:
    while _children:
        _children.popitem()[1].wait()
