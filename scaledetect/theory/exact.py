"""Exact finite-size D_k, G_k, R_k of the idealized pooling net.

The pooling net (``nn.pooling_net``): one channel, every filter weight ``1/F^dim``, zero bias,
activation at every layer, global average and readout. ``predict`` returns the *expectations* that
the Monte Carlo estimators of ``sensitivity.measure`` converge to (ratios of expectations):

    den_k = E_{x, x' iid} ||f_k(x) - f_k(x')||^2 = 2 (E ||f_k||^2 - ||E f_k||^2)
    D_k   = E ||f_k(tau x) - f_k(x)||^2 / den_k
    G_k   = E ||f_k(x + eta) - f_k(x)||^2 / den_k,     R_k = D_k / G_k,

x drawn from the class-balanced distribution (weight ``1/(2 M_+)`` on each valid +1 configuration,
``1/(2 M_-)`` on each -1 one), tau the ``shift`` diffeomorphism (every move outcome enumerated
with its probability, ``perturb.shift_outcomes``), eta Gaussian with the noise matching of
``Perturbation.noise_match``.

*Two methods, same values* (``predict(method=...)``). Points with the block or the distance rule
(periodic or not, either norm, any gap), ``shift_rule="auto"``, batch-matched noise and a ReLU
or linear net take the translation-invariant path: block rule by sums over single positions
(``_translation``), distance rule by sums over the offsets between the two features
weighted by their counts, with the image-edge corrections of the moves (``_distance``), and
the ReLU noise by sums over single positions and the offsets of nearby features
(``_relu.relu_noise``); cost O(N^dim) per layer (2D N = 256 or 1D N = 65,536 in seconds).
Everything else (stripes, other shift rules, sample-matched noise, tanh, nets too small for
the layer-1 patch, windows longer than the image) enumerates every configuration and move
outcome, O(N^(2 dim)). The two agree to ~1e-14 where both run
(``tests/test_theory_translation.py``, ``tests/test_theory_distance.py``).

*Data terms* (den_k and the diffeo numerators) are exact finite sums over every
configuration and every move outcome. For ReLU (inputs >= 0, positive filters, zero bias)
and linear nets ``f_k(x) = a F^(-dim k) C_k u(x)`` with u the unit-amplitude image and C_k an
integer count operator, so these sums are computed on integers (exact zeros stay exactly 0,
e.g. D at the layer whose blocks are the task's blocks); tanh nets are propagated exactly in
float64. A layer with den_k = 0 (e.g. the output of a translation-invariant net on points:
every image has the same pixel sum) gets ``D = nan`` (0/0) or ``inf``.
"""

import numpy as np
from scipy import sparse

from .. import tasks
from ..activations import LINEAR, PROPAGATED, RECTIFIED, Activation
from ..errors import require, require_choice, require_instance
from ..nn.spec import NetSpec
from ..perturb.spec import Perturbation
from ..sensitivity.result import Sensitivities
from ..tasks.configs import require_both_classes
from ..tasks.spec import TaskSpec
from ._data import CHUNK_FLOATS, DataStats, Setup, count_scales, data_counts, r2_norms
from ._distance import distance_data_terms, distance_fits, distance_noise_weights
from ._operators import Operators, overlaps
from ._relu import ReluNoise, block_relu_noise, fits, relu_noise
from ._translation import Axis, block_data_terms, class_weights
from .moments import HERMITE_ORDER, MomentNoise, forward

__all__ = ["CHUNK_FLOATS", "HERMITE_ORDER", "METHODS", "enumerates_pairs", "predict"]

#: ``predict``'s methods: ``auto`` takes ``translation`` where it applies, else ``enumerate``.
METHODS = ("auto", "translation", "enumerate")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Num / den with 0/0 -> nan, x/0 -> inf (degenerate layers: a translation-invariant out)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0),
                        np.where(num > 0, np.inf, np.nan))


