"""Private numba kernels of the circular, strided convolution (1D and 2D) and its backward pass.

Layout. A representation is stored *channel-major across the batch*: ``f[c, q]`` with
``q = (i * H + h) * W + w`` for sample ``i`` and position ``(h, w)``; 1D is the case ``H = 1``,
``F_h = 1``, ``s_h = 1``. With this layout a layer is one matrix product over
``q = n * H_out * W_out`` columns, whose inner loop is long and contiguous even for small batches.

The convolution of layer k (circular padding aligned at 0, SPEC section 4)::

    cols[(ci, jh, jw), (i, ph, pw)] = f[ci, i, (s_h ph + jh) mod H_in, (s_w pw + jw) mod W_in]
    z = scale * (W @ cols) + b,       f_out = gain * phi(z),       scale = 1 / sqrt(C_in F^dim)

Kernels are dumb: contiguous arrays in, output buffers written, no validation. Every layer forms
its three products with BLAS (numba's ``np.dot``: scipy's sgemm/dgemm, run single-threaded, see
``blas.py``), the first and the narrow ones too: plain serial loops for the layers with fewer
than 32 im2col rows or 16 channels were slower than BLAS there (one core, float32, per SGD step:
1D width 8 0.110 -> 0.083 ms, width 16 0.138 -> 0.130, 2D width 32 0.690 -> 0.663) and their
second code path cost ~1.3 s of the first run's compiling. No ``prange``: few, serial kernels
compile in seconds on a cold first run (threads split the batch, see ``nn/model.py``). Scalars
(``scale``, ``gain``) come with the dtype of the arrays, so the same kernels serve float32 and
float64 without promotion. Inner loops index 1D row views from 0 or with unsigned integers
(numba then emits no negative-index wraparound and LLVM vectorizes them).
"""

import numpy as np

from ._jit import ijit, jit

RELU, TANH, LINEAR = 0, 1, 2
ACT_CODES = {"relu": RELU, "tanh": TANH, "linear": LINEAR}


@jit
def _gather_rows(f, cols, hin, win, hout, wout, fh, fw, sh, sw, ci0, ci1, i0, i1):
    """im2col for channels [ci0, ci1) and samples [i0, i1): ``cols[(ci,jh,jw), (i,ph,pw)]``.

    ``f`` is ``(C_in, n * hin * win)``, ``cols`` is ``(C_in * fh * fw, n * hout * wout)``.
    """
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
def _scatter_rows(dcols, g, scale, hin, win, hout, wout, fh, fw, sh, sw, ci0, ci1, i0, i1):
    """col2im: ``g[ci, i, pos] = scale * sum over (jh, jw, ph, pw) landing on pos of dcols``.

    Channels [ci0, ci1), samples [i0, i1); the sum runs over jh, jw, ph, pw in increasing order.
    """
    pin = hin * win
    pout = hout * wout
    for ci in range(ci0, ci1):
        gr = g[ci, i0 * pin:i1 * pin]
        gr[:] = 0
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
                                gr[dst + sw * pw] += scale * dr[src + pw]
                        else:
                            ud = np.uint64(dst)
                            us = np.uint64(src)
                            usw = np.uint64(sw)
                            for pw in range(np.uint64(nw)):
                                gr[ud + usw * pw] += scale * dr[us + pw]
                        for pw in range(nw, wout):
                            gr[dst + sw * pw - win] += scale * dr[src + pw]


