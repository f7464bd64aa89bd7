"""Private numba kernels of the circular, strided convolution (1D and 2D) and its backward pass.

Layout. A representation is stored *channel-major across the batch*: ``f[c, q]`` with
``q = (i * H + h) * W + w`` for sample ``i`` and position ``(h, w)``; 1D is the case ``H = 1``,
``F_h = 1``, ``s_h = 1``. With this layout a layer is one matrix product over
``q = n * H_out * W_out`` columns, whose inner loop is long and contiguous even for small batches.

The convolution of layer k (circular padding aligned at 0, SPEC section 4)::

    cols[(ci, jh, jw), (i, ph, pw)] = f[ci, i, (s_h ph + jh) mod H_in, (s_w pw + jw) mod W_in]
    z = scale * (W @ cols) + b,       f_out = gain * phi(z),       scale = 1 / sqrt(C_in F^dim)

phi is one of the activations of ``scaledetect.activations``, by the integer code of its record
(``act``) and its parameter (``slope``: leaky ReLU's negative slope). The backward pass reads
phi' from the output f, except for GELU, whose phi' needs z: its pre-activations are kept in a
buffer ``pre`` of the outputs' shape (the network kernels: the second half of ``acts``).

Kernels are dumb: contiguous arrays in, output buffers written, no validation. Every product is
one call of BLAS's gemm (scipy's sgemm/dgemm, single-threaded, see ``blas.py``) with ``scale`` as
its ``alpha``: for the first and narrow layers too (plain serial loops there were slower than BLAS
and cost ~1.3 s of the first run's compiling). Scalars (``scale``, ``gain``) come with the dtype
of the arrays, so the same kernels serve float32 and float64 without promotion. Inner loops index
1D row views from 0 or with unsigned integers (numba then emits no negative-index wraparound and
LLVM vectorizes them).

Parts. The network kernels split every layer's output channels into ``parts`` near-equal blocks
``[t C / parts, (t + 1) C / parts)``: part t of layer k forms those rows of its product and
epilogue, then the im2col rows of the same channels for layer k + 1 (its input channels); going
back, part t forms dL/df_{k-1} for its input channels of layer k (the columns of W of those
channels), then dL/dz of layer k - 1 for the same channels (its rows), and one step later (once
every part has read W_k) dW of layer k for its rows, or the SGD update of those rows in place.
Parts of one layer touch disjoint outputs and read only what the layer before finished, so they
can run at once: ``parts`` threads each run the network kernel for one part, meeting at a barrier
after every layer; one thread runs every part in turn. Either way the same gemm calls run on the
same blocks, so the numbers are identical for every thread count; the number of parts is a
property of the net and the batch (``CNN``), never of the threads.
"""

import math

import numba
import numpy as np
from numba.core import cgutils
from numba.extending import intrinsic

from ..activations import ACTIVATIONS
from ._jit import ijit, jit
from .blas import dgemm, sgemm

# the activation codes the kernels branch on, from the records (scaledetect.activations)
RELU, TANH, LINEAR, LEAKY_RELU, GELU = (ACTIVATIONS[name].code for name in (
    "relu", "tanh", "linear", "leaky_relu", "gelu"))
_RSQRT2 = 0.7071067811865476  # 1 / sqrt(2)
_RSQRT2PI = 0.3989422804014327  # 1 / sqrt(2 pi)


@ijit
def _tiled(hin, win, hout, wout, fh, fw, sh, sw):
    """Whether the windows tile the input without wrapping or overlapping (F <= s, N = s N_out):
    then output row ``r = i hout + ph`` reads input row ``sh r + jh`` only.
    """
    return sh * hout == hin and sw * wout == win and fh <= sh and fw <= sw


@ijit
def _tiled_rows(fr, cr, hin, win, hout, wout, sh, sw, jh, jw, i0, i1, back):
    """The im2col row ``cr[(i, ph, pw)] = fr[(sh (i hout + ph) + jh) win + sw pw + jw]`` for
    samples [i0, i1) of a tiled geometry (``_tiled``), or with *back* its col2im
    ``fr[...] += cr[...]``. 1D: one strided run ``cr[q] = fr[sw q + jw]`` over all samples.
    Unsigned indices: no negative-index wrap-around, LLVM vectorizes.
    """
    usw = np.uint64(sw)
    if hin == 1:
        ujw = np.uint64(jw)
        for q in range(np.uint64(i0 * wout), np.uint64(i1 * wout)):
            if back:
                fr[usw * q + ujw] += cr[q]
            else:
                cr[q] = fr[usw * q + ujw]
        return
    for r in range(i0 * hout, i1 * hout):
        us = np.uint64((sh * r + jh) * win + jw)
        ud = np.uint64(r * wout)
        for pw in range(np.uint64(wout)):
            if back:
                fr[us + usw * pw] += cr[ud + pw]
            else:
                cr[ud + pw] = fr[us + usw * pw]