def _check(task: TaskSpec, net: NetSpec, pert: Perturbation) -> None:
    require_instance("task", task, TaskSpec)
    require_instance("net", net, NetSpec)
    require_instance("pert", pert, Perturbation)
    require(net.dim == task.dim, "dim", "be the same for task and net", net.dim,
            f"task dim={task.dim}")
    require(net.size == task.size, "size", "be the same for task and net", net.size,
            f"task size={task.size}")
    require(net.width == 1 and not net.bias, "net", "be the idealized pooling net (width 1, no "
            "bias; use net_from_args(a, pooling=True))", f"width={net.width}, bias={net.bias}")
    require(task.shape != "blobs", "shape", "be points or stripes for the exact theory (blob "
            "centres are continuous; measure blobs with `scaledetect sensitivity --pooling`)",
            task.shape)
    require(pert.diffeo == "shift", "diffeo", "be shift for the exact theory (maxent fields are "
            "continuous; measure them with `scaledetect sensitivity --pooling`)", pert.diffeo)
    if net.activation.noise_model != LINEAR:
        ov = overlaps(net)[1:]
        require(np.all(ov < net.filter), "filter", "be < size for the layer-1 noise moments "
                "(two distinct units would see the same window)", net.filter, f"size={net.size}")


# --------------------------------------------------------------------------- noise: linear
def _noise_linear(ops: Operators, net: NetSpec, sigma2: float) -> np.ndarray:
    """``sigma^2 ||B_k||_F^2`` for layers 0..K and out (config independent), B_k input -> k."""
    F, d, K = net.filter, net.dim, net.depth
    fro = [float(ops.C[k].power(2).sum()) * float(F) ** (-2 * k) for k in range(K + 1)]
    out_row = np.asarray(ops.C[K].mean(0)).ravel() / float(F) ** K
    fro.append(float(out_row @ out_row))
    return sigma2 * np.array(fro) ** d


# --------------------------------------------------------------------------- driver
def _translation_covers(task: TaskSpec, net: NetSpec, pert: Perturbation,
                        ops: Operators) -> bool:
    """Whether ``_predict_block`` (no pair enumeration, ``method="translation"``) can compute
    this case: ``shift_rule="auto"``, batch-matched noise, an activation with the linear or the
    rectified noise model, for the distance rule ``_distance.distance_fits`` (points); a linear
    net with the block rule on points or stripes, a rectified (ReLU) net on points whose
    layer-1 patch fits (``_relu.fits``).
    """
    act = net.activation
    if pert.shift_rule != "auto" or pert.noise_match != "batch" or act.noise_model == PROPAGATED:
        return False
    if task.rule == "distance" and not distance_fits(task, net):
        return False
    return act.noise_model == LINEAR or _translation_applies(task, net, pert, ops)


def _translation_applies(task: TaskSpec, net: NetSpec, pert: Perturbation,
                         ops: Operators) -> bool:
    """Whether ``method="auto"`` takes the translation path: it covers the case
    (``_translation_covers``), on points, with a net whose layer-1 patch fits.
    """
    if pert.shift_rule != "auto" or pert.noise_match != "batch":
        return False
    if task.rule == "distance" and not distance_fits(task, net):
        return False
    # linear nets would not need the patch, but they share the ReLU path so that their D is
    # bit-identical to the ReLU net's (both nets are linear on x >= 0)
    return (net.activation.noise_model != PROPAGATED and task.shape == "points"
            and fits(ops, net.dim, net.filter, net.stride, net.size))


def enumerates_pairs(task: TaskSpec, net: NetSpec, pert: Perturbation | None = None) -> bool:
    """Whether ``predict`` sums over every pair of configurations (cost ~ N^(2 dim)) rather
    than over single positions (the translation-invariant path, cost ~ N^dim).
    """
    pert = Perturbation() if pert is None else pert
    return not _translation_applies(task, net, pert, Operators(net))


def _amplitude(task: TaskSpec) -> float:
    """Pixel value of a feature (``tasks.render`` of one configuration)."""
    pos = np.zeros((1, 2, task.coords))
    pos[0, 1, -1] = 1.0
    return float(np.max(tasks.render(task, pos)))


