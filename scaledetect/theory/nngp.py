"""Infinite-width (NNGP) prediction of D_k, G_k, R_k for the trainable CNN at initialization.

At initialization the conv weights are ``W ~ N(0, 1)`` used as ``W / sqrt(C_in F^dim)`` and the
biases ``b ~ N(0, bias_std^2)``. As the width C -> infinity every channel of layer k is an
independent Gaussian process over (input, position) with covariance (Neal 1996; Novak et al. 2019)

    K_k(x, u; x', u') = (1 / F^dim) sum_j Q_{k-1}(x, s u + j; x', s u' + j) + bias_std^2 [bias]
    Q_k(x, u; x', u') = gain^2 E[phi(h) phi(h')],  (h, h') ~ N(0, [[K(x,u;x,u), K(x,u;x',u')], ...])
    Q_0(x, p; x', p') = x_p x'_p'

(j runs over the F^dim window offsets, positions mod N_{k-1}); ``E[phi phi]`` is the activation
record's ``dual`` (``scaledetect.activations``): the arc-cosine kernel for ReLU (Cho & Saul 2009),
the covariance for linear, a Gauss-Hermite product rule for tanh. Per channel,
``E ||f_k(x) - f_k(x')||^2 = sum_u (Q_k(x,u;x,u) + Q_k(x',u;x',u) - 2 Q_k(x,u;x',u))``; the
output ``alpha (b + c beta . g)`` (g the position average of f_K, beta ~ N(0, 1)) gives
``E (out(x) - out(x'))^2`` proportional to ``N_K^(-2 dim) sum_{u,u'} (...)``. Constant factors
(C, alpha, c) cancel in D, G, R.

Data and perturbation expectations: the data pairs and the diffeo outcomes are enumerated exactly
when their number is at most ``max_pairs`` (else sampled with ``rng``, weights of the
class-balanced distribution); the noise expectation over eta is a Monte Carlo average over
``n_noise`` draws (config, outcome, eta), whose standard error is returned in ``G_se``.
"""

from dataclasses import dataclass

import numpy as np

from .. import perturb, tasks
from .._random import as_rng
from ..errors import require, require_instance, require_int, require_real
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..sensitivity.result import Sensitivities
from ..tasks.spec import TaskSpec
from ._operators import window_index
from .exact import _ratio

__all__ = ["nngp", "pair_distances"]


def _window_index(net: NetSpec, k: int) -> np.ndarray:
    """Flattened input index of every (output unit, window offset) of layer k, ``(N_k^d, F^d)``."""
    n_out, n_in = net.sizes[k], net.sizes[k - 1]
    idx1 = window_index(net, k)  # (n_out, F)
    if net.dim == 1:
        return idx1
    rows = idx1[:, None, :, None] * n_in + idx1[None, :, None, :]  # (u1, u2, j1, j2)
    return rows.reshape(n_out * n_out, -1)


def pair_distances(net: NetSpec, X: np.ndarray, Y: np.ndarray, bias_std: float = 1.0
                   ) -> np.ndarray:
    """Infinite-width expected squared distances between f(X) and f(Y), per channel.

    Parameters
    ----------
    net : NetSpec
    X, Y : ndarray ``(P, N^dim)``
        Input images (flattened), paired row by row.
    bias_std : float
        Standard deviation of the conv biases (used if ``net.bias``).

    Returns
    -------
    ndarray ``(P, K + 2)``
        Layers 0..K: ``E ||f_k(x) - f_k(y)||^2`` per channel; last column: ``E (g(x) - g(y))^2``
        per channel, g the position average of f_K (the output up to a constant factor).
    """
    K = net.depth
    dual, g2 = net.activation.dual, net.gain * net.gain
    b2 = bias_std**2 if net.bias else 0.0
    P = len(X)
    out = np.empty((P, K + 2))
    out[:, 0] = np.sum((X - Y) ** 2, -1)
    Qxx = X[:, :, None] * X[:, None, :]
    Qyy = Y[:, :, None] * Y[:, None, :]
    Qxy = X[:, :, None] * Y[:, None, :]
    for k in range(1, K + 1):
        idx = _window_index(net, k)
        nf = idx.shape[1]

        def pool(Q, idx=idx, nf=nf):
            return sum(Q[:, idx[:, j][:, None], idx[:, j][None, :]] for j in range(nf)) / nf + b2

        Kxx, Kyy, Kxy = pool(Qxx), pool(Qyy), pool(Qxy)
        vx = np.diagonal(Kxx, axis1=1, axis2=2)
        vy = np.diagonal(Kyy, axis1=1, axis2=2)
        Qxx = g2 * dual(vx[:, :, None], vx[:, None, :], Kxx)
        Qyy = g2 * dual(vy[:, :, None], vy[:, None, :], Kyy)
        Qxy = g2 * dual(vx[:, :, None], vy[:, None, :], Kxy)
        diag = (np.diagonal(Qxx, axis1=1, axis2=2) + np.diagonal(Qyy, axis1=1, axis2=2)
                - 2 * np.diagonal(Qxy, axis1=1, axis2=2))
        out[:, k] = np.sum(diag, -1)
    n = Qxx.shape[1]
    out[:, K + 1] = np.sum(Qxx + Qyy - Qxy - np.swapaxes(Qxy, 1, 2), (1, 2)) / n**2
    return out


