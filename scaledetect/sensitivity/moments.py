"""Streaming ``mean`` estimator of D_k, G_k, R_k and its delta-method standard errors.

Memory is O(sum_k d_k) per layer set, independent of the number of probes P: a few running sums
per layer, plus the centred representations of the first block of probes (``BLOCK`` rows).
The sums of a batch are formed by one numba kernel per layer (``_kernels.moments``: float64
arithmetic on the float32 or float64 rows, no float64 copy of the batch); batches can be summed
in parallel threads (``partial``) and merged in batch order (``merge``), so the result does not
depend on the threads.
"""

import numpy as np

from .._kernels.moments import _layer_sums
from ..engine import compile_aside, notice_compile, wait_aside
from ..perturb.noise import change_sq
from .probe import BLOCK

# rows of the per-sample statistic matrix Q: 1, r_i, d_i, g_i, d0_i
_ONE, _R, _D, _G, _D0 = range(5)
_NO_D0 = np.empty(0)


# a child process's compiling of the moments kernel (compile_aside): _Layer.partial's types
_WARM = """
import numpy as np
from scaledetect.sensitivity.moments import _NO_D0, _layer_sums
a = np.zeros((2, 3), np.{dtype})
_layer_sums(a, a, a, np.zeros(3), np.zeros(5), _NO_D0, np.zeros((5, 5)), np.zeros((5, 3)),
            np.empty(2))
"""


def compile_sums_aside(dtype) -> None:
    """On a cold cache, compile the moments kernel for *dtype* in a child process meanwhile (a
    measurement calls this first thing, then compiles the network's forward pass).
    """
    compile_aside(_layer_sums, dtype, _WARM)


def _rowsq(a: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, a)


def _rows(*arrays: np.ndarray) -> list[np.ndarray]:
    """*arrays* as C-contiguous 2D arrays of one kernel dtype (float32 if all are, else float64)."""
    arrays = [np.asarray(x) for x in arrays]
    dt = np.result_type(*arrays)
    dt = dt if dt in (np.float32, np.float64) else np.dtype(np.float64)
    return [np.ascontiguousarray(x.reshape(len(x), -1), dtype=dt) for x in arrays]


class _Layer:
    """Running sums of one layer (see ``MeanAccumulator`` for the notation).

    Built from the first batch: its first ``BLOCK`` rows give the centre ``c``, the stored
    centred block ``a0`` and the shift of the statistics (*d0* None: this is layer 0, whose
    diffeo change is d0 itself).
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, e: np.ndarray, d0: np.ndarray | None):
        n0 = min(BLOCK, len(a))
        dtype = a.dtype
        self.eps = float(np.finfo(dtype).eps) if np.dtype(dtype).kind == "f" else 0.0
        a64 = a[:n0].astype(np.float64)
        self.c = a64.mean(axis=0)
        self.a0 = a64 - self.c  # centred first block, (n0, d_k)
        d = change_sq(a[:n0], b[:n0])
        g = change_sq(a[:n0], e[:n0])
        d0 = d if d0 is None else d0[:n0]
        self.shift = np.array([0.0, _rowsq(self.a0).mean(), d.mean(), g.mean(), d0.mean()])
        self.M = np.zeros((5, 5))
        self.T = np.zeros((5, self.c.size))

    def partial(self, a: np.ndarray, b: np.ndarray, e: np.ndarray,
                d0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sums of rows ``a_i = f(x_i)``, ``b_i = f(tau x_i)``, ``e_i = f(x_i + eta_i)`` (``(n,
        d_k)``, any real dtype) with the layer-0 changes *d0* (None: this is layer 0).

        Returns ``(M, T, d)``: ``sum_i q_i q_i^T`` ``(5, 5)``, ``sum_i q_i (a_i - c)^T``
        ``(5, d_k)`` and ``d_i`` ``(n,)``; leaves the running sums alone (thread-safe).
        """
        a, b, e = _rows(a, b, e)
        M, T, d = np.zeros((5, 5)), np.zeros_like(self.T), np.empty(len(a))
        notice_compile(_layer_sums, a.dtype)
        wait_aside(_layer_sums, a.dtype)
        _layer_sums(a, b, e, self.c, self.shift, _NO_D0 if d0 is None else d0, M, T, d)
        return M, T, d

    def add(self, a: np.ndarray, b: np.ndarray, e: np.ndarray,
            d0: np.ndarray | None) -> np.ndarray:
        """Add rows (see ``partial``) to the running sums; return d_i."""
        M, T, d = self.partial(a, b, e, d0)
        self.M += M
        self.T += T
        return d


