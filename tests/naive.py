"""Plain-numpy reference implementations (independent of the numba kernels).

Layout here is the public one, ``(n, C, N)`` or ``(n, C, N, N)``; circular padding aligned at 0 is
done with explicit index arrays ``(s u + j) mod N`` and ``np.take`` / ``np.add.at``.
"""

import numpy as np
from scipy.special import ndtr


def _patches(x, f, s):
    """``p[n, c, u, j] = x[n, c, (s u + j) mod N]``: (n, C, Nout, F) or (n, C, Ho, Fh, Wo, Fw)."""
    dim = x.ndim - 2
    n_in = x.shape[2]
    idx = (s * np.arange(n_in // s)[:, None] + np.arange(f)[None, :]) % n_in
    if dim == 1:
        return np.take(x, idx, axis=2)  # (n, C, Nout, F)
    p = np.take(x, idx, axis=2)  # (n, C, Ho, Fh, W)
    return np.take(p, idx, axis=4)  # (n, C, Ho, Fh, Wo, Fw)


def activation(z, act, slope=0.01):
    """phi(z); *slope* is leaky_relu's negative slope; gelu is z Phi(z) with scipy's Phi."""
    if act == "relu":
        return np.maximum(z, 0)
    if act == "tanh":
        return np.tanh(z)
    if act == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if act == "gelu":
        return z * ndtr(z)
    return z.copy()


def activation_grad(z, act, slope=0.01):
    if act == "relu":
        return (z > 0).astype(z.dtype)
    if act == "tanh":
        return 1 - np.tanh(z) ** 2
    if act == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if act == "gelu":
        return ndtr(z) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return np.ones_like(z)


def conv_pre(x, w, b, stride):
    """Pre-activation ``z = conv(x, W) / sqrt(C_in F^dim) + b`` (circular, aligned at 0)."""
    dim = x.ndim - 2
    f = w.shape[-1]
    scale = 1.0 / np.sqrt(w.shape[1] * f ** dim)
    p = _patches(x, f, stride)
    if dim == 1:
        z = np.einsum("ncuj,dcj->ndu", p, w) * scale
    else:
        z = np.einsum("ncufvg,dcfg->nduv", p, w) * scale
    if b is not None:
        z = z + b.reshape((1, -1) + (1,) * dim)
    return z


def conv_forward(x, w, b, stride, act, gain, slope=0.01):
    """``gain * phi(conv_pre(x))``, shape (n, C_out, N/s[, N/s])."""
    return gain * activation(conv_pre(x, w, b, stride), act, slope)


def conv_backward(x, w, b, stride, act, gain, gout, slope=0.01):
    """Gradients ``(dL/dx, dL/dW, dL/db)`` of a layer given ``gout = dL/d out``."""
    dim = x.ndim - 2
    f = w.shape[-1]
    s = stride
    scale = 1.0 / np.sqrt(w.shape[1] * f ** dim)
    z = conv_pre(x, w, b, stride)
    dz = gout * gain * activation_grad(z, act, slope)
    p = _patches(x, f, s)
    n_in = x.shape[2]
    idx = (s * np.arange(n_in // s)[:, None] + np.arange(f)[None, :]) % n_in
    gx = np.zeros_like(x)
    if dim == 1:
        gw = np.einsum("ncuj,ndu->dcj", p, dz) * scale
        gp = np.einsum("dcj,ndu->ncuj", w, dz) * scale  # (n, C, Nout, F)
        for u in range(idx.shape[0]):
            for j in range(f):
                gx[:, :, idx[u, j]] += gp[:, :, u, j]
        gb = dz.sum(axis=(0, 2))
    else:
        gw = np.einsum("ncufvg,nduv->dcfg", p, dz) * scale
        gp = np.einsum("dcfg,nduv->ncufvg", w, dz) * scale
        for u in range(idx.shape[0]):
            for jf in range(f):
                for v in range(idx.shape[0]):
                    for jg in range(f):
                        gx[:, :, idx[u, jf], idx[v, jg]] += gp[:, :, u, jf, v, jg]
        gb = dz.sum(axis=(0, 2, 3))
    return gx, gw, (gb if b is not None else None)


def readout_coef(spec):
    return 1 / np.sqrt(spec.width) if spec.param == "ntk" else 1 / spec.width


def net_forward(spec, params, x):
    """``[f_0, ..., f_K, out]`` of the CNN described by *spec* and *params* (float64)."""
    f = np.asarray(x, dtype=np.float64)
    reps = [f]
    for k in range(1, spec.depth + 1):
        b = params.get(f"conv{k}.bias")
        f = conv_forward(f, params[f"conv{k}.weight"], b, spec.stride, spec.act, spec.gain,
                         spec.negative_slope)
        reps.append(f)
    g = f.mean(axis=tuple(range(2, 2 + spec.dim)))
    out = spec.alpha * (params["readout.bias"][0]
                        + readout_coef(spec) * g @ params["readout.weight"])
    reps.append(out)
    return reps


def net_grads(spec, params, x, dout):
    """Gradient of ``sum_i dout_i out_i`` with respect to every parameter (float64)."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    reps = net_forward(spec, params, x)
    fk = reps[-2]
    g = fk.mean(axis=tuple(range(2, 2 + spec.dim)))
    c = readout_coef(spec)
    grads = {"readout.bias": np.array([spec.alpha * dout.sum()]),
             "readout.weight": spec.alpha * c * dout @ g}
    gf = (spec.alpha * c * dout[:, None] * params["readout.weight"][None, :])
    gf = gf.reshape(gf.shape + (1,) * spec.dim) * np.ones_like(fk) / np.prod(fk.shape[2:])
    for k in range(spec.depth, 0, -1):
        b = params.get(f"conv{k}.bias")
        gx, gw, gb = conv_backward(reps[k - 1], params[f"conv{k}.weight"], b, spec.stride,
                                   spec.act, spec.gain, gf, spec.negative_slope)
        grads[f"conv{k}.weight"] = gw
        if gb is not None:
            grads[f"conv{k}.bias"] = gb
        gf = gx
    return grads