def _predict_block(task: TaskSpec, net: NetSpec, pert: Perturbation,
                   ops: Operators) -> Sensitivities:
    """``predict`` without enumerating pairs: block rule by sums over single positions
    (``_translation``), distance rule by sums over pair offsets (``_distance``), ReLU noise by
    ``_relu.relu_noise``; cost O(N^dim) per layer (times a log) instead of O(N^(2 dim)), same
    values.
    """
    d, K, N = net.dim, net.depth, net.size
    require_both_classes(task)
    if task.rule == "distance":
        den, Dn, pair = distance_data_terms(task, net, ops)
    else:
        mats = [ops.C[k] for k in range(K + 1)] + [sparse.csr_matrix(ops.C[K].sum(0))]
        st = net.stride
        ax = Axis(N, task.xi, mats, [st**k for k in range(K + 1)] + [st**K])
        den, Dn, pair = block_data_terms(task, ax)
    a = _amplitude(task)
    sigma2 = a**2 * Dn[0] / N**d
    sc = count_scales(a, net)
    den, Dn = den * sc, Dn * sc
    if net.activation.noise_model == LINEAR:
        Gn = _noise_linear(ops, net, sigma2)
    elif task.rule == "distance":
        Gn = np.zeros(K + 2)
        h_comps, near = distance_noise_weights(task)
        Gn[1:] = relu_noise(N, d, net.filter, net.stride, ops, a, sigma2, h_comps, near, pair,
                            net.activation)
    else:
        wp, wm = class_weights(task, ax)
        Gn = np.zeros(K + 2)
        Gn[1:] = block_relu_noise(N, d, net.filter, net.stride, ops, a, sigma2, ax.block, wp,
                                  wm, pair, net.activation)
    Gn[0] = sigma2 * N**d
    return _result(task, net, pert, den, Dn, Gn, sigma2, sum(tasks.class_counts(task)))


def _result(task, net, pert, den, Dn, Gn, sigma2, n_configs) -> Sensitivities:
    """``Sensitivities`` from the numerators and denominators (layers 0..K and out)."""
    D, G = _ratio(Dn, den), _ratio(Gn, den)
    R = _ratio(Dn, Gn)
    config = {"source": "theory.predict", "task": task.to_dict(), "net": net.to_dict(),
              "perturbation": pert.to_dict(), "sigma": float(np.sqrt(sigma2)),
              "configs": int(n_configs), "den": den.tolist(),
              "method": _method(net.activation, pert.noise_match)}
    layers = tuple(range(net.depth + 1)) + ("out",)
    return Sensitivities(layers=layers, D=D, G=G, R=R, config=config)


def _method(act: Activation, noise_match: str) -> str:
    """How exact the prediction is: ``exact`` or ``approximate: <what>``."""
    if act.noise_model == PROPAGATED:
        return "approximate: layer 1 exact, deeper layers Gaussian moment propagation"
    if not act.theory_exact:
        return ("approximate: layer 1 exact, deeper layers linear (exact only where their "
                "pre-activations are >= 0, as for ReLU)")
    if act.noise_model == RECTIFIED and noise_match == "sample":
        return ("approximate: sample-matched noise replaced by a Gaussian of per-sample variance "
                "||tau x - x||^2 / N^dim (exact in the zero-signal units)")
    return "exact"


def predict(task: TaskSpec, net: NetSpec, pert: Perturbation | None = None,
            method: str = "auto") -> Sensitivities:
    """Exact D_k, G_k, R_k of the idealized pooling net (layers 0..K and ``"out"``).

    Parameters
    ----------
    task : TaskSpec
        Points or stripes, any rule.
    net : NetSpec
        The pooling net (``width = 1``, ``bias = False``); any F, s with s dividing every side,
        dim 1 or 2, any activation: exact where its record says so (``theory_exact``: relu,
        linear), else layer 1 exact and deeper layers by Gaussian moment propagation (tanh, ...;
        see ``theory.moments.MomentNoise``).
    pert : Perturbation
        ``diffeo = "shift"`` with any ``shift_rule``; ``noise_match`` ``batch`` (sigma^2 =
        E||tau x - x||^2 / N^dim, exact) or ``sample`` (approximate for ReLU, see Notes).
    method : str
        ``translation``: sums over single positions or offsets, O(N^dim) (shift_rule auto,
        batch noise, a linear or rectified noise model, points with a net whose layer-1 patch
        fits or a linear net and the block rule; else a ScaleDetectError). ``enumerate``:
        every configuration and move outcome, O(N^(2 dim)), any case. ``auto`` (default):
        ``translation`` on points where it applies (``enumerates_pairs`` is False), else
        ``enumerate``. See the module docstring.

    Returns
    -------
    Sensitivities
        ``D, G, R`` ``(K + 2,)``; ``*_se`` None; ``config``: inputs, sigma, configs, method.

    Raises
    ------
    ScaleDetectError
        Blobs, maxent diffeos, not the pooling net, mismatched dim/size, a bad *method*.

    Notes
    -----
    *Data terms* and the two methods: see the module docstring. *Noise terms* (by the
    record's ``noise_model``): linear: ``sigma^2 ||B_k||_F^2`` exactly; rectified: the
    record's Gaussian moments at layer 1 propagated linearly (``ReluNoise``; exact for ReLU);
    propagated (tanh, ...): see ``MomentNoise``; ``config["method"]`` says which.
    ``noise_match = "sample"`` (``eta_i`` rescaled to ``||tau x_i - x_i||``) is evaluated with a
    Gaussian of per-sample variance ``sigma_i^2 = ||tau x_i - x_i||^2 / N^dim``: exact for the
    linear net and for every term of the ReLU net that is homogeneous of degree 2 in eta
    (all zero-signal units), approximate only in the O(1/N^dim) terms of the few signal units.
    """
    pert = Perturbation() if pert is None else pert
    require_choice("method", method, METHODS)
    _check(task, net, pert)
    if method == "enumerate":
        return _predict_enumerated(task, net, pert)
    ops = Operators(net)
    if method == "translation":
        require(_translation_covers(task, net, pert, ops), "method", "be auto or enumerate here "
                "(translation needs shift_rule=auto, batch-matched noise, a linear or rectified "
                "noise model, and points with a net whose layer-1 patch fits, or a linear net "
                "and the block rule)", method)
        return _predict_block(task, net, pert, ops)
    if _translation_applies(task, net, pert, ops):
        return _predict_block(task, net, pert, ops)
    return _predict_enumerated(task, net, pert)


