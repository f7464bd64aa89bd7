"""The one place where numba options are set; every kernel uses ``jit`` or ``pjit`` from here.

``cache=True`` so a second process compiles nothing; ``fastmath`` stays off (exactness first, no
benchmark has shown it to pay). The engine's kernels are serial (BLAS supplies their threads);
``pjit`` is for kernels with a ``prange`` over independent work only, so 1 thread and N threads
give identical results.
"""

import numba

OPTIONS = {"cache": True, "fastmath": False, "nogil": True}

jit = numba.njit(**OPTIONS)
pjit = numba.njit(parallel=True, **OPTIONS)
