"""The BLAS that the engine's kernels call, and its thread count.

The layers form their products with scipy's BLAS (OpenBLAS in scipy's wheels,
``scipy.libs/libscipy_openblas*``), single-threaded: the engine's threads come from splitting the
layers (``scaledetect.engine``, whose policy calls ``single_threaded``), and on a shared machine
a multi-threaded OpenBLAS product stalls whenever another process takes a core (measured on 2
loaded cores: a 256 x 512 x 256 sgemm at a median 1.4 GFLOP/s with 2 threads, 90 with 1; one SGD
step of the 2D bench case 0.7 ms with 1 thread, 142 ms with 2). OpenBLAS's gemm splits only the
output among its threads, so the thread count changes no bit (tested). Where the library is not
found (other BLAS builds, other systems) setting the count is a no-op.

``single_threaded()`` sets scipy's OpenBLAS to one thread for the rest of the process, once:
setting it back after every kernel call (as ``blas_threads`` does on exit) woke OpenBLAS's own
worker threads each time, whose spin-waiting then took a core from the engine's second thread
(1D width 256, batch 8, two threads: 3.1 ms a step, 6.5 ms in about one block of steps in four;
never once in 20 blocks with the count left at 1). ``scipy.linalg`` in the same process then runs
on one thread too; ``with blas_threads(n):`` gives it n for a while.

``sgemm`` and ``dgemm`` are that BLAS's gemm for the kernels to call directly (``conv._gemm``):
one call site for every layout and both dtypes, a scale in ``alpha``, row and column blocks of
C-contiguous arrays passed uncopied by their leading dimension. They are numba external functions
bound by symbol name (so the kernels that call them can be cached on disk), plain ctypes functions
under ``NUMBA_DISABLE_JIT``. All 13 Fortran arguments are pointers.
"""

import ctypes
import os

import numba
from numba.extending import get_cython_function_address


def _gemm_function(name: str):
    address = get_cython_function_address("scipy.linalg.cython_blas", name)
    if numba.config.DISABLE_JIT:
        return ctypes.CFUNCTYPE(None, *(ctypes.c_void_p,) * 13)(address)
    import llvmlite.binding as llvm

    symbol = "scaledetect_" + name
    llvm.add_symbol(symbol, address)
    return numba.types.ExternalFunction(symbol, numba.types.void(*(numba.types.voidptr,) * 13))


sgemm = _gemm_function("sgemm")
dgemm = _gemm_function("dgemm")

_funcs: tuple | None | bool = False


def _find() -> tuple | None:
    """``(get, set)`` of the thread count of the OpenBLAS that the kernels call, or None."""
    import scipy.linalg.cython_blas  # noqa: F401 - the library behind sgemm/dgemm

    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split(None, 5)[-1].strip() for line in fh if "openblas" in line}
    except OSError:
        return None
    for path in sorted(p for p in paths if os.sep + "scipy" in p and os.path.isfile(p)):
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            get = getattr(lib, prefix + "_get_num_threads", None)
            put = getattr(lib, prefix + "_set_num_threads", None)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                put.argtypes = [ctypes.c_int]
                return get, put
    return None


def blas_threads_api() -> tuple | None:
    """The ``(get, set)`` ctypes functions, found once; None where there is nothing to set."""
    global _funcs
    if _funcs is False:
        try:
            _funcs = _find()
        except (OSError, ImportError):
            _funcs = None
    return _funcs


def single_threaded() -> None:
    """Set scipy's OpenBLAS to one thread from now on (see the module's docstring); cheap."""
    api = blas_threads_api()
    if api is not None and api[0]() != 1:
        api[1](1)


class blas_threads:  # noqa: N801 - used as a function: ``with blas_threads(n):``
    """Context manager: scipy's OpenBLAS runs on *n* threads inside, as before outside."""

    __slots__ = ("_n", "_old")

    def __init__(self, n: int):
        self._n = n

    def __enter__(self):
        api = blas_threads_api()
        self._old = api[0]() if api is not None else self._n
        if self._old != self._n:
            api[1](self._n)
        return self

    def __exit__(self, *exc):
        if self._old != self._n:
            blas_threads_api()[1](self._old)
        return False
