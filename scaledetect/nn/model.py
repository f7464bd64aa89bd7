"""``CNN``: circular strided convolutions, global average pooling and a linear readout (numba).

The model holds its parameters as plain numpy arrays (``params``), all views into one flat vector
``theta``; a forward pass and a backward pass are each one call of a numba kernel running every
layer (``scaledetect._kernels.conv``), with buffers preallocated per batch size. The layers'
products run on BLAS, single-threaded: on a shared machine a multi-threaded BLAS product stalls
whenever another process takes a core (measured on 2 loaded cores: one SGD step of the 2D bench
case 0.72 ms with 1 BLAS thread, 142 ms with 2). ``sgd_step`` takes a plain SGD step inside the
backward pass: each weight matrix is updated by the gemm that forms its gradient, which is never
stored (1D width 256, batch 8, one thread: 6.2 vs 6.6 ms a step with the gradient formed, then
``theta -= lr g``; the training loop uses it unless momentum or L1 decay need the gradient).

Threads. ``value_and_grad`` (and ``sgd_step``) of a large enough batch whose weights outweigh its
im2col matrices (``PARTS_MIN_MACS``, ``PARTS_MIN_WEIGHTS``) splits every layer's channels into
``PARTS`` blocks (``CNN.parts``, a function of the net and the batch size alone, never of the
thread count): with ``numba.get_num_threads()`` >= ``PARTS`` the blocks of a layer run at once on
as many Python threads (the kernels release the GIL and meet at a barrier after every layer), else
one after the other, the same gemm calls on the same numbers either way, so results are
bit-identical for every thread count (see ``scaledetect._kernels.conv``).
``forward`` runs its ``FORWARD_CHUNK``-sample chunks on Python threads (each chunk's numbers do
not depend on where it runs). Parallel runs of many nets use processes (``reproduce --workers``,
one thread each) instead.
"""

import itertools
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numba
import numpy as np

from .._kernels._jit import compile_aside, notice_compile, wait_aside
from .._kernels.blas import single_threaded
from .._kernels.conv import (
    ACT_CODES,
    G_OUTOFF,
    N_GEO,
    _net_backward,
    _net_forward,
    _readout_backward,
    _sample_major,
)
from .._random import as_rng
from ..errors import (
    ScaleDetectError,
    real_array,
    require,
    require_bool,
    require_instance,
    require_real,
)
from .spec import NetSpec

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# buffers kept between calls (per model): at most 4 batch shapes and this many bytes (the most
# recent one is always kept, so repeated passes over a large probe set do not reallocate)
CACHE_MAX_BYTES = 1 << 28
# forward() runs the network on chunks of at most this many samples: the layers' products and
# im2col buffers then stay in cache (1D width 64, float32, one core: 43 GFLOP/s on 96 samples,
# 33 on 768; sensitivities with P = 4096 probes 0.59 s with chunks of 64, 0.70 unchunked)
FORWARD_CHUNK = 64
# value_and_grad splits every layer's channels in PARTS blocks (rows of the weights) when the
# batch's forward pass has at least PARTS_MIN_MACS multiply-adds and the weights have at least
# PARTS_MIN_WEIGHTS times as many entries as the im2col matrices (see CNN.parts). Each block's
# gemm packs the whole im2col matrix again, so splitting pays only where the weights dominate.
# Measured on one thread, SGD steps split / whole: batch 8, 1D width 256 (weights 3.0x the
# im2col entries) +2-5%, width 64 (0.8x) +7%, 2D width 32 +14%; batch 128: +5% to +24%. On two
# threads batch 8, width 256: 3.1 vs 5.4 ms; width 64: 0.49 vs 0.44 ms (the Python threads'
# hand-off, ~80 us a step, costs more than half the products save below ~16M multiply-adds)
PARTS = 2
PARTS_MIN_MACS = 1 << 24
PARTS_MIN_WEIGHTS = 1.0
# PoolingNet: output entries per chunk of images of a layer (float64: 1 MB, stays in cache
# between the window sums, the scaling and the activation)
_POOL_CHUNK = 1 << 17