@jit
def _gather_rows(f, cols, hin, win, hout, wout, fh, fw, sh, sw, ci0, ci1, i0, i1):
    """im2col for channels [ci0, ci1) and samples [i0, i1): ``cols[(ci,jh,jw), (i,ph,pw)]``.

    ``f`` is ``(C_in, n * hin * win)``, ``cols`` is ``(C_in * fh * fw, n * hout * wout)``.
    """
    if _tiled(hin, win, hout, wout, fh, fw, sh, sw):
        for ci in range(ci0, ci1):
            for jh in range(fh):
                for jw in range(fw):
                    _tiled_rows(f[ci], cols[(ci * fh + jh) * fw + jw], hin, win, hout, wout, sh,
                                sw, jh, jw, i0, i1, False)
        return
    pin = hin * win
    pout = hout * wout
    for ci in range(ci0, ci1):
        fr = f[ci]
        for jh in range(fh):
            for jw in range(fw):
                cr = cols[(ci * fh + jh) * fw + jw]
                # pw < nw reads column sw*pw + jw without wrapping
                nw = max(0, min(wout, (win - jw + sw - 1) // sw))
                for i in range(i0, i1):
                    row = jh  # sh * ph + jh mod hin, by subtraction: a division per (i, ph)
                    for ph in range(hout):  # cost more than the copies of a 2D layer
                        while row >= hin:
                            row -= hin
                        src = i * pin + row * win + jw
                        dst = i * pout + ph * wout
                        row += sh
                        if wout < 8:  # short rows: plain indexing
                            for pw in range(nw):
                                cr[dst + pw] = fr[src + sw * pw]
                        else:  # unsigned indices: numba emits no negative-index wrap-around
                            ud = np.uint64(dst)  # (2D width-32 layer, 8 x 8 outputs: 84 -> 36 us)
                            us = np.uint64(src)
                            usw = np.uint64(sw)
                            for pw in range(np.uint64(nw)):
                                cr[ud + pw] = fr[us + usw * pw]
                        for pw in range(nw, wout):
                            cr[dst + pw] = fr[src + sw * pw - win]


@jit
def _scatter_rows(dcols, g, hin, win, hout, wout, fh, fw, sh, sw, ci0, ci1, i0, i1):
    """col2im: ``g[ci, i, pos] = sum over (jh, jw, ph, pw) landing on pos of dcols``.

    Channels [ci0, ci1), samples [i0, i1); the sum runs over jh, jw, ph, pw in increasing order.
    """
    pin = hin * win
    pout = hout * wout
    tiled = _tiled(hin, win, hout, wout, fh, fw, sh, sw)
    for ci in range(ci0, ci1):
        gr = g[ci, i0 * pin:i1 * pin]
        gr[:] = 0
        if tiled:  # one term per position, added to 0 as below
            for jh in range(fh):
                for jw in range(fw):
                    _tiled_rows(g[ci], dcols[(ci * fh + jh) * fw + jw], hin, win, hout, wout, sh,
                                sw, jh, jw, i0, i1, True)
            continue
        for jh in range(fh):
            for jw in range(fw):
                dr = dcols[(ci * fh + jh) * fw + jw, i0 * pout:i1 * pout]
                nw = max(0, min(wout, (win - jw + sw - 1) // sw))
                for i in range(i1 - i0):
                    row = jh  # sh * ph + jh mod hin (as in _gather_rows)
                    for ph in range(hout):
                        while row >= hin:
                            row -= hin
                        dst = i * pin + row * win + jw
                        src = i * pout + ph * wout
                        row += sh
                        if wout < 8:  # as in _gather_rows
                            for pw in range(nw):
                                gr[dst + sw * pw] += dr[src + pw]
                        else:
                            ud = np.uint64(dst)
                            us = np.uint64(src)
                            usw = np.uint64(sw)
                            for pw in range(np.uint64(nw)):
                                gr[ud + usw * pw] += dr[us + pw]
                        for pw in range(nw, wout):
                            gr[dst + sw * pw - win] += dr[src + pw]


@jit
def _epilogue_rows(z, pre, b, has_bias, gain, act, slope, r0, r1, q0, q1):
    """In place ``z = gain * phi(z + b)`` on rows [r0, r1), columns [q0, q1) (GELU: ``z + b``
    into *pre* as well).
    """
    zero = gain - gain
    nq = q1 - q0
    for r in range(r0, r1):
        bb = b[r] if has_bias else zero
        zr = z[r, q0:q1]
        if act == RELU:
            for t in range(nq):
                v = zr[t] + bb
                zr[t] = zero if v <= zero else gain * v  # NaN propagates
        elif act == TANH:
            for t in range(nq):
                zr[t] = gain * np.tanh(zr[t] + bb)
        elif act == LEAKY_RELU:
            for t in range(nq):
                v = zr[t] + bb
                zr[t] = gain * v if v > zero else gain * (slope * v)
        elif act == GELU:  # exact: z Phi(z) = z (1 + erf(z / sqrt 2)) / 2
            pr = pre[r, q0:q1]
            for t in range(nq):
                v = zr[t] + bb
                pr[t] = v
                zr[t] = gain * (0.5 * v * (1.0 + math.erf(v * _RSQRT2)))
        else:
            for t in range(nq):
                zr[t] = gain * (zr[t] + bb)


@ijit
def _sum8(v, zero):
    """``sum(v)`` by 8 interleaved partial sums combined in a fixed order (deterministic)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    n8 = v.shape[0] // 8 * 8
    for q in range(0, n8, 8):
        s0 += v[q]
        s1 += v[q + 1]
        s2 += v[q + 2]
        s3 += v[q + 3]
        s4 += v[q + 4]
        s5 += v[q + 5]
        s6 += v[q + 6]
        s7 += v[q + 7]
    for q in range(n8, v.shape[0]):
        s0 += v[q]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit
def _dz_rows(g, f, pre, db, has_bias, gain, act, slope, r0, r1):
    """In place ``g = g * gain * phi'(z)`` (phi' read from the output ``f = gain * phi(z)``;
    GELU's from the pre-activation z in *pre*).

    Also ``db[r] = sum_q g[r, q]`` in increasing q (if has_bias). relu: phi' = 1[f > 0];
    tanh: phi' = 1 - (f / gain)^2; leaky relu: 1 if f > 0, else the slope; GELU:
    Phi(z) + z phi(z); linear: 1.
    """
    zero = gain - gain
    one = gain / gain
    nq = g.shape[1]
    for r in range(r0, r1):
        gr = g[r]
        fr = f[r]
        if act == RELU:
            for q in range(nq):
                gr[q] = gain * gr[q] if fr[q] > zero else zero
        elif act == TANH:
            for q in range(nq):
                t = fr[q] / gain
                gr[q] = gr[q] * (gain * (one - t * t))
        elif act == LEAKY_RELU:
            for q in range(nq):
                gr[q] = gain * gr[q] if fr[q] > zero else gain * gr[q] * slope
        elif act == GELU:
            pr = pre[r]
            for q in range(nq):
                v = pr[q]
                d = 0.5 * (1.0 + math.erf(v * _RSQRT2)) + v * _RSQRT2PI * math.exp(-0.5 * v * v)
                gr[q] = gain * gr[q] * d
        else:
            for q in range(nq):
                gr[q] = gain * gr[q]
        if has_bias:
            db[r] = _sum8(gr, zero)


@ijit
def _gemm(a, ta, b, tb, c, alpha, beta=0.0):
    """Row-major ``c = alpha op(a) op(b) + beta c``, ``op(a) = a.T`` if *ta* (else a), likewise b
    (``beta = 0``: c is only written).

    One BLAS gemm on the transposes (column-major ``c^T = op(b)^T op(a)^T``). Every array has
    unit-stride rows; leading dimensions come from the row strides, so row and column blocks of
    C-contiguous arrays go in uncopied. Inlined: only sizes and pointers are formed here, the call
    itself is ``_gemm_call``, compiled once per dtype whatever the layouts and flags.
    """
    m, n = c.shape
    if m == 0 or n == 0:
        return
    size = c.itemsize
    ints = np.empty(8, np.int32)  # Fortran arguments are passed by reference
    ints[0] = n
    ints[1] = m
    ints[2] = a.shape[0] if ta else a.shape[1]
    ints[3] = max(1, b.strides[0] // size)
    ints[4] = max(1, a.strides[0] // size)
    ints[5] = max(1, c.strides[0] // size)
    ints[6] = 84 if tb else 78  # "T", "N"
    ints[7] = 84 if ta else 78
    scalars = np.empty(2, c.dtype)
    scalars[0] = alpha
    scalars[1] = beta
    _gemm_call(ints, scalars, a.ctypes, b.ctypes, c.ctypes)


@jit
def _gemm_call(ints, scalars, a, b, c):
    """``gemm(ints[6], ints[7], *ints[0:3], scalars[0], b, ints[3], a, ints[4], scalars[1], c,
    ints[5])`` (as ``_gemm`` lays them out; a, b, c are pointers).
    """
    args = (ints[6:].ctypes, ints[7:].ctypes, ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes,
            scalars[0:].ctypes, b, ints[3:].ctypes, a, ints[4:].ctypes, scalars[1:].ctypes, c,
            ints[5:].ctypes)
    if scalars.itemsize == 4:
        sgemm(*args)
    else:
        dgemm(*args)


# ------------------------------------------------------------------ one layer (tests' entry points)

@jit
def _conv_forward(f, w, b, has_bias, out, pre, cols, n, hin, win, hout, wout, fh, fw, sh, sw,
                  scale, gain, act, slope):
    """One layer forward: ``out = gain * phi(scale * W @ im2col(f) + b)``.

    Parameters
    ----------
    f : (C_in, n * hin * win)
    w : (C_out, C_in * fh * fw)
    b : (C_out,) (ignored unless has_bias)
    out : (C_out, n * hout * wout), written
    pre : like out; written with z for GELU (else unused)
    cols : (C_in * fh * fw, n * hout * wout), written: im2col(f), kept for the backward pass
    act, slope : the activation's code and parameter (``Activation.code``, ``kernel_param``)
    """
    _gather_rows(f, cols, hin, win, hout, wout, fh, fw, sh, sw, 0, f.shape[0], 0, n)
    _gemm(w, False, cols, False, out, scale)
    _epilogue_rows(out, pre, b, has_bias, gain, act, slope, 0, w.shape[0], 0, cols.shape[1])


@jit
def _conv_backward(gout, out, pre, cols, w, dw, db, has_bias, gin, want_gin, dcols, n, hin, win,
                   hout, wout, fh, fw, sh, sw, scale, gain, act, slope):
    """One layer backward.

    Parameters
    ----------
    gout : (C_out, n * hout * wout)
        dL/d out on entry; overwritten by dL/dz.
    out : (C_out, n * hout * wout)
        The layer's forward output (phi' is read from it).
    pre : like out
        The pre-activations z as left by ``_conv_forward`` (GELU's phi' is read from them).
    cols : (C_in * fh * fw, n * hout * wout)
        im2col of the layer's input (as left by ``_conv_forward``).
    dw : (C_out, C_in * fh * fw), db : (C_out,)
        Written: ``dW = scale * dz @ im2col(f)^T``, ``db = dz summed over q`` (if has_bias).
    gin : (C_in, n * hin * win)
        Written if want_gin: ``dL/df = col2im(scale * W^T @ dz)``.
    dcols : (C_in * fh * fw, n * hout * wout)
        Scratch.
    """
    _dz_rows(gout, out, pre, db, has_bias, gain, act, slope, 0, w.shape[0])
    _gemm(gout, False, cols, True, dw, scale)
    if want_gin:
        _gemm(w, True, gout, False, dcols, scale)
        _scatter_rows(dcols, gin, hin, win, hout, wout, fh, fw, sh, sw, 0, gin.shape[0], 0, n)


@jit
def _sample_major(a, out):
    """``out[i, c] = a[c, i]``: a representation from the kernels' channel-major layout
    ``a (C, n, P)`` to the sample-major ``out (n, C, P)`` (P = positions, flattened).

    Samples in blocks of 16 so that the reads of every channel stay in cache for short rows.
    """
    nc, n, npos = a.shape
    for i0 in range(0, n, 16):
        for c in range(nc):
            for i in range(i0, min(n, i0 + 16)):
                src = a[c, i]
                dst = out[i, c]
                for p in range(npos):
                    dst[p] = src[p]


# ------------------------------------------------------------------ whole network
# (kept in this file: numba's on-disk cache is keyed on the source file of the function only, so
# a kernel calling kernels from another file could run stale cached code after an edit)
#
# One call per forward and one per backward keeps the Python overhead of an SGD step at two
# dispatches, whatever the depth. Parameters, representations and gradients live in flat buffers
# described by an integer table ``geo`` (one row per layer, columns ``G_*``) and a float table
# ``fgeo`` (``scale``, ``gain``, the activation's parameter per layer) of the model dtype.

# columns of geo
(G_CIN, G_COUT, G_HIN, G_WIN, G_HOUT, G_WOUT, G_FH, G_FW, G_SH, G_SW, G_WOFF, G_BOFF, G_INOFF,
 G_OUTOFF, G_COFF) = range(15)
N_GEO = 15


@ijit
def _layer_sizes(geo, k, n):
    """Sizes of layer k for a batch of n: C_in, C_out, H_in, W_in, H_out, W_out, F_h, F_w, then
    ``kk = C_in F_h F_w`` (im2col rows), ``qin = n H_in W_in`` and ``qout = n H_out W_out``.
    """
    cin = geo[k, G_CIN]
    fh = geo[k, G_FH]
    fw = geo[k, G_FW]
    hin = geo[k, G_HIN]
    win = geo[k, G_WIN]
    hout = geo[k, G_HOUT]
    wout = geo[k, G_WOUT]
    return (cin, geo[k, G_COUT], hin, win, hout, wout, fh, fw, cin * fh * fw, n * hin * win,
            n * hout * wout)


# ------------------------------------------------------------------ threads
# The parts of a layer may run on several threads, each in its own call of the network kernel;
# the calls meet at a barrier after every layer. A barrier costs ~1 us when the threads arrive
# together (numba's prange regions, tried first, cost 2-8 us each and ~6 s of first-run compiling)

SPINS = 256  # busy rounds before a waiting thread starts yielding its core


@intrinsic
def _atomic_add(typingctx, a, i, v):
    """``a[i] += v`` as one atomic operation on an int64 array; returns the old ``a[i]``."""
    def codegen(context, builder, sig, args):
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0],
                                       context.make_array(sig.args[0])(context, builder, args[0]),
                                       [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")
    return numba.types.int64(a, numba.types.intp, numba.types.int64), codegen


@intrinsic
def _atomic_load(typingctx, a, i):
    """``a[i]`` read with acquire ordering (never cached in a register by the compiler)."""
    def codegen(context, builder, sig, args):
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0],
                                       context.make_array(sig.args[0])(context, builder, args[0]),
                                       [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)
    return numba.types.int64(a, numba.types.intp), codegen


_sched_yield = numba.types.ExternalFunction("sched_yield", numba.types.int32())


@jit
def _barrier(sync, threads):
    """Return when *threads* callers have arrived (``sync``: arrivals, generation; no-op for 1).

    The last arrival resets the count and starts the next generation; the others spin on the
    generation, yielding their core after ``SPINS`` rounds (a descheduled partner then does not
    cost a whole scheduler slice of spinning).
    """
    if threads > 1:
        gen = _atomic_load(sync, 1)
        if _atomic_add(sync, 0, 1) == threads - 1:
            _atomic_add(sync, 0, -threads)
            _atomic_add(sync, 1, 1)
        else:
            spins = 0
            while _atomic_load(sync, 1) == gen:
                spins += 1
                if spins > SPINS:
                    _sched_yield()


@ijit
def _part(t, parts, c):
    """Rows ``[t c / parts, (t + 1) c / parts)`` of c: part t of a layer's channels."""
    return t * c // parts, (t + 1) * c // parts


@jit
def _layer(theta, geo, acts, cols, k, n):
    """Views of layer k: ``w (C_out, kk), b, has_bias, o (C_out, qout), c (kk, qout)`` (see
    ``_net_forward``).
    """
    cin, cout, hin, win, hout, wout, fh, fw, kk, qin, qout = _layer_sizes(geo, k, n)
    woff = geo[k, G_WOFF]
    boff = geo[k, G_BOFF]
    has_bias = boff >= 0
    b = theta[boff:boff + cout] if has_bias else theta[0:1]
    outoff = geo[k, G_OUTOFF]
    coff = geo[k, G_COFF]
    return (theta[woff:woff + cout * kk].reshape((cout, kk)), b, has_bias,
            acts[outoff:outoff + cout * qout].reshape((cout, qout)),
            cols[coff:coff + kk * qout].reshape((kk, qout)))


@ijit
def _pre(geo, acts, k, n, act):
    """Layer k's pre-activations ``(C_out, qout)``: for GELU in the second half of *acts* (the
    model allocates it twice the size, ``Activation.stores_preactivation``), at the offset of
    its outputs in the first; for the other activations the outputs themselves (unused).
    """
    cout = geo[k, G_COUT]
    qout = n * geo[k, G_HOUT] * geo[k, G_WOUT]
    off = geo[k, G_OUTOFF] + (acts.shape[0] // 2 if act == GELU else 0)
    return acts[off:off + cout * qout].reshape((cout, qout))


@ijit
def _gather_layer(x, geo, acts, cols, k, n, c0, c1):
    """im2col of layer k's input channels [c0, c1) (layer 0 reads x)."""
    cin, cout, hin, win, hout, wout, fh, fw, kk, qin, qout = _layer_sizes(geo, k, n)
    inoff = geo[k, G_INOFF]
    if inoff < 0:
        f = x[:qin].reshape((1, qin))
    else:
        f = acts[inoff:inoff + cin * qin].reshape((cin, qin))
    coff = geo[k, G_COFF]
    _gather_rows(f, cols[coff:coff + kk * qout].reshape((kk, qout)), hin, win, hout, wout, fh, fw,
                 geo[k, G_SH], geo[k, G_SW], c0, c1, 0, n)


@ijit
def _forward_part(t, parts, x, theta, geo, fgeo, act, acts, cols, n, k):
    """Part t of layer k (k = -1: of the input): its rows of
    ``f_k = gain phi(scale W cols + b)``, then (below the top) the im2col of those channels of
    f_k for layer k + 1.
    """
    c0, c1 = _part(t, parts, geo[k + 1, G_CIN] if k < 0 else geo[k, G_COUT])
    if k >= 0:
        w, b, has_bias, o, c = _layer(theta, geo, acts, cols, k, n)
        _gemm(w[c0:c1], False, c, False, o[c0:c1], fgeo[k, 0])
        _epilogue_rows(o, _pre(geo, acts, k, n, act), b, has_bias, fgeo[k, 1], act, fgeo[k, 2],
                       c0, c1, 0, o.shape[1])
    if k + 1 < geo.shape[0]:
        _gather_layer(x, geo, acts, cols, k + 1, n, c0, c1)


@jit
def _net_forward(x, theta, geo, fgeo, ro, ro_off, act, acts, cols, pooled, out, parts, t0, t1,
                 sync):
    """Forward pass of the network and its readout: parts [t0, t1) of every layer.

    Parameters
    ----------
    x : (n * N_0^dim,)
        Input (one channel), sample-major.
    theta : (n_params,)
        Flat parameters; layer k weight at ``geo[k, G_WOFF]`` (C_out, C_in F^dim), bias at
        ``geo[k, G_BOFF]`` (-1: no bias); readout weight at ``ro_off[0]``, bias at ``ro_off[1]``.
    geo : (K, N_GEO) int64 ; fgeo : (K, 3) (scale = 1/sqrt(C_in F^dim), gain, the
        activation's parameter ``Activation.kernel_param``)
    ro : (3,)
        ``alpha``, readout coefficient c (1/sqrt(C) or 1/C), ``1 / N_K^dim``.
    act : int
        Activation code (``Activation.code``: conv.RELU, TANH, LINEAR, LEAKY_RELU, GELU); its
        parameter is the third column of fgeo.
    acts : flat buffer, written
        Layer k output at ``geo[k, G_OUTOFF]``, shape (C_k, n * N_k^dim); for GELU twice that
        size, layer k's pre-activations at ``size / 2 + geo[k, G_OUTOFF]`` (``_pre``).
    cols : flat buffer, written
        im2col of layer k's input at ``geo[k, G_COFF]``, shape (C_{k-1} F^dim, n N_k^dim). One
        buffer may serve every layer (offsets 0) with ``parts = 1`` only.
    pooled : (n, C_K), written
        Global average of f_K over positions.
    out : (n,), written
        ``alpha * (b + c * pooled @ beta)``.
    parts : int
        Channel blocks per layer (see the module's docstring).
    t0, t1 : int
        The parts this call runs: all (0, parts) on one thread, or (t, t + 1) when *parts*
        threads run the same call at once, each its own part.
    sync : (2,) int64, zeros
        The calls' barrier (``_barrier``): they meet after every layer. The readout is part 0's.
    """
    n = out.shape[0]
    threads = parts // (t1 - t0)
    for k in range(-1, geo.shape[0]):
        for t in range(t0, t1):
            _forward_part(t, parts, x, theta, geo, fgeo, act, acts, cols, n, k)
        _barrier(sync, threads)
    if t0 == 0:
        _readout_forward(theta, geo, ro, ro_off, acts, pooled, out)


@ijit
def _readout_forward(theta, geo, ro, ro_off, acts, pooled, out):
    """``pooled[i, c] = mean_p f_K[c, i, p]``; ``out[i] = alpha (b + c beta . pooled[i])``."""
    n = out.shape[0]
    k = geo.shape[0] - 1
    cl = geo[k, G_COUT]
    pk = geo[k, G_HOUT] * geo[k, G_WOUT]
    fk = acts[geo[k, G_OUTOFF]:geo[k, G_OUTOFF] + cl * n * pk].reshape((cl, n * pk))
    alpha = ro[0]
    cro = ro[1]
    invp = ro[2]
    zero = alpha - alpha
    for i in range(n):
        s = zero
        for c in range(cl):
            t = zero
            for p in range(i * pk, (i + 1) * pk):
                t += fk[c, p]
            t = t * invp
            pooled[i, c] = t
            s += theta[ro_off[0] + c] * t
        out[i] = alpha * (theta[ro_off[1]] + cro * s)


@ijit
def _weights_part(t, parts, theta, geo, fgeo, acts, cols, grad, gz, n, m, lr, decay):
    """Part t (its rows) of layer m's ``dW = scale dz cols^T`` (dz in *gz*): into *grad*, or
    with ``lr > 0`` the SGD update ``W <- decay W - lr dW`` in place in theta (one gemm,
    ``alpha = -lr scale``, ``beta = decay``).
    """
    w, _, _, o, c = _layer(theta, geo, acts, cols, m, n)
    r0, r1 = _part(t, parts, o.shape[0])
    dz = gz[:o.size].reshape(o.shape)
    woff = geo[m, G_WOFF]
    scale = fgeo[m, 0]
    step = lr > 0
    dw = (theta if step else grad)[woff:woff + w.size].reshape(w.shape)
    _gemm(dz[r0:r1], False, c, True, dw[r0:r1], -lr * scale if step else scale,
          decay if step else scale - scale)


@ijit
def _descend_vectors(theta, grad, geo, ro_off, lr):
    """``v -= lr dv`` for the biases and the readout (their gradients in *grad*)."""
    for m in range(geo.shape[0]):
        boff = geo[m, G_BOFF]
        if boff >= 0:
            for i in range(boff, boff + geo[m, G_COUT]):
                theta[i] -= lr * grad[i]
    for i in range(ro_off[0], ro_off[1] + 1):  # beta, then b (param_shapes' order)
        theta[i] -= lr * grad[i]


@ijit
def _backward_part(t, parts, theta, geo, fgeo, act, acts, cols, grad, dcols, gp, gk, gin, n, k,
                   lr, decay):
    """Part t of the backward step from layer k to k - 1 (k = K: from the readout; k = 0, -1:
    the weights of layers 1 and 0 only).

    First (0 <= k + 1 < K) the weights of layer k + 1, whose dz_{k+1} is in *gp*
    (``_weights_part``): not before, as the step before read every row of them. Below the top
    (k < K): ``dcols = scale W^T dz_k`` for the rows of part t's input channels of layer k
    (their columns of W), and its col2im into those channels of dL/df_{k-1} (*gin*); *gk* holds
    dz_k. Then for the same channels, rows of layer k - 1: ``dz = dL/df gain phi'`` in place in
    *gin*, and db (into *grad*).
    """
    m = k - 1
    nl = geo.shape[0]
    if 0 <= k + 1 < nl:
        _weights_part(t, parts, theta, geo, fgeo, acts, cols, grad, gp, n, k + 1, lr, decay)
    if k <= 0:
        return
    if k < nl:
        cin, cout, hin, win, hout, wout, fh, fw, kk, qin, qout = _layer_sizes(geo, k, n)
        w = _layer(theta, geo, acts, cols, k, n)[0]
        c0, c1 = _part(t, parts, cin)
        f2 = fh * fw
        dc = dcols[:kk * qout].reshape((kk, qout))
        _gemm(w[:, c0 * f2:c1 * f2], True, gk[:cout * qout].reshape((cout, qout)), False,
              dc[c0 * f2:c1 * f2], fgeo[k, 0])
        _scatter_rows(dc, gin[:cin * qin].reshape((cin, qin)), hin, win, hout, wout, fh, fw,
                      geo[k, G_SH], geo[k, G_SW], c0, c1, 0, n)
    w, b, has_bias, o, c = _layer(theta, geo, acts, cols, m, n)
    boff = geo[m, G_BOFF]
    db = grad[boff:boff + b.size] if has_bias else grad[0:1]
    r0, r1 = _part(t, parts, o.shape[0])
    _dz_rows(gin[:o.size].reshape(o.shape), o, _pre(geo, acts, m, n, act), db, has_bias,
             fgeo[m, 1], act, fgeo[m, 2], r0, r1)


@jit
def _net_backward(theta, geo, fgeo, ro_off, act, acts, cols, n, grad, dcols, ga, gb, gc, lr, decay,
                  parts, t0, t1, sync):
    """Backward pass through the layers (after ``_net_forward`` on the same n samples and
    ``_readout_backward``): parts [t0, t1) of every layer.

    Parameters
    ----------
    grad : (n_params,)
        The readout's gradient on entry; written: the gradient in the layout of theta (with
        ``lr > 0``: of the biases and the readout only).
    cols : flat buffer as left by ``_net_forward`` (one region per layer).
    dcols, ga, gb, gc : flat scratch buffers
        ``dcols`` of at least max_k C_{k-1} F^dim n N_k^dim; ``ga``, ``gb`` and ``gc``
        of at least max_k C_k n N_k^dim, ``ga`` holding dL/df_K on entry.
    lr, decay : scalars of the model dtype
        ``lr = 0``: the gradient only. ``lr > 0``: an SGD step in place in theta as well,
        ``W <- decay W - lr dW`` for the conv weights, ``v <- v - lr dv`` for the biases and the
        readout (every update after the last read of its parameter).
    Other parameters as in ``_net_forward``.
    """
    threads = parts // (t1 - t0)
    gp, gk, gin = gc, gb, ga  # dz of layers k + 1 and k, dL/df then dz of layer k - 1
    for k in range(geo.shape[0], -2, -1):
        for t in range(t0, t1):
            _backward_part(t, parts, theta, geo, fgeo, act, acts, cols, grad, dcols, gp, gk, gin,
                           n, k, lr, decay)
        if k > 0:
            _barrier(sync, threads)
        gp, gk, gin = gk, gin, gp
    if t0 == 0 and lr > 0:  # every part's db is formed, the readout's beta read
        _descend_vectors(theta, grad, geo, ro_off, lr)


@jit
def _readout_backward(theta, geo, ro, ro_off, pooled, dout, grad, ga):
    """Readout gradients into *grad*, and dL/df_K (C_K, n N_K^dim) into *ga* (before
    ``_net_backward``; a kernel of its own, which a cold first run compiles in the main process
    while a child compiles ``_net_backward``).
    """
    n = dout.shape[0]
    nl = geo.shape[0]
    alpha = ro[0]
    cro = ro[1]
    invp = ro[2]
    zero = alpha - alpha
    cl = geo[nl - 1, G_COUT]
    pk = geo[nl - 1, G_HOUT] * geo[nl - 1, G_WOUT]
    s = zero
    for i in range(n):
        s += dout[i]
    grad[ro_off[1]] = alpha * s
    for c in range(cl):
        s = zero
        for i in range(n):
            s += dout[i] * pooled[i, c]
        grad[ro_off[0] + c] = (alpha * cro) * s
    g = ga[:cl * n * pk].reshape((cl, n * pk))
    for c in range(cl):
        beta = (alpha * cro) * theta[ro_off[0] + c] * invp
        for i in range(n):
            v = beta * dout[i]
            for p in range(i * pk, (i + 1) * pk):
                g[c, p] = v