def _batched(net, X, Y, bias_std, chunk):
    return np.concatenate([pair_distances(net, X[i:i + chunk], Y[i:i + chunk], bias_std)
                           for i in range(0, len(X), chunk)]) if len(X) else np.zeros((0,))


def _check(task, net, pert, bias_std, max_pairs: int, n_noise: int) -> None:
    """``nngp``'s arguments, each with a one-line error naming it."""
    require_instance("task", task, TaskSpec)
    require_instance("net", net, NetSpec)
    require_instance("pert", pert, Perturbation)
    require_real("bias_std", bias_std)
    require(bias_std >= 0, "bias_std", "be >= 0", bias_std)
    require_int("max_pairs", max_pairs, 1)
    require_int("n_noise", n_noise, 2)
    require(net.dim == task.dim and net.size == task.size, "net", "have the task's dim and size",
            f"dim={net.dim}, size={net.size}", f"task dim={task.dim}, size={task.size}")
    require(pert.diffeo == "shift", "diffeo", "be shift for nngp", pert.diffeo)


def nngp(task: TaskSpec, net: NetSpec, pert: Perturbation | None = None, *,
         bias_std: float = 1.0, max_pairs: int = 4096, n_noise: int = 4096,
         rng: np.random.Generator | int | None = 0) -> Sensitivities:
    """D_k, G_k, R_k of the trainable CNN at initialization in the infinite-width limit.

    Parameters
    ----------
    task : TaskSpec
        Points or stripes (configurations are enumerated).
    net : NetSpec
        Any width (the limit does not depend on it), bias, gain, activation (its ``dual``).
    pert : Perturbation
        ``diffeo = "shift"``; ``noise_match`` batch (sigma^2 = E||tau x - x||^2 / N^dim) or sample.
    bias_std : float
        Standard deviation of the conv biases at initialization (``nn.init_cnn``).
    max_pairs, n_noise : int
        Largest number of data pairs (den) and of (config, outcome) pairs (diffeo numerator)
        enumerated exactly, beyond which that many are sampled; Monte Carlo draws of (config,
        outcome, eta) for the noise numerator.
    rng : Generator, int or None
        Seed of the noise draws and of any data sampling.

    Returns
    -------
    Sensitivities
        Layers 0..K, ``"out"``; ``G_se``, ``R_se`` of the eta Monte Carlo; ``D_se`` 0 (nan sampled).

    Notes
    -----
    Module docstring: the recursion. O(N^(2 dim)) per pair and layer: for small images.
    """
    pert = Perturbation() if pert is None else pert
    _check(task, net, pert, bias_std, max_pairs, n_noise)
    gen = as_rng(rng)
    data = _Data.of(task, pert)
    nd = data.X.shape[1]
    chunk = max(1, (1 << 22) // (nd**2 * max(1, net.activation.dual_nodes) ** 2))

    i, j, wd, den_exact = _data_pairs(data, max_pairs, gen)
    den = wd @ _batched(net, data.X[i], data.X[j], bias_std, chunk)
    c, o, wdn, dexact = _outcome_pairs(data, max_pairs, gen)
    Dn = wdn @ _batched(net, data.X[c], data.O[c, o], bias_std, chunk)
    Gn, Gn_se = _noise_numerator(net, data, pert.noise_match, n_noise, gen, bias_std, chunk)

    D, G, R = _ratio(Dn, den), _ratio(Gn, den), _ratio(Dn, Gn)
    with np.errstate(divide="ignore", invalid="ignore"):
        G_se = np.abs(G) * Gn_se / Gn
        R_se = np.abs(R) * Gn_se / Gn
    D_se = np.zeros_like(D) if dexact and den_exact else np.full_like(D, np.nan)
    config = {"source": "theory.nngp", "task": task.to_dict(), "net": net.to_dict(),
              "perturbation": pert.to_dict(), "bias_std": bias_std,
              "sigma": np.sqrt(data.sigma2), "max_pairs": max_pairs, "n_noise": n_noise,
              "configs": len(data.w)}
    layers = tuple(range(net.depth + 1)) + ("out",)
    return Sensitivities(layers=layers, D=D, G=G, R=R, D_se=D_se, G_se=G_se, R_se=R_se,
                         config=config)


@dataclass(frozen=True)
class _Data:
    """Every valid configuration's image ``X (M, N^dim)``, its shift outcomes ``O (M, m, N^dim)``
    with probabilities ``q (M, m)`` and squared changes ``r2 (M, m)``, the class-balanced
    weights ``w (M,)`` and the batch-matched ``sigma2 = E||tau x - x||^2 / N^dim``.
    """

    X: np.ndarray
    O: np.ndarray  # noqa: E741
    q: np.ndarray
    r2: np.ndarray
    w: np.ndarray
    sigma2: float

    @classmethod
    def of(cls, task: TaskSpec, pert: Perturbation) -> "_Data":
        pos, y = tasks.enumerate_configs(task)
        keep = y != 0
        pos, y = pos[keep], y[keep]
        w = np.where(y > 0, 0.5 / np.sum(y > 0), 0.5 / np.sum(y < 0))
        nd = task.size**task.dim

        def img(p):
            return tasks.render(task, p.reshape(-1, 2, task.coords)).reshape(-1, nd).astype(float)

        X = img(pos)
        outc, q = perturb.shift_outcomes(task, pos, pert.shift_rule)
        O = img(outc).reshape(len(y), q.shape[1], nd)  # noqa: E741
        r2 = np.sum((O - X[:, None]) ** 2, -1)
        return cls(X, O, q, r2, w, float(w @ np.sum(q * r2, -1)) / nd)


def _data_pairs(data: _Data, max_pairs: int, gen: np.random.Generator):
    """Pairs ``(i, j)`` of independent configurations and their weights for den: all of them
    when there are at most *max_pairs*, else that many sampled; and whether it is exact.
    """
    M, w = len(data.w), data.w
    if M * M <= max_pairs:
        i, j = np.meshgrid(np.arange(M), np.arange(M), indexing="ij")
        i, j = i.ravel(), j.ravel()
        return i, j, w[i] * w[j], True
    i, j = gen.choice(M, max_pairs, p=w), gen.choice(M, max_pairs, p=w)
    return i, j, np.full(max_pairs, 1.0 / max_pairs), False


def _outcome_pairs(data: _Data, max_pairs: int, gen: np.random.Generator):
    """(configuration, shift outcome) pairs and weights for the diffeo numerator, exact or
    sampled like ``_data_pairs``.
    """
    (M, m), w, q = data.q.shape, data.w, data.q
    if M * m <= max_pairs:
        return np.repeat(np.arange(M), m), np.tile(np.arange(m), M), (w[:, None] * q).ravel(), \
            True
    c = gen.choice(M, max_pairs, p=w)
    o = np.array([gen.choice(m, p=q[ci]) for ci in c])
    return c, o, np.full(max_pairs, 1.0 / max_pairs), False


def _noise_numerator(net: NetSpec, data: _Data, noise_match: str, n_noise: int,
                     gen: np.random.Generator, bias_std: float, chunk: int):
    """Monte Carlo over (configuration, outcome, eta) of E||f_k(x + eta) - f_k(x)||^2 per layer,
    and its standard error; layer 0 exact for batch-matched noise.
    """
    M, m = data.q.shape
    nd = data.X.shape[1]
    c = gen.choice(M, n_noise, p=data.w)
    eta = gen.standard_normal((n_noise, nd))
    if noise_match == "batch":
        eta *= np.sqrt(data.sigma2)
    else:
        o = np.array([gen.choice(m, p=data.q[ci]) for ci in c])
        eta *= np.sqrt(data.r2[c, o] / np.sum(eta**2, -1))[:, None]
    gd = _batched(net, data.X[c], data.X[c] + eta, bias_std, chunk)
    Gn, Gn_se = gd.mean(0), gd.std(0, ddof=1) / np.sqrt(n_noise)
    if noise_match == "batch":
        Gn[0], Gn_se[0] = data.sigma2 * nd, 0.0
    return Gn, Gn_se
