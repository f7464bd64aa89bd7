"""``CNN``: circular strided convolutions, global average pooling and a linear readout (numba).

The model holds its parameters as plain numpy arrays (``params``), all views into one flat vector
``theta``; a forward pass and a backward pass are each one call of a numba kernel running every
layer (``scaledetect._kernels.conv``), with buffers preallocated per batch size
(``nn.workspace``). How the kernels run (threads, compiling aside, BLAS threads) is the policy in
force (``scaledetect.engine.Engine``); the layers' products run on BLAS, single-threaded by
default. ``sgd_step`` takes a plain SGD step inside the backward pass: each weight matrix is
updated by the gemm that forms its gradient, which is never stored (1D width 256, batch 8, one
thread: 6.2 vs 6.6 ms a step with the gradient formed, then ``theta -= lr g``; the training loop
uses it unless momentum or L1 decay need the gradient).

Threads. ``value_and_grad`` (and ``sgd_step``) of a large enough batch whose weights outweigh its
im2col matrices (``PARTS_MIN_MACS``, ``PARTS_MIN_WEIGHTS``) splits every layer's channels into
``PARTS`` blocks (``CNN.parts``, a function of the net and the batch size alone, never of the
thread count): with ``engine.threads()`` >= ``PARTS`` the blocks of a layer run at once on
as many Python threads (the kernels release the GIL and meet at a barrier after every layer), else
one after the other, the same gemm calls on the same numbers either way, so results are
bit-identical for every thread count (see ``scaledetect._kernels.conv``).
``forward`` runs its ``FORWARD_CHUNK``-sample chunks on Python threads (each chunk's numbers do
not depend on where it runs). Parallel runs of many nets use processes (``reproduce --workers``,
one thread each) instead.
"""

from functools import partial

import numpy as np

from .._kernels.conv import (
    G_OUTOFF,
    _net_backward,
    _net_forward,
    _readout_backward,
    _sample_major,
)
from .._random import as_rng
from ..engine import (
    compile_aside,
    notice_compile,
    run_parts,
    run_tasks,
    set_blas,
    threads,
    wait_aside,
)
from ..errors import (
    ScaleDetectError,
    real_array,
    require,
    require_bool,
    require_instance,
    require_real,
)
from .spec import NetSpec
from .workspace import Workspace, WorkspaceCache

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
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
        act = spec.activation
        self._act = act.code
        c = spec.width
        self._fgeo = np.empty((spec.depth, 3), dtype)
        for k in range(1, spec.depth + 1):
            cin = 1 if k == 1 else c
            self._fgeo[k - 1] = (1.0 / np.sqrt(cin * spec.filter ** spec.dim), spec.gain,
                                 act.kernel_param)
        cro = 1.0 / np.sqrt(c) if spec.param == "ntk" else 1.0 / c
        self._ro = np.array([spec.alpha, cro, 1.0 / spec.sizes[-1] ** spec.dim], dtype)
        self._ro_off = np.array([self._offsets["readout.weight"][0],
                                 self._offsets["readout.bias"][0]], np.int64)
        self._cache = WorkspaceCache(spec, self._offsets, dtype)
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

    def _workspace(self, n: int, train: bool = True, part: int = 0) -> Workspace:
        """The buffers of a batch of *n* (``part``: those of one thread of a forward pass)."""
        return self._cache.get(n, train, part)

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

    def _forward_kernel(self, xf: np.ndarray, ws: Workspace, out: np.ndarray,
                        parts: int = 1) -> None:
        run_parts(partial(_net_forward, xf, self.theta, ws.geo, self._fgeo, self._ro,
                           self._ro_off, self._act, ws.acts, ws.cols, ws.pooled, out), parts)

    def _backward_kernel(self, ws: Workspace, grad: np.ndarray, parts: int = 1, lr: float = 0.0,
                         decay: float = 1.0) -> None:
        """Backward through the layers, after ``_readout_kernel``: the gradient into *grad*; with
        ``lr > 0`` an SGD step on theta (``_net_backward``).
        """
        run_parts(partial(_net_backward, self.theta, ws.geo, self._fgeo, self._ro_off, self._act,
                           ws.acts, ws.cols, ws.n, grad, *ws.backward_buffers(),
                           self.dtype.type(lr), self.dtype.type(decay)), parts)

    def _readout_kernel(self, ws: Workspace, dout: np.ndarray, grad: np.ndarray) -> None:
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
        t = min(len(starts), threads())
        # chunk c runs on thread c mod T (run_tasks) with that thread's buffers, made here
        wss = [self._workspace(min(FORWARD_CHUNK, n - i0), train=False, part=c % t)
               for c, i0 in enumerate(starts)]
        self._sync()
        notice_compile(_net_forward, self.dtype)
        set_blas()
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
        set_blas()
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