def param_shapes(spec: NetSpec) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter of a CNN described by *spec*, in storage order."""
    shapes = {}
    cin = 1
    for k in range(1, spec.depth + 1):
        shapes[f"conv{k}.weight"] = (spec.width, cin) + (spec.filter,) * spec.dim
        if spec.bias:
            shapes[f"conv{k}.bias"] = (spec.width,)
        cin = spec.width
    shapes["readout.weight"] = (spec.width,)
    shapes["readout.bias"] = (1,)
    return shapes


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def run_tasks(tasks: list) -> None:
    """Call every callable of *tasks* (independent of each other) on ``numba.get_num_threads()``
    threads: task j on thread ``j mod T``, the calling thread being thread 0.

    Each task must release the GIL for the threads to overlap (numba ``nogil`` kernels do). With
    one thread, or one task, the tasks run in order on the calling thread. An exception of any
    task is raised after all have ended.
    """
    threads = min(len(tasks), numba.get_num_threads())
    if threads <= 1:
        for task in tasks:
            task()
        return
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < threads - 1:
            _pool = ThreadPoolExecutor(max(threads - 1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="scaledetect-engine")
        pool = _pool
    groups = [tasks[j::threads] for j in range(threads)]
    futures = [pool.submit(_run_all, g) for g in groups[1:]]
    try:
        _run_all(groups[0])
    finally:
        for f in futures:
            f.exception()  # wait for every thread before raising
    for f in futures:
        f.result()


def _run_all(tasks: list) -> None:
    for task in tasks:
        task()


def _run_parts(kernel, parts: int) -> None:
    """Run a network kernel's *parts*: each on its own thread if numba has that many (the calls
    meet at the kernel's barriers, compiled code only), else all in one call on this thread.
    """
    if parts > 1 and numba.get_num_threads() >= parts and not numba.config.DISABLE_JIT:
        sync = np.zeros(2, np.int64)
        run_tasks([partial(kernel, parts, t, t + 1, sync) for t in range(parts)])
    else:
        kernel(parts, 0, parts, _NO_SYNC)


_NO_SYNC = np.zeros(2, np.int64)  # one thread never waits on it


def compile_backward_aside(dtype) -> None:
    """On a cold cache, start compiling the backward kernel for *dtype* in a child process (see
    ``compile_aside``); the first ``value_and_grad`` waits for it. Training calls this first
    thing, so the kernel compiles while this process draws data and compiles the forward pass
    (measured, cold ``train``: 6.8-7.0 -> 4.5 s of compiling on 2 cores).
    """
    compile_aside(_net_backward, dtype, _WARM_BACKWARD)


# a child process's compiling of the backward kernel (compile_aside): the same argument types as
# CNN._backward_kernel, on a tiny net (the kernel's types do not depend on the net's sizes)
_WARM_BACKWARD = """
import numpy as np
from scaledetect.nn.model import init_cnn
from scaledetect.nn.spec import NetSpec
m = init_cnn(NetSpec(dim=1, size=4, depth=1, filter=2, stride=2, width=2), 0, dtype=np.{dtype})
m._backward_kernel(m._workspace(1), np.zeros_like(m.theta))
"""


class _Workspace:
    """Buffers and layer table of one batch size n (see ``scaledetect._kernels.conv``).

    ``train=False`` (forward only, one part per layer) keeps one im2col buffer for all layers
    instead of one per layer (the backward pass needs them all).
    """

    def __init__(self, spec: NetSpec, offsets: dict, n: int, dtype: np.dtype, train: bool = True):
        d, f, s = spec.dim, spec.filter, spec.stride
        sizes = spec.sizes
        fh, sh = (f, s) if d == 2 else (1, 1)
        geo = np.zeros((spec.depth, N_GEO), dtype=np.int64)
        a_off = c_off = 0
        cols = reps = 0
        for k in range(1, spec.depth + 1):
            cin = 1 if k == 1 else spec.width
            nin, nout = sizes[k - 1], sizes[k]
            hin, hout = (nin, nout) if d == 2 else (1, 1)
            qout = n * hout * nout
            kk = cin * fh * f
            in_off = -1 if k == 1 else geo[k - 2, G_OUTOFF]
            size_out = spec.width * qout
            geo[k - 1] = (cin, spec.width, hin, nin, hout, nout, fh, f, sh, s,
                          offsets[f"conv{k}.weight"][0],
                          offsets[f"conv{k}.bias"][0] if spec.bias else -1,
                          in_off, a_off, c_off)
            a_off += size_out
            c_off += kk * qout if train else 0
            cols = max(cols, kk * qout)
            reps = max(reps, size_out, cin * n * hin * nin)
        self.n = n
        self.geo = geo
        self.acts = np.empty(a_off, dtype)
        self.cols = np.empty(c_off if train else cols, dtype)
        self.pooled = np.empty((n, spec.width), dtype)
        self.out = np.empty(n, dtype)
        self._bwd_sizes = (cols, reps)
        self._bwd = None

    @property
    def nbytes(self) -> int:
        """Bytes held (forward buffers, and backward ones once allocated)."""
        extra = sum(a.nbytes for a in self._bwd) if self._bwd is not None else 0
        return self.acts.nbytes + self.cols.nbytes + extra

    def backward_buffers(self):
        """``(dcols, ga, gb, gc)``, allocated on first use."""
        if self._bwd is None:
            cols, reps = self._bwd_sizes
            dt = self.acts.dtype
            self._bwd = (np.empty(cols, dt),) + tuple(np.empty(reps, dt) for _ in range(3))
        return self._bwd


class CNN:
    """A CNN: ``spec.depth`` circular strided convolutions, global average pooling, linear readout.

    Parameters
    ----------
    spec : NetSpec
        Architecture.
    params : dict of str -> array_like
        Every parameter of ``param_shapes(spec)`` with exactly that shape (copied).
    dtype : numpy dtype, optional
        float32 or float64; default the dtype of ``params["readout.weight"]`` if floating,
        else float32.

    Attributes
    ----------
    spec : NetSpec
    params : dict of str -> ndarray
        ``conv{k}.weight`` (C_out, C_in, F[, F]), ``conv{k}.bias`` (C_out,) if ``spec.bias``,
        ``readout.weight`` (C,), ``readout.bias`` (1,). Stored weights are raw; update them in
        place (``params[k] -= lr * g``) or assign arrays of the same shape.
    theta : ndarray (n_params,)
        Every parameter, flat; ``params`` values are views into it.
    dtype : numpy.dtype

    Notes
    -----
    Layer k = 1..K (NTK-style parametrization, as the authors' code)::

        f_k = gain * phi(conv(f_{k-1}, W_k) / sqrt(C_{k-1} F^dim) + b_k),   f_0 = x

    with circular padding aligned at 0 (unit u sees inputs s u .. s u + F - 1 mod N_{k-1} along
    every axis). The output is ``alpha * (b + c * beta . g)``, g the average of f_K over positions
    (shape (n, C)), c = 1/sqrt(C) (``param="ntk"``) or 1/C (``"mf"``).

    The buffers are per model and per batch size: a model is not safe to use from several threads
    at once (``copy()`` gives each thread its own).
    """

    def __init__(self, spec: NetSpec, params: dict, dtype=None):
        if not isinstance(spec, NetSpec):
            raise ScaleDetectError(f"spec must be a NetSpec; got spec={spec!r}")
        shapes = param_shapes(spec)
        require(isinstance(params, dict), "params", "be a dict of arrays", type(params).__name__)
        missing = [k for k in shapes if k not in params]
        extra = [k for k in params if k not in shapes]
        require(not missing and not extra, "params", "have exactly the keys " + ", ".join(shapes),
                sorted(params), f"missing {missing}, unexpected {extra}")
        if dtype is None:
            dt = np.asarray(params["readout.weight"]).dtype
            dtype = dt if dt in DTYPES else np.float32
        dtype = _dtype(dtype)
        self.spec = spec
        self.dtype = dtype
        self._offsets = {}
        o = 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            self._offsets[name] = (o, shape)
            o += size
        self.theta = np.empty(o, dtype)
        self._views = {name: self.theta[a:a + int(np.prod(sh))].reshape(sh)
                       for name, (a, sh) in self._offsets.items()}
        for name, shape in shapes.items():
            a = real_array(f"params[{name!r}]", params[name], finite=False)
            require(a.shape == shape, f"params[{name!r}].shape", f"be {shape}", a.shape)
            _assign_finite(self._views[name], a, f"params[{name!r}]")
        self.params = dict(self._views)
        self._act = ACT_CODES[spec.act]
        c = spec.width
        self._fgeo = np.empty((spec.depth, 2), dtype)
        for k in range(1, spec.depth + 1):
            cin = 1 if k == 1 else c
            self._fgeo[k - 1] = (1.0 / np.sqrt(cin * spec.filter ** spec.dim), spec.gain)
        cro = 1.0 / np.sqrt(c) if spec.param == "ntk" else 1.0 / c
        self._ro = np.array([spec.alpha, cro, 1.0 / spec.sizes[-1] ** spec.dim], dtype)
        self._ro_off = np.array([self._offsets["readout.weight"][0],
                                 self._offsets["readout.bias"][0]], np.int64)
        self._cache: OrderedDict[tuple, _Workspace] = OrderedDict()
        sizes = spec.sizes
        rows = [(1 if k == 1 else c) * spec.filter ** spec.dim for k in range(1, spec.depth + 1)]
        self._weights = sum(c * r for r in rows)  # weight entries (readout aside)
        self._cols = sum(r * sizes[k] ** spec.dim for k, r in enumerate(rows, 1))  # per sample
        self._macs = c * self._cols  # forward multiply-adds per sample

    # ------------------------------------------------------------------ helpers
    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        return int(self.theta.size)

    def copy(self) -> "CNN":
        """An independent model with the same spec, dtype and parameter values."""
        self._sync()
        return type(self)(self.spec, self.params, dtype=self.dtype)

    def _sync(self) -> None:
        """Bring ``theta`` up to date if ``params`` entries were replaced by new arrays."""
        params = self.params
        views = self._views
        for name, v in views.items():
            a = params.get(name, None)
            if a is not v:
                require(a is not None, "params", f"keep the key {name!r}", sorted(params))
                a = real_array(f"params[{name!r}]", a, finite=False)
                require(a.shape == v.shape, f"params[{name!r}].shape", f"be {v.shape}", a.shape)
                _assign_finite(v, a, f"params[{name!r}]")
                params[name] = v

    def parts(self, n: int) -> int:
        """Channel blocks per layer of ``value_and_grad`` on a batch of *n*: ``PARTS`` if its
        forward pass has at least ``PARTS_MIN_MACS`` multiply-adds and the weights at least
        ``PARTS_MIN_WEIGHTS`` times the entries of its im2col matrices, else 1 (never a function
        of the threads).
        """
        split = n * self._macs >= PARTS_MIN_MACS and self._weights >= PARTS_MIN_WEIGHTS * n \
            * self._cols
        return PARTS if split else 1

    def _workspace(self, n: int, train: bool = True, part: int = 0) -> _Workspace:
        key = (n, train, part)
        ws = self._cache.get(key)
        if ws is None:
            ws = _Workspace(self.spec, self._offsets, n, self.dtype, train)
            self._cache[key] = ws
            while len(self._cache) > 1 and (len(self._cache) > 8 or sum(
                    w.nbytes for w in self._cache.values()) > CACHE_MAX_BYTES):
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return ws

    def _input(self, x) -> np.ndarray:
        """*x* checked (real, shape ``(n, 1, N[, N])``, finite in the model dtype) and flat."""
        spec = self.spec
        x = real_array("x", x, finite=False)
        shape = (1,) + (spec.size,) * spec.dim
        if x.ndim != 2 + spec.dim or x.shape[1:] != shape or x.shape[0] < 1:
            raise ScaleDetectError(f"x must have shape (n, {', '.join(map(str, shape))}) with "
                                   f"n >= 1 (dim={spec.dim}, size={spec.size}); got "
                                   f"x.shape={x.shape}")
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            xf = np.ascontiguousarray(x, dtype=self.dtype).reshape(-1)
        bad = int(np.count_nonzero(~np.isfinite(xf)))
        if bad:  # after the conversion: 1e300 is finite in float64, inf in float32
            raise ScaleDetectError(
                f"x must be finite in the model's dtype {self.dtype.name} (|x| <= "
                f"{float(np.finfo(self.dtype).max):.3g}); got {bad} NaN or inf values of "
                f"{xf.size}")
        return xf

    def _forward_kernel(self, xf: np.ndarray, ws: _Workspace, out: np.ndarray,
                        parts: int = 1) -> None:
        _run_parts(partial(_net_forward, xf, self.theta, ws.geo, self._fgeo, self._ro,
                           self._ro_off, self._act, ws.acts, ws.cols, ws.pooled, out), parts)

    def _backward_kernel(self, ws: _Workspace, grad: np.ndarray, parts: int = 1, lr: float = 0.0,
                         decay: float = 1.0) -> None:
        """Backward through the layers, after ``_readout_kernel``: the gradient into *grad*; with
        ``lr > 0`` an SGD step on theta (``_net_backward``).
        """
        _run_parts(partial(_net_backward, self.theta, ws.geo, self._fgeo, self._ro_off, self._act,
                           ws.acts, ws.cols, ws.n, grad, *ws.backward_buffers(),
                           self.dtype.type(lr), self.dtype.type(decay)), parts)

    def _readout_kernel(self, ws: _Workspace, dout: np.ndarray, grad: np.ndarray) -> None:
        """The readout's gradient into *grad*, dL/df_K into the first gradient buffer of *ws*."""
        _readout_backward(self.theta, ws.geo, self._ro, self._ro_off, ws.pooled, dout, grad,
                          ws.backward_buffers()[1])

    def _rep(self, buf: np.ndarray, n: int, k: int) -> np.ndarray:
        """The (C, n N_k^dim) view at the start of *buf* (layer k's output of a batch of n)."""
        q = n * self.spec.sizes[k] ** self.spec.dim
        return buf[:self.spec.width * q].reshape((self.spec.width, q))

    def _forward_chunk(self, xf, ws, out, reps, i0: int) -> None:
        """Forward of the samples [i0, i0 + ws.n) into ``out`` and the sample-major ``reps``."""
        i1 = i0 + ws.n
        self._forward_kernel(xf, ws, out[i0:i1])
        for k, rep in enumerate(reps):
            a = ws.geo[k, G_OUTOFF]
            npos = rep.shape[2]
            _sample_major(ws.acts[a:a + self.spec.width * ws.n * npos].reshape(
                (self.spec.width, ws.n, npos)), rep[i0:i1])

    def _loss(self, out, y, loss, n):
        """``(values, dout)``: the loss and its derivative divided by n (model dtype)."""
        values, dvalues = loss(out, y)
        dvalues = np.asarray(dvalues)
        require(dvalues.shape == (n,), "loss", "return derivatives of shape (n,)",
                dvalues.shape)
        return values, np.ascontiguousarray(dvalues, dtype=self.dtype) / self.dtype.type(n)

    # ------------------------------------------------------------------ public API
    def forward(self, x, layers: bool = False):
        """Network output, optionally with every layer's representation.

        Parameters
        ----------
        x : array_like, shape (n, 1, N) or (n, 1, N, N)
            Input images (any numeric dtype; converted to the model dtype).
        layers : bool
            If True return ``[f_0, f_1, ..., f_K, out]``.

        Returns
        -------
        out : ndarray (n,)
            Or the list ``[f_0 (n, 1, N[, N]), f_k (n, C, N_k[, N_k]) ..., out (n,)]``
            (model dtype, fresh arrays).
        """
        require_bool("layers", layers)
        xf = self._input(x)
        spec = self.spec
        m = spec.size ** spec.dim
        n = xf.size // m
        out = np.empty(n, self.dtype)
        reps = [np.empty((n, spec.width, spec.sizes[k] ** spec.dim), self.dtype)
                for k in range(1, spec.depth + 1)] if layers else []
        starts = range(0, n, FORWARD_CHUNK)
        threads = min(len(starts), numba.get_num_threads())
        # chunk c runs on thread c mod T (run_tasks) with that thread's buffers, made here
        wss = [self._workspace(min(FORWARD_CHUNK, n - i0), train=False, part=c % threads)
               for c, i0 in enumerate(starts)]
        self._sync()
        notice_compile(_net_forward, self.dtype)
        single_threaded()
        run_tasks([partial(self._forward_chunk, xf[i0 * m:(i0 + ws.n) * m], ws, out, reps, i0)
                   for i0, ws in zip(starts, wss, strict=True)])
        if not layers:
            return out
        side = lambda k: (spec.sizes[k],) * spec.dim  # noqa: E731
        return ([xf.reshape((n, 1) + side(0))]
                + [r.reshape((n, spec.width) + side(k)) for k, r in enumerate(reps, 1)] + [out])

    def value_and_grad(self, x, y, loss, flat: bool = False):
        """Per-sample loss values, outputs, and the gradient of the mean loss.

        Parameters
        ----------
        x : array_like (n, 1, N[, N])
        y : array_like (n,)
            Labels, passed to *loss* unchanged.
        loss : callable
            ``loss(out, y) -> (values (n,), d values / d out (n,))``.
        flat : bool
            If True the gradient is one flat array laid out like ``theta``.

        Returns
        -------
        values : ndarray (n,)
        out : ndarray (n,)
        grads : dict like ``params`` (fresh arrays; views of one flat array) or ndarray (n_params,)
            Gradient of ``mean(values)`` with respect to every parameter, readout included.
        """
        values, out, grad = self._step(x, y, loss)
        if flat:
            return values, out, grad
        grads = {name: grad[a:a + int(np.prod(sh))].reshape(sh)
                 for name, (a, sh) in self._offsets.items()}
        return values, out, grads

    def sgd_step(self, x, y, loss, lr: float, l2: float = 0.0):
        """One SGD step on the batch, in place: ``theta <- theta - lr (grad + 2 l2 W)``.

        *grad* is the gradient of the mean loss (as ``value_and_grad``); the L2 penalty
        ``l2 |W|^2`` acts on the conv weights only (not on biases and the readout). The step is
        taken inside the backward pass, without forming the gradient: each conv weight matrix is
        ``(1 - 2 lr l2) W - lr dW`` in the gemm that forms dW (``_net_backward``). Same numbers
        as ``value_and_grad`` followed by the update, up to rounding.

        Returns
        -------
        values, out : ndarray (n,)
            Per-sample loss values and outputs before the step.
        """
        require(np.isfinite(lr) and lr > 0, "lr", "be a finite number > 0", lr)
        require(np.isfinite(l2) and l2 >= 0, "l2", "be a finite number >= 0", l2)
        return self._step(x, y, loss, lr, 1.0 - 2.0 * lr * l2)[:2]

    def _step(self, x, y, loss, lr: float = 0.0, decay: float = 1.0):
        """``(values, out, grad)`` of ``value_and_grad`` (flat), with ``lr > 0`` an SGD step on
        theta as well (*grad* then holds the gradient of the biases and the readout only).
        """
        xf = self._input(x)
        n = xf.size // self.spec.size ** self.spec.dim
        parts = self.parts(n)
        self._sync()
        notice_compile(_net_forward, self.dtype)
        notice_compile(_net_backward, self.dtype)
        compile_backward_aside(self.dtype)
        grad = np.empty_like(self.theta)
        ws = self._workspace(n)
        single_threaded()
        self._forward_kernel(xf, ws, ws.out, parts)
        out = ws.out.copy()
        values, dout = self._loss(out, y, loss, n)
        self._readout_kernel(ws, dout, grad)  # cold cache: compiles while a child compiles below
        wait_aside(_net_backward, self.dtype)
        self._backward_kernel(ws, grad, parts, lr, decay)
        return values, out, grad

    def __repr__(self) -> str:
        return f"CNN({self.spec!r}, dtype={self.dtype.name}, n_params={self.n_params})"


def _dtype(dtype) -> np.dtype:
    """*dtype* as a numpy dtype, float32 or float64, else ``ScaleDetectError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    require(dt is not None and dt in DTYPES, "dtype", "be float32 or float64",
            dtype if dt is None else dt.name)
    return dt


def _assign_finite(view: np.ndarray, a: np.ndarray, name: str) -> None:
    """``view[...] = a``, then raise unless every value is finite in the view's dtype (a
    float64 3e39 becomes inf in float32).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        view[...] = a
    if not np.all(np.isfinite(view)):
        bad = int(np.count_nonzero(~np.isfinite(view)))
        require(False, name, f"be finite in dtype {view.dtype.name} (|w| <= "
                f"{float(np.finfo(view.dtype).max):.3g})", f"{bad} NaN or inf values")


