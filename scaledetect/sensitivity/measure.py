r"""``measure``: layer-wise relative sensitivities D_k, G_k, R_k of a network.

With ``a_i = f_k(x_i)`` flattened over channels and positions,

.. math::

    \mathrm{den}_k = \frac{1}{P(P-1)} \sum_{i \ne j} \|a_i - a_j\|^2, \quad
    D_k = \frac{1}{P} \sum_i \frac{\|f_k(\tau_i x_i) - a_i\|^2}{\mathrm{den}_k}, \quad
    G_k = \frac{1}{P} \sum_i \frac{\|f_k(x_i + \eta_i) - a_i\|^2}{\mathrm{den}_k}, \quad
    R_k = D_k / G_k .

With ``probe_noise`` = sigma_c > 0 every probe is first corrupted, as the images of
noise-corrupted training are (``perturb.corrupt``): ``x_i -> x_i + n_i`` with
``n_i ~ N(0, s^2 I)`` one fixed draw per probe, ``s = sigma_c sqrt(mean_i ||x_i||^2 / D)``
over the clean probe set (D = C N^dim pixels; ``perturb.corruption_std``, the level of
training). The same n_i rides on the deformed and the noisy probe, so that the numerators
measure the diffeo's and the noise's change at the corrupted point:

.. math::

    a_i = f_k(x_i + n_i), \quad
    D_k = \frac{1}{P} \sum_i \frac{\|f_k(\tau_i x_i + n_i) - a_i\|^2}{\mathrm{den}_k},
    \quad
    G_k = \frac{1}{P} \sum_i \frac{\|f_k(x_i + n_i + \eta_i) - a_i\|^2}{\mathrm{den}_k},

den_k as above over the corrupted a_i, and eta_i matched to the clean change
``||tau_i x_i - x_i||`` (batch sigma over the clean probe set, as without corruption). For a
linear layer ``f_k = A_k`` the numerators are those of the clean probes, and

.. math::

    \mathrm{den}'_k = \mathrm{den}_k
    + \frac{2}{P(P-1)} \sum_{i \ne j} \langle A_k(x_i - x_j), A_k(n_i - n_j) \rangle
    + \frac{1}{P(P-1)} \sum_{i \ne j} \|A_k(n_i - n_j)\|^2,

of expectation ``den_k + 2 s^2 ||A_k||_F^2``. The n_i come from a random stream of their own
per 256-probe block, like the diffeos and eta; ``probe_noise = 0`` draws nothing and gives
the clean measurement bit for bit.

The probes are streamed in batches; each batch is one forward pass of its clean, deformed
and noisy images, giving every layer at once. Two threads make and measure batches at once
(each with its own copy of a numba model) and their sums are merged in batch order; the
first pass below also runs on two threads; neither changes a number. Memory does not grow
with P (beyond the
``(P, 2, p)`` positions, or the user's images): den_k comes from running sums (see
``MeanAccumulator`` for the centring and for the delta-method standard errors, which
include the U-statistic variance of den_k and, for batch-matched noise, the dependence of
sigma on the whole probe set). Batch-matched noise first needs sigma: a first pass renders
and deforms every probe and keeps only ``sum ||tau x_i - x_i||^2``; the second pass
regenerates the same diffeos. The elasticity ``e_k = d log gbar_k / d log sigma^2``
entering se(G), se(R) is estimated on the first 256 probes by a central difference
(sigma^2 scaled by 1 +- 0.2, same noise draws). The ``median`` estimator holds every
representation (memory O(P)).

The class-balanced sample has exactly P/2 probes per class; the standard errors treat the
probes as i.i.d. from the mixture, which slightly overstates them (stratification only
lowers the variance).
"""

import numpy as np

from ..errors import ScaleDetectError, require, require_bool, require_choice, require_int
from ..perturb.noise import change_sq
from ..perturb.spec import Perturbation
from ..tasks.spec import TaskSpec
from . import probe as _probe
from .median import MedianCollector
from .moments import MeanAccumulator, compile_sums_aside
from .result import Sensitivities
from .source import CNNSource, as_source

ESTIMATORS = ("mean", "median")
_BATCH_BYTES = 96 * 2**20  # working memory targeted by the automatic batch size
_MAX_BATCH = 8192
_ELASTICITY_STEP = 0.2  # relative change of sigma^2 for the finite-difference elasticity


def _layer_dims(source, x_shape: tuple, channel_mean: bool) -> list[int]:
    """Flattened sizes d_k of every layer (from the source, or one forward pass of a zero image)."""
    if hasattr(source, "dims"):
        return source.dims(channel_mean)
    reps = _probe.representations(source, np.zeros((1,) + tuple(x_shape), np.float32),
                                  channel_mean)
    return [f.shape[1] for f in reps]