@jit
def _epilogue_rows(z, b, has_bias, scale, gain, act, r0, r1, q0, q1):
    """In place ``z = gain * phi(scale * z + b)`` on rows [r0, r1), columns [q0, q1)."""
    zero = scale - scale
    nq = q1 - q0
    for r in range(r0, r1):
        bb = b[r] if has_bias else zero
        zr = z[r, q0:q1]
        if act == RELU:
            for t in range(nq):
                v = scale * zr[t] + bb
                zr[t] = gain * v if v > zero else zero
        elif act == TANH:
            for t in range(nq):
                zr[t] = gain * np.tanh(scale * zr[t] + bb)
        else:
            for t in range(nq):
                zr[t] = gain * (scale * zr[t] + bb)


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
def _dz_rows(g, f, db, has_bias, gain, act, r0, r1):
    """In place ``g = g * gain * phi'(z)`` (phi' read from the output ``f = gain * phi(z)``).

    Also ``db[r] = sum_q g[r, q]`` in increasing q (if has_bias). relu: phi' = 1[f > 0];
    tanh: phi' = 1 - (f / gain)^2; linear: 1.
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
        else:
            for q in range(nq):
                gr[q] = gain * gr[q]
        if has_bias:
            db[r] = _sum8(gr, zero)


@ijit
def _scale_rows(a, scale, r0, r1):
    """In place ``a[r0:r1] *= scale``."""
    for r in range(r0, r1):
        ar = a[r]
        for k in range(ar.shape[0]):
            ar[k] = scale * ar[k]


# ------------------------------------------------------------------ one layer

@ijit
def _fwd_blas(w, b, has_bias, out, cols, scale, gain, act):
    """Forward of a BLAS layer: ``out = W cols`` (one product), then the epilogue."""
    np.dot(w, cols, out)
    _epilogue_rows(out, b, has_bias, scale, gain, act, 0, w.shape[0], 0, cols.shape[1])


@ijit
def _conv_forward(f, w, b, has_bias, out, cols, n, hin, win, hout, wout, fh, fw, sh, sw, scale,
                  gain, act):
    """One layer forward: ``out = gain * phi(scale * W @ im2col(f) + b)``.

    Parameters
    ----------
    f : (C_in, n * hin * win)
    w : (C_out, C_in * fh * fw)
    b : (C_out,) (ignored unless has_bias)
    out : (C_out, n * hout * wout), written
    cols : (C_in * fh * fw, n * hout * wout), written: im2col(f), kept for the backward pass

    Notes
    -----
    The im2col gather (``C_in F^dim n N_out^dim`` copies, 1/C_out of the product) runs serially.
    """
    _gather_rows(f, cols, hin, win, hout, wout, fh, fw, sh, sw, 0, f.shape[0], 0, n)
    _fwd_blas(w, b, has_bias, out, cols, scale, gain, act)


@ijit
def _bwd_blas(gz, cols, w, dw, dcols, gin, want_gin, scale, n, hin, win, hout, wout, fh, fw, sh,
              sw):
    """Backward of a BLAS layer (after dz): ``dW = scale dz cols^T``; if *want_gin*,
    ``dcols = W^T dz`` and its col2im into dL/df (transposes passed to BLAS, not copied).
    """
    np.dot(gz, cols.T, dw)
    _scale_rows(dw, scale, 0, dw.shape[0])
    if want_gin:
        np.dot(w.T, gz, dcols)
        _scatter_rows(dcols, gin, scale, hin, win, hout, wout, fh, fw, sh, sw, 0, gin.shape[0],
                      0, n)


@ijit
def _conv_backward(gout, out, cols, w, dw, db, has_bias, gin, want_gin, dcols, n, hin, win, hout,
                   wout, fh, fw, sh, sw, scale, gain, act):
    """One layer backward.

    Parameters
    ----------
    gout : (C_out, n * hout * wout)
        dL/d out on entry; overwritten by dL/dz.
    out : (C_out, n * hout * wout)
        The layer's forward output (phi' is read from it).
    cols : (C_in * fh * fw, n * hout * wout)
        im2col of the layer's input (as left by ``_conv_forward``).
    dw : (C_out, C_in * fh * fw), db : (C_out,)
        Written: ``dW = scale * dz @ im2col(f)^T``, ``db = dz summed over q`` (if has_bias).
    gin : (C_in, n * hin * win)
        Written if want_gin: ``dL/df = scale * col2im(W^T @ dz)``.
    dcols : (C_in * fh * fw, n * hout * wout)
        Scratch.
    """
    _dz_rows(gout, out, db, has_bias, gain, act, 0, w.shape[0])
    _bwd_blas(gout, cols, w, dw, dcols, gin, want_gin, scale, n, hin, win, hout, wout, fh, fw, sh,
              sw)


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
# ``fgeo`` (``scale``, ``gain`` per layer) of the model dtype.

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


@jit
def _net_forward(x, theta, geo, fgeo, ro, ro_off, act, acts, cols, pooled, out, k0, k1,
                 readout):
    """Forward pass of layers [k0, k1) of the network, then its readout if *readout*.

    Parameters
    ----------
    x : (n * N_0^dim,)
        Input (one channel), sample-major.
    theta : (n_params,)
        Flat parameters; layer k weight at ``geo[k, G_WOFF]`` (C_out, C_in F^dim), bias at
        ``geo[k, G_BOFF]`` (-1: no bias); readout weight at ``ro_off[0]``, bias at ``ro_off[1]``.
    geo : (K, N_GEO) int64 ; fgeo : (K, 2) (scale = 1/sqrt(C_in F^dim), gain)
    ro : (3,)
        ``alpha``, readout coefficient c (1/sqrt(C) or 1/C), ``1 / N_K^dim``.
    act : int
        Activation code (conv.RELU, TANH, LINEAR).
    acts : flat buffer, written
        Layer k output at ``geo[k, G_OUTOFF]``, shape (C_k, n * N_k^dim).
    cols : flat buffer, written
        im2col of layer k's input at ``geo[k, G_COFF]``, shape (C_{k-1} F^dim, n N_k^dim).
    pooled : (n, C_K), written
        Global average of f_K over positions.
    out : (n,), written
        ``alpha * (b + c * pooled @ beta)`` (if *readout*).
    k0, k1 : int
        The layers run (0 <= k0 <= k1 <= K): layer k0 > 0 reads the output of layer k0 - 1
        from ``acts``.
    readout : bool
        Also the readout (needs k1 = K); ``pooled`` and ``out`` are written only then.
    """
    n = out.shape[0]
    for k in range(k0, k1):
        cin, cout, hin, win, hout, wout, fh, fw, kk, qin, qout = _layer_sizes(geo, k, n)
        woff = geo[k, G_WOFF]
        boff = geo[k, G_BOFF]
        w = theta[woff:woff + cout * kk].reshape((cout, kk))
        has_bias = boff >= 0
        b = theta[boff:boff + cout] if has_bias else theta[0:1]
        inoff = geo[k, G_INOFF]
        if inoff < 0:
            f = x[:qin].reshape((1, qin))
        else:
            f = acts[inoff:inoff + cin * qin].reshape((cin, qin))
        outoff = geo[k, G_OUTOFF]
        o = acts[outoff:outoff + cout * qout].reshape((cout, qout))
        coff = geo[k, G_COFF]
        c = cols[coff:coff + kk * qout].reshape((kk, qout))
        _conv_forward(f, w, b, has_bias, o, c, n, hin, win, hout, wout, fh, fw, geo[k, G_SH],
                      geo[k, G_SW], fgeo[k, 0], fgeo[k, 1], act)
    if readout:
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


@jit
def _net_backward(theta, geo, fgeo, ro, ro_off, act, acts, cols, pooled, dout, grad, dcols, ga,
                  gb, k0, k1, readout):
    """Backward pass of layers k1 - 1 down to k0 (after ``_net_forward`` on the same x), from
    the readout if *readout*.

    Parameters
    ----------
    dout : (n,)
        d loss / d out for every sample (already divided by n for a mean loss).
    grad : (n_params,), written
        Gradient in the layout of theta: the entries of layers [k0, k1) (and of the readout if
        *readout*); the others are left alone.
    cols : flat buffer as left by ``_net_forward``.
    dcols, ga, gb : flat scratch buffers
        ``dcols`` of at least max_k C_{k-1} F^dim n N_k^dim; ``ga`` and ``gb``
        of at least max_k C_k n N_k^dim. Without *readout*, ``ga`` holds dL/df of layer k1 - 1
        on entry, shape (C, n N_{k1}^dim).
    k0, k1 : int
        0 <= k0 <= k1 <= K.
    readout : bool
        Start from d loss / d out through the readout (needs k1 = K).
    Other parameters as in ``_net_forward``.

    Returns
    -------
    int
        0 if dL/df of layer k0 - 1 (k0 > 0) ended in ``ga``, 1 if in ``gb``.
    """
    n = dout.shape[0]
    if readout:
        _readout_backward(theta, geo, ro, ro_off, pooled, dout, grad, ga)
    cur = ga
    other = gb
    which = 0
    for k in range(k1 - 1, k0 - 1, -1):
        cin, cout, hin, win, hout, wout, fh, fw, kk, qin, qout = _layer_sizes(geo, k, n)
        woff = geo[k, G_WOFF]
        boff = geo[k, G_BOFF]
        w = theta[woff:woff + cout * kk].reshape((cout, kk))
        dw = grad[woff:woff + cout * kk].reshape((cout, kk))
        has_bias = boff >= 0
        db = grad[boff:boff + cout] if has_bias else grad[0:1]
        coff = geo[k, G_COFF]
        c = cols[coff:coff + kk * qout].reshape((kk, qout))
        outoff = geo[k, G_OUTOFF]
        o = acts[outoff:outoff + cout * qout].reshape((cout, qout))
        gout = cur[:cout * qout].reshape((cout, qout))
        gin = other[:cin * qin].reshape((cin, qin))
        dc = dcols[:kk * qout].reshape((kk, qout))
        _conv_backward(gout, o, c, w, dw, db, has_bias, gin, k > 0, dc, n, hin, win, hout, wout,
                       fh, fw, geo[k, G_SH], geo[k, G_SW], fgeo[k, 0], fgeo[k, 1], act)
        cur, other = other, cur
        which = 1 - which
    return which


@ijit
def _readout_backward(theta, geo, ro, ro_off, pooled, dout, grad, ga):
    """Readout gradients into *grad*, and dL/df_K (C_K, n N_K^dim) into *ga*."""
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