def init_cnn(spec: NetSpec, rng=None, dtype=np.float32, bias_std: float = 1.0) -> CNN:
    """A CNN at initialization: weights and biases i.i.d. Gaussian, readout bias 0.

    Parameters
    ----------
    spec : NetSpec
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64
    bias_std : float
        Standard deviation of the conv biases (if ``spec.bias``).

    Notes
    -----
    Raw weights ``W_k ~ N(0, 1)`` (the forward divides by sqrt(C_in F^dim)), ``b_k ~ N(0,
    bias_std^2)``, ``beta ~ N(0, 1)``, readout bias 0. Draws in storage order (layer by layer,
    weight then bias, then the readout), in float64, then cast.
    """
    require_instance("spec", spec, NetSpec)
    require_real("bias_std", bias_std)
    require(bias_std >= 0, "bias_std", "be >= 0", bias_std)
    dtype = _dtype(dtype)
    gen = as_rng(rng)
    params = {}
    for name, shape in param_shapes(spec).items():
        if name == "readout.bias":
            params[name] = np.zeros(shape)
        elif name.endswith(".bias"):
            params[name] = bias_std * gen.standard_normal(shape)
        else:
            params[name] = gen.standard_normal(shape)
    return CNN(spec, params, dtype=dtype)


def _pool_axis(x: np.ndarray, axis: int, F: int, s: int, n_out: int, dtype) -> np.ndarray:
    """Sum over the circular windows ``s*u ... s*u+F-1`` along *axis*: ``n_in -> n_out``, added
    in *dtype*.
    """
    n_in = x.shape[axis]
    parts = []
    for j in range(F):
        if j + s * (n_out - 1) < n_in:  # no wrap: a strided view
            sl = [slice(None)] * x.ndim
            sl[axis] = slice(j, j + s * (n_out - 1) + 1, s)
            parts.append(x[tuple(sl)])
        else:
            parts.append(np.take(x, (s * np.arange(n_out) + j) % n_in, axis=axis))
    if F == 1:
        return parts[0].astype(dtype)
    out = np.add(parts[0], parts[1], dtype=dtype)
    for part in parts[2:]:
        out += part
    return out