def _auto_batch(source, x_shape: tuple, channel_mean: bool) -> int:
    # 3 representations of at most 8 bytes per entry, for each of the batches in flight
    per_probe = sum(_layer_dims(source, x_shape, channel_mean)) * 3 * 8 * (_probe.WORKERS + 1)
    n = _BATCH_BYTES // max(per_probe, 1)
    return int(min(_MAX_BATCH, max(_probe.BLOCK, n // _probe.BLOCK * _probe.BLOCK)))


def _elasticity(source, x: np.ndarray, x_noise: np.ndarray, clean: list,
                channel_mean: bool) -> np.ndarray:
    """``e_k = d log gbar_k / d log sigma^2`` by a central difference on the same noise draws.

    ``gbar_k(s)`` is the mean over the probes *x* of ``||f_k(x + sqrt(s) eta) - f_k(x)||^2`` with
    ``eta = x_noise - x`` rescaled, and *clean* the layers ``f_k(x)`` (``(n, d_k)`` each);
    e_k = 1 when f_k is linear, 0 when gbar_k = 0.
    """
    h = _ELASTICITY_STEP
    x = np.asarray(x, np.float32)
    eta = np.asarray(x_noise, np.float32) - x  # float32, like the noise itself
    lo = x + np.float32(np.sqrt(1 - h)) * eta
    hi = x + np.float32(np.sqrt(1 + h)) * eta
    reps = _probe.representations(source, np.concatenate([lo, hi]), channel_mean)
    n = len(x)
    e = np.zeros(len(reps))
    for k, (f, a) in enumerate(zip(reps, clean, strict=True)):
        g_lo = np.mean(change_sq(a, f[:n]))
        g_hi = np.mean(change_sq(a, f[n:]))
        if g_lo > 0 and g_hi > 0:
            e[k] = np.log(g_hi / g_lo) / np.log((1 + h) / (1 - h))
    return e


def _check_input(source, task: TaskSpec | None, images, pert, probe, estimator) -> tuple:
    """Validate the arguments of ``measure`` against the source; return the probe image shape."""
    require(isinstance(pert, Perturbation), "pert", "be a Perturbation", type(pert).__name__)
    if probe is not None:
        require_int("probe", probe, 2)
    require_choice("estimator", estimator, ESTIMATORS)
    require((task is None) != (images is None), "task/images", "give exactly one of them",
            f"task={'set' if task is not None else None}, "
            f"images={'set' if images is not None else None}")
    if task is not None:
        require(isinstance(task, TaskSpec), "task", "be a TaskSpec", type(task).__name__)
        shape = task.image_shape
        if isinstance(source, CNNSource):
            spec = source.spec
            require(spec.dim == task.dim, "task.dim", "equal the model's input dimension",
                    task.dim, f"model dim={spec.dim}")
            require(spec.size == task.size, "task.size", "equal the model's input size",
                    task.size, f"model size={spec.size}")
    else:
        shape = tuple(np.shape(images)[1:])
    want = source.input_shape
    require(want is None or tuple(want) == tuple(shape), "image shape",
            f"equal the model's input shape {tuple(want) if want else None}", shape)
    return shape


def measure(model, task: TaskSpec | None = None,
            pert: Perturbation = Perturbation(), probe: int | None = None,  # noqa: B008
            rng: np.random.Generator | int | None = 0, estimator: str = "mean",
            channel_mean: bool = False, batch_size: int | None = None,
            images: np.ndarray | None = None, probe_noise: float = 0.0) -> Sensitivities:
    r"""Relative sensitivities to diffeomorphisms and to noise at every layer of *model*
    (estimators, corrupted probes and streaming: the module docstring).

    Parameters
    ----------
    model : CNN, LayerSource or callable
        A numba ``CNN`` (``forward(x, layers=True)`` gives ``[f_0 = x, f_1, ..., f_K, out]``),
        a ``LayerSource`` (e.g. a PyTorch module through ``scaledetect.deep.ModuleSource``) or
        a function ``x -> [f_0, ..., out]``; arrays ``(n, C, ...)``, the last the output.
    task : TaskSpec, optional
        Probes drawn from this task (its ``image_shape`` must be the model's input).
    pert : Perturbation
        The diffeomorphism and the noise matching.
    probe : int or None
        Number of probes P (>= 2). With *task*: drawn class-balanced with a seed of their own;
        None means 4096. With *images*: that many drawn without replacement; None: all.
    rng : Generator, int or None
        Seed of the probe set and of every perturbation.
    estimator : str
        ``mean`` (with standard errors) or ``median`` (Petrini et al. 2021, ``MedianCollector``).
    channel_mean : bool
        Average each representation over its channels first: spatial pooling alone.
    batch_size : int or None
        Probes per forward pass, a multiple of ``BLOCK`` = 256; None keeps the working memory
        near 100 MB. The result does not depend on it beyond float64 rounding.
    images : ``(n, C, N[, N])``, optional
        A user's own images instead of a task: ``pert.diffeo = "maxent"`` only (one field per
        image, shared by its channels).
    probe_noise : float
        Relative level sigma_c >= 0 of Gaussian corruption of the probes (nets trained with
        ``train_noise``): each probe is measured at ``x_i + n_i``. 0: clean probes.

    Returns
    -------
    Sensitivities
        The source's layer labels (``(0, 1, ..., K, "out")`` for a CNN), names and depths,
        ``*_se`` for ``mean``; ``config``: task (or images), source, perturbation, probe, seed,
        estimator, channel_mean, the batch-matched ``sigma``, ``probe_noise`` (and its std).

    Examples
    --------
    ``measure(pooling_net(NetSpec(size=64, depth=5, width=1, bias=False)),
    TaskSpec(size=64, xi=32), probe=2048).table()``
    """
    source = as_source(model)
    shape = _check_input(source, task, images, pert, probe, estimator)
    require_bool("channel_mean", channel_mean)
    seed = _probe.root_seed(rng)
    ps = (_probe.draw(task, pert, 4096 if probe is None else int(probe), seed, probe_noise)
          if task is not None else _probe.draw_images(images, pert, probe, seed, probe_noise))
    batch_size = _auto_batch(source, shape, channel_mean) if batch_size is None else batch_size
    require(isinstance(batch_size, (int, np.integer)) and batch_size >= 1, "batch_size",
            "be an integer >= 1 or None", batch_size)
    res = _run(source, ps, batch_size, channel_mean, estimator)
    return _result(res, source, task, images, shape, ps, estimator, channel_mean)


def _result(res: dict, source, task, images, shape, ps, estimator: str,
            channel_mean: bool) -> Sensitivities:
    """``Sensitivities`` from the estimates *res* of ``_run``, with their configuration."""
    labels = tuple(source.labels)
    require(len(labels) == len(res["D"]), "model", "give one label per layer", len(labels))
    where = ({"task": task.to_dict()} if task is not None else
             {"images": {"count": int(len(images)), "shape": [int(v) for v in shape]}})
    config = {**where, **source.config, **_config(ps, estimator, channel_mean)}
    se = {name: res.get(name) for name in ("D_se", "G_se", "R_se")}
    return Sensitivities(layers=labels, D=res["D"], G=res["G"], R=res["R"], config=config,
                         names=source.names, depths=source.depths, **se)


def _config(ps, estimator: str, channel_mean: bool) -> dict:
    """What a measurement records beside its task and model."""
    return {"perturbation": ps.pert.to_dict(), "probe": ps.size, "seed": ps.seed,
            "estimator": estimator, "channel_mean": bool(channel_mean), "sigma": ps.sigma,
            "probe_noise": ps.probe_noise, "probe_noise_std": ps.corrupt_std}


def _require_finite(source, b) -> None:
    """Raise unless every layer of batch *b* (clean, deformed and noisy probes) is finite: a
    NaN or inf (weights or biases so large that a layer overflows) would spoil every sum.
    """
    for what, reps in (("probes", b.clean), ("deformed probes", b.diffeo),
                       ("noisy probes", b.noise)):
        for i, f in enumerate(reps):
            if not np.all(np.isfinite(f)):
                labels = tuple(getattr(source, "labels", None) or ())
                label = labels[i] if i < len(labels) else i
                raise ScaleDetectError(
                    f"model must give finite layers; got NaN or inf at layer {label} on the "
                    f"{what} {b.start}..{b.start + len(f) - 1} (weights or inputs so large "
                    f"that the layer overflows its dtype)")


def _run(source, ps, batch_size: int, channel_mean: bool, estimator: str) -> dict:
    """Stream the probe set through *source* into the estimator; return its ``finish()``.

    Batches are measured in worker threads (``probe.map_batches``): each computes its sums
    apart (``partial``) once the first batch has fixed the centring (``start``), and the sums are
    merged here in batch order, so the numbers do not depend on the threads. The elasticity is
    computed from the first batch, in its worker.
    """
    block = _probe.BLOCK
    batch_size = int(-(-batch_size // block) * block)
    mean = estimator == "mean"
    if mean:  # cold cache: the sums kernel compiles in a child while the forward pass does here
        compile_sums_aside(getattr(getattr(source, "model", None), "dtype", np.float32))
    acc = MeanAccumulator() if mean else MedianCollector()
    want_e = mean and ps.pert.noise_match == "batch"

    def start(b):  # batch 0, before any batch's sums
        _require_finite(source, b)
        if mean:
            acc.start(b.clean, b.diffeo, b.noise)

    def measure_batch(src, b):
        _require_finite(source, b)
        n0 = min(block, len(b.x))
        e = (_elasticity(src, b.x[:n0], b.x_noise[:n0], [f[:n0] for f in b.clean], channel_mean)
             if want_e and b.start == 0 else None)
        return acc.partial(b.clean, b.diffeo, b.noise), e

    elasticity = None
    for part, e in _probe.map_batches(source, ps, batch_size, measure_batch, start,
                                      channel_mean):
        acc.merge(part)
        elasticity = e if e is not None else elasticity
    return acc.finish(elasticity) if mean else acc.finish()
