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

import os
import subprocess
import sys

import numba

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


def compile_aside(dispatcher, dtype, code: str) -> subprocess.Popen | None:
    """On a cold cache, compile *dispatcher* for *dtype* in a child process meanwhile.

    The child runs the Python *code* (which must call *dispatcher* with the arguments this process
    will use) and leaves the compiled kernel in numba's on-disk cache; the caller compiles other
    kernels in the meantime, waits for the child, then calls *dispatcher*, which loads the
    kernel from the cache. Numba compiles one function at a time per process, so on a cold first
    run this halves the wait on two cores (measured: ``train`` 6.8 -> ~4 s of compiling). Returns
    the child, or None: warm cache, no second core, ``NUMBA_DISABLE_JIT``, already asked in this
    process, or ``SCALEDETECT_COMPILE_ASIDE=0``.
    """
    key = (dispatcher, dtype)
    if (key in _aside or not hasattr(dispatcher, "overloads") or (os.cpu_count() or 1) < 2
            or os.environ.get("SCALEDETECT_COMPILE_ASIDE") == "0"):
        return None
    _aside.add(key)
    if _cached(dispatcher, dtype):
        return None
    try:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, SCALEDETECT_COMPILE_ASIDE="0"))
    except OSError:
        return None