def _enumerated_pass1(st: Setup, n_layers: int, count_layers: int):
    """First pass over the configurations: ``S1, Dn`` (count units, the first *count_layers*
    layers), the feature histogram h, ``E ||u(tau x) - u(x)||^2`` and its distinct values.
    """
    r2_tot, r2_vals = 0.0, set()
    S1, Dn = np.zeros(n_layers), np.zeros(n_layers)
    h = np.zeros((st.task.size,) * st.p)
    for sl, pos, outc, q in st.chunks():
        w = st.w[sl]
        for i in range(count_layers):
            s1, dn = data_counts(st, i, pos, outc, w, q)
            S1[i] += s1
            Dn[i] += dn
        r2 = r2_norms(st, pos, outc)
        r2_tot += float(w @ np.sum(q * r2, -1))
        r2_vals.update(np.unique(r2).tolist())
        for f in range(2):
            np.add.at(h, tuple(pos[:, f].T), w)
    return S1, Dn, h, r2_tot, r2_vals


def _predict_enumerated(task: TaskSpec, net: NetSpec, pert: Perturbation) -> Sensitivities:
    """``predict`` by enumerating every configuration and move outcome (any rule)."""
    st = Setup(task, net, pert)
    d, K, N = st.d, st.K, task.size
    n_layers = K + 2
    model = net.activation.noise_model
    a2 = st.a**2
    S1, Dn, h, r2_tot, r2_vals = _enumerated_pass1(st, n_layers,
                                                   n_layers if model != PROPAGATED else 1)
    sigma2 = a2 * r2_tot / N**d
    if pert.noise_match == "batch":
        levels = [(None, sigma2)]
    else:
        levels = [(r, a2 * r / N**d) for r in sorted(r2_vals) if r > 0]

    if model == PROPAGATED:
        noise_fn = {r: MomentNoise(st, s2) for r, s2 in levels}
        data = DataStats(n_layers)
    else:
        noise_fn = {r: ReluNoise(st, s2) for r, s2 in levels} if model == RECTIFIED else {}
        den = np.array([2.0 * (S1[i] - st.hist_norm(i, h)) for i in range(n_layers)])
        den[st.const] = 0.0
        sc = count_scales(st.a, net)
        den, Dn = np.maximum(den, 0.0) * sc, Dn * sc

    Gn = np.zeros(n_layers)
    if model == LINEAR:  # exact for both matchings: E||B eta||^2 = sigma^2 ||B||_F^2 on average
        Gn = _noise_linear(st.ops, net, sigma2)
    else:
        for sl, pos, outc, q in st.chunks():
            w = st.w[sl]
            if model == PROPAGATED:
                fs, fos = forward(st, st.images(pos)), forward(st, st.images(outc))
                for i in range(n_layers):
                    data.add(i, fs[i], fos[i], w, q)
            arg = st.layer1_counts(pos) if model == PROPAGATED else pos
            r2 = r2_norms(st, pos, outc)
            for r, _ in levels:
                wr = w if r is None else w * np.sum(q * (r2 == r), -1)
                Gn[1:] += wr @ noise_fn[r](arg)
        if model == PROPAGATED:
            den, Dn = data.den(), data.Dn
    Gn[0] = sigma2 * N**d

    return _result(task, net, pert, den, Dn, Gn, sigma2, st.M)

