"""``measure``: layer-wise relative sensitivities D_k, G_k, R_k of a network."""

import numpy as np

from ..errors import require, require_choice
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec
from . import probe as _probe
from .median import MedianCollector
from .moments import MeanAccumulator
from .result import Sensitivities

ESTIMATORS = ("mean", "median")
_BATCH_BYTES = 96 * 2**20  # working memory targeted by the automatic batch size
_MAX_BATCH = 8192
_ELASTICITY_STEP = 0.2  # relative change of sigma^2 for the finite-difference elasticity


def _layer_dims(model, channel_mean: bool) -> list[int]:
    """Flattened sizes d_k of f_0 .. f_K and the output."""
    spec = model.spec
    dims = []
    for k, n in enumerate(spec.sizes):
        c = 1 if (k == 0 or channel_mean) else spec.width
        dims.append(c * n**spec.dim)
    return dims + [1]


def _auto_batch(model, channel_mean: bool) -> int:
    per_probe = sum(_layer_dims(model, channel_mean)) * 3 * 24  # 3 reps; float64 work copies
    n = _BATCH_BYTES // max(per_probe, 1)
    return int(min(_MAX_BATCH, max(_probe.BLOCK, n // _probe.BLOCK * _probe.BLOCK)))


def _elasticity(model, x: np.ndarray, x_noise: np.ndarray, clean: list,
                channel_mean: bool) -> np.ndarray:
    """``e_k = d log gbar_k / d log sigma^2`` by a central difference on the same noise draws.

    ``gbar_k(s)`` is the mean over the probes *x* of ``||f_k(x + sqrt(s) eta) - f_k(x)||^2`` with
    ``eta = x_noise - x`` rescaled, and *clean* the layers ``f_k(x)`` (``(n, d_k)`` each);
    e_k = 1 when f_k is linear, 0 when gbar_k = 0.
    """
    h = _ELASTICITY_STEP
    x64 = np.asarray(x, np.float64)
    eta = np.asarray(x_noise, np.float64) - x64
    lo = (x64 + np.sqrt(1 - h) * eta).astype(np.float32)
    hi = (x64 + np.sqrt(1 + h) * eta).astype(np.float32)
    reps = _probe.representations(model, np.concatenate([lo, hi]), channel_mean)
    n = len(x)
    e = np.zeros(len(reps))
    for k, (f, a) in enumerate(zip(reps, clean, strict=True)):
        f, a = np.asarray(f, np.float64), np.asarray(a, np.float64)
        g_lo = np.mean(np.sum((f[:n] - a) ** 2, axis=1))
        g_hi = np.mean(np.sum((f[n:] - a) ** 2, axis=1))
        if g_lo > 0 and g_hi > 0:
            e[k] = np.log(g_hi / g_lo) / np.log((1 + h) / (1 - h))
    return e


def measure(model, task: TaskSpec, pert: Perturbation = Perturbation(),  # noqa: B008 (frozen)
            probe: int = 4096,
            rng: np.random.Generator | int | None = 0, estimator: str = "mean",
            channel_mean: bool = False, batch_size: int | None = None) -> Sensitivities:
    r"""Relative sensitivities to diffeomorphisms and to noise at every layer of *model*.

    Parameters
    ----------
    model : CNN
        Anything with ``spec`` (a ``NetSpec``) and ``forward(x, layers=True)`` returning
        ``[f_0 = x, f_1, ..., f_K, out]``, f_k of shape ``(n, C, N_k[, N_k])``, out ``(n,)``.
    task : TaskSpec
        Its ``dim`` and ``size`` must be the model's input.
    pert : Perturbation
        The diffeomorphism and the noise matching.
    probe : int
        Number of probes P (>= 2), drawn from the task's class-balanced distribution with a seed
        of their own (so independent of any training set).
    rng : Generator, int or None
        Seed of the probe set and of every perturbation (a Generator contributes 63 random bits).
    estimator : str
        ``mean`` (with standard errors) or ``median`` (Petrini et al. 2021; see
        ``MedianCollector``; no standard errors).
    channel_mean : bool
        Average each f_k (k = 1..K) over its channels before measuring: isolates spatial from
        channel pooling. f_0 has one channel; the output has none.
    batch_size : int or None
        Probes per forward pass, rounded up to a multiple of ``BLOCK`` = 256; None picks one
        that keeps the working memory near 100 MB. The result does not depend on it beyond
        float64 rounding.

    Returns
    -------
    Sensitivities
        ``layers = (0, 1, ..., K, "out")``; ``D_se, G_se, R_se`` for ``mean``, None for
        ``median``; ``config`` records task, net, perturbation, probe, seed, estimator,
        channel_mean and the batch-matched ``sigma``.

    Notes
    -----
    With ``a_i = f_k(x_i)`` flattened over channels and positions,

    .. math::

        \mathrm{den}_k = \frac{1}{P(P-1)} \sum_{i \ne j} \|a_i - a_j\|^2, \quad
        D_k = \frac{1}{P} \sum_i \frac{\|f_k(\tau_i x_i) - a_i\|^2}{\mathrm{den}_k}, \quad
        G_k = \frac{1}{P} \sum_i \frac{\|f_k(x_i + \eta_i) - a_i\|^2}{\mathrm{den}_k}, \quad
        R_k = D_k / G_k .

    The probes are streamed in batches; each batch is one forward pass of its clean, deformed
    and noisy images, giving every layer at once. Memory does not grow with P (beyond the
    ``(P, 2, p)`` positions): den_k comes from running sums (see ``MeanAccumulator`` for the
    centring and for the delta-method standard errors, which include the U-statistic variance
    of den_k and, for batch-matched noise, the dependence of sigma on the whole probe set).
    Batch-matched noise first needs sigma: a first pass renders and deforms every probe and
    keeps only ``sum ||tau x_i - x_i||^2``; the second pass regenerates the same diffeos.
    The elasticity ``e_k = d log gbar_k / d log sigma^2`` entering se(G), se(R) is estimated on
    the first 256 probes by a central difference (sigma^2 scaled by 1 +- 0.2, same noise draws).

    The class-balanced sample has exactly P/2 probes per class; the standard errors treat the
    probes as i.i.d. from the mixture, which slightly overstates them (stratification only
    lowers the variance).

    Examples
    --------
    >>> from scaledetect import NetSpec, TaskSpec, nn                        # doctest: +SKIP
    >>> net = NetSpec(dim=1, size=64, depth=5, width=1, bias=False)          # doctest: +SKIP
    >>> s = measure(nn.pooling_net(net), TaskSpec(size=64, xi=32), probe=2048)  # doctest: +SKIP
    >>> print(s.table())                                                     # doctest: +SKIP

    """
    require(isinstance(task, TaskSpec), "task", "be a TaskSpec", type(task).__name__)
    require(isinstance(pert, Perturbation), "pert", "be a Perturbation", type(pert).__name__)
    require(hasattr(model, "forward") and hasattr(model, "spec"), "model",
            "have .spec and .forward(x, layers=True)", type(model).__name__)
    spec = model.spec
    require(spec.dim == task.dim, "task.dim", "equal the model's input dimension", task.dim,
            f"model dim={spec.dim}")
    require(spec.size == task.size, "task.size", "equal the model's input size", task.size,
            f"model size={spec.size}")
    require(isinstance(probe, (int, np.integer)) and probe >= 2, "probe",
            "be an integer >= 2", probe)
    require_choice("estimator", estimator, ESTIMATORS)
    if batch_size is None:
        batch_size = _auto_batch(model, channel_mean)
    require(isinstance(batch_size, (int, np.integer)) and batch_size >= 1, "batch_size",
            "be an integer >= 1 or None", batch_size)
    block = _probe.BLOCK
    batch_size = int(-(-batch_size // block) * block)

    seed = _probe.root_seed(rng)
    ps = _probe.draw(task, pert, int(probe), seed)
    acc = MeanAccumulator() if estimator == "mean" else MedianCollector()
    elasticity = None
    for b in _probe.batches(model, ps, batch_size, channel_mean):
        if b.start == 0 and estimator == "mean" and pert.noise_match == "batch":
            n0 = min(block, len(b.x))
            elasticity = _elasticity(model, b.x[:n0], b.x_noise[:n0],
                                     [f[:n0] for f in b.clean], channel_mean)
        acc.add(b.clean, b.diffeo, b.noise)
    res = acc.finish(elasticity) if estimator == "mean" else acc.finish()

    layers = tuple(range(spec.depth + 1)) + ("out",)
    config = {
        "task": task.to_dict(),
        "net": spec.to_dict(),
        "perturbation": pert.to_dict(),
        "probe": int(probe),
        "seed": seed,
        "estimator": estimator,
        "channel_mean": bool(channel_mean),
        "sigma": ps.sigma,
    }
    se = {name: res.get(name) for name in ("D_se", "G_se", "R_se")}
    return Sensitivities(layers=layers, D=res["D"], G=res["G"], R=res["R"], config=config, **se)
