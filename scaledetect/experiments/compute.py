"""How each numba run kind computes its record (named by the run-kind registry, ``kinds``).

Every function takes ``(run, workdir, on_epoch)``: *workdir* is a folder training runs checkpoint
into (``None``: no checkpoint), *on_epoch* a callable ``on_epoch(epoch)`` after every training
epoch (or None). Probes are drawn with a seed of their own, ``10_000 + run.seed``, independent of
the training data.
"""

from ..errors import ScaleDetectError
from .records import FilterStats, Profile, RandomNet, Trained

#: Offset of the probe seed from the run seed (probes independent of the training data).
PROBE_SEED_OFFSET = 10_000


def measure_run(model, run, channel_mean: bool = False, probe_noise: float = 0.0):
    """D, G, R of *model* on *run*'s probes (``sensitivity.measure``)."""
    from ..sensitivity import measure

    return measure(model, run.task, run.pert, probe=run.probe,
                   rng=PROBE_SEED_OFFSET + run.seed, channel_mean=channel_mean,
                   probe_noise=probe_noise)


def run_theory(run, workdir=None, on_epoch=None) -> Profile:
    """Exact prediction for the idealized pooling net."""
    from ..theory import predict

    return Profile(predict(run.task, run.net, run.pert))


def run_nngp(run, workdir=None, on_epoch=None) -> Profile:
    """Infinite-width prediction at initialization."""
    from ..theory import nngp

    return Profile(nngp(run.task, run.net, run.pert))


def run_pooling(run, workdir=None, on_epoch=None) -> Profile:
    """Monte Carlo measurement of the idealized pooling net."""
    from ..nn import pooling_net

    return Profile(measure_run(pooling_net(run.net), run))


def run_init(run, workdir=None, on_epoch=None) -> RandomNet:
    """Monte Carlo measurement of a random CNN, with its filter statistics."""
    from ..nn import init_cnn

    model = init_cnn(run.net, rng=run.seed)
    return RandomNet(measure_run(model, run), FilterStats.of(model))


def run_train(run, workdir=None, on_epoch=None) -> Trained:
    """Train, then measure at initialization and trained; a noise-trained net (``train_noise``
    sigma > 0) is probed at its training corruption level.

    Besides ``init`` and ``trained``: the trained net averaged over channels first (spatial
    pooling alone, for the pooling-theory figures) and its channel-summed version (the report's
    channel-sum claim; nothing reads an initialization counterpart, so none is measured).
    """
    from .. import nn
    from ..diagnostics.channel_sum import channel_sum

    callback = None if on_epoch is None else (lambda epoch, model, record: on_epoch(epoch))
    out = nn.train(run.task, run.net, run.train, rng=run.seed, out_dir=workdir,
                   resume=workdir is not None, progress=False, callback=callback)
    if out.history.stop_reason == "diverged":  # NaN weights: nothing to measure
        raise ScaleDetectError(f"run {run.key} diverged at epoch {out.history.epochs} (lr "
                               f"{run.train.lr}); its settings need a smaller learning rate")
    sigma = run.train.train_noise
    return Trained(init=measure_run(out.init, run, probe_noise=sigma),
                   trained=measure_run(out.model, run, probe_noise=sigma),
                   channel_mean=measure_run(out.model, run, True, probe_noise=sigma),
                   channel_sum=measure_run(channel_sum(out.model), run, probe_noise=sigma),
                   history=out.history, filters_init=FilterStats.of(out.init),
                   filters_trained=FilterStats.of(out.model))
