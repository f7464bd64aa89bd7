"""The one place where numba options are set; every kernel uses ``jit`` or ``ijit`` from here.

``cache=True`` so a second process compiles nothing; ``fastmath`` stays off (exactness first, no
benchmark has shown it to pay); ``nogil`` so that Python threads run kernels at once. The kernels
are serial: threads come from Python (``scaledetect.engine``, which also compiles cold kernels
in a child process meanwhile), never from ``prange`` (numba's parallel functions cost seconds
more of a first run's compiling).

``ijit`` (``inline="always"``) is for small helpers called from other kernels: numba inlines them
into the caller's IR instead of compiling each one on its own (its own LLVM module, optimized and
turned into machine code once for itself and again inside every caller that links it). Only the
first-run compile time changes (measured: a small ``scaledetect train`` 9.5 s -> 6.4 s of
compiling); the operations and their order, hence every number, stay the same. Helpers with
several call sites or large loop nests stay ``jit`` (inlining them would type and lower their IR
once per call site).
"""

import numba

OPTIONS = {"cache": True, "fastmath": False, "nogil": True}

jit = numba.njit(**OPTIONS)
ijit = numba.njit(inline="always", **OPTIONS)  # small helpers, see above