def _pool_tiles(x: np.ndarray, F: int, n_out: int, dim: int, out: np.ndarray) -> np.ndarray:
    """Window sums of tiling windows (F = s), ``(n, N[, N]) -> out (n, n_out[, n_out])``: the F^dim
    phases of a reshaped view added in the dtype of *out* (no full-size temporary).
    """
    y = x.reshape((len(x),) + (n_out, F) * dim)
    phases = list(itertools.product(range(F), repeat=dim))

    def view(ph):
        return y[(slice(None),) + sum(((slice(None), j) for j in ph), ())]

    if len(phases) == 1:
        out[...] = view(phases[0])
        return out
    np.add(view(phases[0]), view(phases[1]), out=out, dtype=out.dtype)
    for ph in phases[2:]:
        out += view(ph)
    return out


_PHI = {"relu": lambda z: np.maximum(z, 0, out=z), "tanh": lambda z: np.tanh(z, out=z),
        "linear": lambda z: z}


class PoolingNet(CNN):
    """The idealized pooling net with a vectorized numpy forward (``pooling_net``).

    Same parameters, spec and results as the ``CNN`` it extends (up to float rounding); its
    ``forward`` pools each axis with strided sums instead of running the general one-channel
    convolution kernel, which is several times faster at large N. If the conv weights or the
    readout were changed from the pooling values, ``forward`` falls back to ``CNN.forward``.
    """

    def _pooling_weights(self) -> list | None:
        """Per-layer filter weight ``w / sqrt(F^dim)`` if every tap is equal, else None."""
        self._sync()
        ws = []
        for k in range(1, self.spec.depth + 1):
            w = self.params[f"conv{k}.weight"]
            if not np.all(w == w.flat[0]):
                return None
            ws.append(self.dtype.type(w.flat[0]) * self._fgeo[k - 1, 0])
        return ws

    def forward(self, x, layers: bool = False):
        """See ``CNN.forward``."""
        if self._pooling_weights() is None:
            return super().forward(x, layers)
        if not layers:
            return self.representations(x)[-1]
        reps = self.representations(x)
        reps[0] = self._input(reps[0]).reshape(reps[0].shape)  # the model dtype, a fresh array
        return reps

    def representations(self, x) -> list:
        """``forward(x, layers=True)`` without the copy of the input: ``f_0`` is *x* itself.

        Parameters
        ----------
        x : array_like, shape (n, 1, N) or (n, 1, N, N)

        Returns
        -------
        list
            ``[f_0, f_1, ..., f_K, out]``: ``f_0 = x`` as given when it is contiguous and the
            model dtype holds it exactly (float32 images, float64 model: the same values as the
            model-dtype copy ``forward`` returns), the rest as in ``forward``. The first
            pooling reads *x* in its own dtype and adds in the model dtype (exact for float32
            images in a float64 model: no copy of the batch).
        """
        ws = self._pooling_weights()
        if ws is None:
            return super().forward(x, layers=True)
        spec = self.spec
        f = self._images(x)
        reps = [f]
        F, s = spec.filter, spec.stride
        for k in range(1, spec.depth + 1):
            n_out = spec.sizes[k]
            z = np.empty((len(f),) + (n_out,) * spec.dim, self.dtype)
            step = max(1, _POOL_CHUNK // n_out**spec.dim)  # layer in cache between its passes
            for lo in range(0, len(f), step):
                u, out = f[lo:lo + step, 0], z[lo:lo + step]
                if F == s:
                    _pool_tiles(u, F, n_out, spec.dim, out)
                else:
                    for ax in range(spec.dim):
                        u = _pool_axis(u, 1 + ax, F, s, n_out, self.dtype)
                    out[...] = u
                out *= ws[k - 1]
                _PHI[spec.act](out)
                if spec.gain != 1.0:
                    out *= self.dtype.type(spec.gain)
            f = z[:, None]
            reps.append(f)
        alpha, cro, inv = self._ro
        rw, rb = self.params["readout.weight"][0], self.params["readout.bias"][0]
        g = f.reshape(len(f), -1).sum(1) * inv
        out = (alpha * (rb + cro * rw * g)).astype(self.dtype)
        return reps + [out]

    def _images(self, x) -> np.ndarray:
        """*x* checked as ``_input`` does, ``(n, 1, N[, N])``: kept (not copied) when the model
        dtype holds its values exactly (float32 or float64 images in a float64 model).
        """
        x = np.asarray(x)
        shape = (1,) + (self.spec.size,) * self.spec.dim
        exact = x.dtype in DTYPES and np.can_cast(x.dtype, self.dtype, "safe")  # f32 -> f64
        if exact and x.ndim == len(shape) + 1 and x.shape[1:] == shape and len(x):
            return np.ascontiguousarray(x)
        return self._input(x).reshape((-1,) + shape)  # converts, or raises naming the shape


def pooling_net(spec: NetSpec, dtype=np.float64) -> PoolingNet:
    """The idealized pooling net of *spec*: every effective filter weight 1/F^dim, no bias.

    Parameters
    ----------
    spec : NetSpec
        Must have ``width == 1`` and ``bias == False`` (``net_from_args(..., pooling=True)``).
    dtype : float32 or float64

    Returns
    -------
    PoolingNet
        A ``CNN`` whose forward is a vectorized average pooling.

    Notes
    -----
    Stored weights are ``F^(-dim/2)``, so the forward's ``W / sqrt(1 * F^dim)`` is ``1/F^dim``
    (average pooling); readout weight 1 and bias 0, so ``out = alpha * c * mean(f_K)`` with c = 1.
    """
    require(isinstance(spec, NetSpec), "spec", "be a NetSpec", spec)
    require(spec.width == 1, "width", "be 1 for the pooling net", spec.width)
    require(not spec.bias, "bias", "be False for the pooling net", spec.bias)
    w = float(spec.filter) ** (-spec.dim / 2)
    params = {}
    for name, shape in param_shapes(spec).items():
        if name == "readout.bias":
            params[name] = np.zeros(shape)
        elif name == "readout.weight":
            params[name] = np.ones(shape)
        else:
            params[name] = np.full(shape, w)
    return PoolingNet(spec, params, dtype=dtype)