class MeanAccumulator:
    r"""Streamed sums giving D_k, G_k, R_k and their standard errors for every layer.

    Feed it batches with ``add``; ``finish`` returns the estimates.

    Notes
    -----
    For probe i and layer k let ``a_i = f_k(x_i)`` (flattened), ``d_i = ||f_k(tau x_i) - a_i||^2``,
    ``g_i = ||f_k(x_i + eta_i) - a_i||^2``, ``abar`` the mean of the a_i, and
    ``q_i = ||a_i - abar||^2``. The estimators are

    .. math::

        \mathrm{den} = \frac{1}{P(P-1)} \sum_{i \ne j} \|a_i - a_j\|^2
                     = \frac{2}{P-1} \sum_i q_i, \qquad
        D = \bar d / \mathrm{den}, \quad G = \bar g / \mathrm{den}, \quad R = \bar d / \bar g .

    **Streaming.** The identity ``sum_{i != j} ||a_i - a_j||^2 = 2P sum ||a_i||^2 - 2||sum a_i||^2``
    is used on representations centred at ``c``, the mean of the first ``BLOCK`` probes, so that
    the two terms do not cancel: with ``r_i = ||a_i - c||^2`` and ``v = abar - c``,
    ``sum_i q_i = sum_i r_i - P ||v||^2``. Everything is computed and accumulated in float64.

    **Standard errors (delta method).** den is a U-statistic with kernel ``||a - b||^2``; its
    Hoeffding projection gives ``den - E den ~ (1/P) sum_i 2 (q_i - qbar)``. The first-order
    influence of probe i on each ratio is therefore

    .. math::

        \psi^D_i = [(d_i - \bar d) - 2 D (q_i - \bar q)] / \mathrm{den}, \quad
        \psi^G_i = [(g_i - \bar g) + \kappa (d^0_i - \bar d^0) - 2 G (q_i - \bar q)]
                   / \mathrm{den}, \quad
        \psi^R_i = [(d_i - \bar d) - R ((g_i - \bar g) + \kappa (d^0_i - \bar d^0))] / \bar g,

    and ``se^2 = sum_i psi_i^2 / (P (P - 1))``. The term in ``d0_i = ||tau x_i - x_i||^2`` (the
    layer-0 diffeo change) is the influence of probe i on the batch-matched noise level
    ``sigma^2 = mean_i d0_i / N^dim``: ``kappa = e_k gbar / d0bar`` with ``e_k = d log gbar_k /
    d log sigma^2`` (1 at the input, estimated by ``measure`` by finite differences; 0 for
    sample-matched noise, where g_i depends on probe i only). Without it se(G_0) would miss its
    dominant part, since G_0 = D_0 up to the chi-square fluctuation of ||eta||^2.
    The second-order U-statistic term of Var(den), ``2 Var(||a - b||^2) / P^2``, is dropped:
    relative to the first-order term it is O(1/P).

    The sums needed (``sum (d - dbar)(q - qbar)`` etc.) are expanded with
    ``q_i = r_i - 2 w_i + ||v||^2``, ``w_i = (a_i - c) . v``: every term is a running scalar sum
    or a running vector ``sum_i x_i (a_i - c)`` dotted with v at the end, except
    ``sum_i (w_i - wbar)^2 = v^T S v`` (S the scatter matrix, d_k x d_k). That one is estimated
    from the stored first block, ``(P - 1)/(n_0 - 1) sum_{i < n_0} w_i^2`` (``c`` is that block's
    mean, so its w_i are centred); it is ``O(1/n_0)`` of ``Var(q)`` and enters the standard error
    only, never the estimates.

    A layer whose representation is constant up to rounding
    (``den <= (100 eps)^2 mean ||a_i||^2``, eps of the model dtype) does not separate probes:
    its D and G are undefined (NaN); R = dbar / gbar is still reported.

    """

    def __init__(self):
        self.layers: list[_Layer] | None = None
        self.count = 0

    def start(self, clean: list, diffeo: list, noise: list) -> None:
        """Centre and shift every layer on a first batch (lists over layers of ``(n, d_k)``
        representations, layer 0 the input); later calls do nothing.
        """
        if self.layers is not None:
            return
        layers, d0 = [], None
        for c, b, e in zip(clean, diffeo, noise, strict=True):
            c, b, e = (np.asarray(x)[:BLOCK] for x in (c, b, e))
            layers.append(_Layer(c, b, e, d0))  # eps of the representation's own dtype
            if d0 is None:
                d0 = change_sq(c, b)
        self.layers = layers

    def partial(self, clean: list, diffeo: list, noise: list) -> tuple[list, int]:
        """The sums of a batch, not yet added (thread-safe once ``start`` has run).

        Returns
        -------
        sums : list over layers of ``(M (5, 5), T (5, d_k))``
        n : int
            Number of probes in the batch.
        """
        sums, d0 = [], None
        for lay, c, b, e in zip(self.layers, clean, diffeo, noise, strict=True):
            M, T, d = lay.partial(c, b, e, d0)
            sums.append((M, T))
            if d0 is None:
                d0 = d
        return sums, len(d0)

    def merge(self, part: tuple[list, int]) -> None:
        """Add the sums of a batch (``partial``); merging in batch order fixes the rounding."""
        sums, n = part
        for lay, (M, T) in zip(self.layers, sums, strict=True):
            lay.M += M
            lay.T += T
        self.count += n

    def add(self, clean: list, diffeo: list, noise: list) -> None:
        """Add a batch: lists over layers of ``(n, d_k)`` representations (layer 0 the input)."""
        self.start(clean, diffeo, noise)
        self.merge(self.partial(clean, diffeo, noise))

    def finish(self, elasticity: np.ndarray | None = None) -> dict:
        """Estimates and standard errors of every layer.

        Parameters
        ----------
        elasticity : ``(L,)`` or None
            ``e_k = d log gbar_k / d log sigma^2`` for batch-matched noise; None (sample-matched
            noise) means the noise level does not depend on other probes.

        Returns
        -------
        dict of ``(L,)`` float64 arrays
            ``D, G, R, D_se, G_se, R_se`` and the pieces ``den, dbar, gbar``.

        """
        P = self.count
        out = {name: np.empty(len(self.layers)) for name in
               ("D", "G", "R", "D_se", "G_se", "R_se", "den", "dbar", "gbar")}
        for k, lay in enumerate(self.layers):
            e = 0.0 if elasticity is None else float(elasticity[k])
            res = _finish_layer(lay, P, e)
            for name, value in res.items():
                out[name][k] = value
        return out


def _finish_layer(lay: _Layer, P: int, e: float) -> dict:
    M, T, sh = lay.M, lay.T, lay.shift
    s = M[_ONE]  # sums of shifted statistics; s[0] = P
    v = T[_ONE] / P
    vv = float(v @ v)
    mean = sh + s / P  # mean of 1(=1 - 0 shift), r, d, g, d0

    def cov(x, y):  # sum_i (x_i - xbar)(y_i - ybar)
        return M[x, y] - s[x] * s[y] / P

    def cov_w(x):  # sum_i (x_i - xbar)(w_i - wbar)
        return float(v @ T[x]) - s[x] * vv

    w0 = np.einsum("nd,d->n", lay.a0, v)
    n0 = len(w0)
    c_ww = (P - 1) / (n0 - 1) * float(w0 @ w0) if n0 > 1 else 0.0

    def cov_q(x):  # sum_i (x_i - xbar)(q_i - qbar), x in d, g, d0
        return cov(x, _R) - 2.0 * cov_w(x)

    c_qq = max(cov(_R, _R) - 4.0 * cov_w(_R) + 4.0 * c_ww, 0.0)
    sum_q = P * sh[_R] + s[_R] - P * vv
    den = 2.0 * sum_q / (P - 1)
    dbar, gbar, d0bar = mean[_D], mean[_G], mean[_D0]
    mean_sq = mean[_R] + 2.0 * float(lay.c @ v) + float(lay.c @ lay.c)
    defined = den > (100.0 * lay.eps) ** 2 * mean_sq and den > 0
    kappa = e * gbar / d0bar if d0bar > 0 else 0.0
    norm = P * (P - 1)

    with np.errstate(divide="ignore", invalid="ignore"):
        R = dbar / gbar
        var_gk = cov(_G, _G) + 2 * kappa * cov(_G, _D0) + kappa**2 * cov(_D0, _D0)
        ss_R = cov(_D, _D) - 2 * R * (cov(_D, _G) + kappa * cov(_D, _D0)) + R**2 * var_gk
        R_se = np.sqrt(max(ss_R, 0.0) / norm) / gbar
        if defined:
            D, G = dbar / den, gbar / den
            ss_D = cov(_D, _D) - 4 * D * cov_q(_D) + 4 * D**2 * c_qq
            ss_G = (var_gk - 4 * G * (cov_q(_G) + kappa * cov_q(_D0)) + 4 * G**2 * c_qq)
            D_se = np.sqrt(max(ss_D, 0.0) / norm) / den
            G_se = np.sqrt(max(ss_G, 0.0) / norm) / den
        else:
            D = G = D_se = G_se = np.nan
    return {"D": D, "G": G, "R": R, "D_se": D_se, "G_se": G_se, "R_se": R_se,
            "den": den, "dbar": dbar, "gbar": gbar}
