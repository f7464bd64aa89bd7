"""Run a list of ``Run`` s: cached, resumable, on a local process pool or a Dask cluster."""

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..errors import require, require_choice
from .cache import Cache
from .config import Run
from .cost import Progress
from .version import results_version

EXECUTORS = ("local", "dask")
#: Seconds between two checks, in a worker, that the process that started it is still alive.
WATCH_PARENT_EVERY = 0.5


def execute(run_dict: dict, workdir: str | os.PathLike | None = None,
            on_epoch: Callable[[int], None] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Carry out one run (given as ``Run.to_dict()``) and return its JSON result and arrays.

    Plain dicts in and out, so the function ships unchanged to worker processes and Dask workers.

    Parameters
    ----------
    run_dict : dict
        ``Run.to_dict()``.
    workdir : path, optional
        Training runs checkpoint there (``nn.train``'s ``out_dir``) and resume from it: a run
        killed mid-training continues where its last checkpoint left it, with results identical
        to an uninterrupted run.
    on_epoch : callable, optional
        ``on_epoch(epoch)`` after every training epoch (progress display).

    Returns
    -------
    result : dict
        ``run``, ``version`` (``results_version(kind)``), ``init`` (and ``trained``, ``history``
        for training runs), ``seconds``.
    arrays : dict of ndarray
        First-layer filters and uniform shares (``init`` and ``train`` kinds).
    """
    from .. import nn, theory
    from ..diagnostics.channel_sum import channel_sum

    run = Run.from_dict(run_dict)
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    result: dict = {"run": run_dict, "version": results_version(run.kind)}
    if run.kind == "theory":
        result["init"] = theory.predict(run.task, run.net, run.pert).to_dict()
    elif run.kind == "nngp":
        result["init"] = theory.nngp(run.task, run.net, run.pert).to_dict()
    elif run.kind == "pooling":
        model = nn.pooling_net(run.net)
        result["init"] = _measure(model, run)
    elif run.kind == "init":
        model = nn.init_cnn(run.net, rng=run.seed)
        result["init"] = _measure(model, run)
        arrays.update(_filters(model, "init"))
    elif run.kind == "deep":
        from .deep import execute_deep

        result.update(execute_deep(run))
    else:  # train
        callback = None if on_epoch is None else (lambda epoch, model, record: on_epoch(epoch))
        outcome = nn.train(run.task, run.net, nn.TrainSpec(**run.train), rng=run.seed,
                           out_dir=workdir, resume=workdir is not None, progress=False,
                           callback=callback)
        result["init"] = _measure(outcome.init, run)
        result["trained"] = _measure(outcome.model, run)
        # averaged over channels first (spatial pooling alone), for the pooling-theory figures
        result["trained_channel_mean"] = _measure(outcome.model, run, channel_mean=True)
        result["history"] = outcome.history
        # the channel-summed trained net (the report's channel-sum claim; nothing reads an
        # initialization counterpart, so none is measured)
        result["channel_sum"] = {"trained": _measure(channel_sum(outcome.model), run)}
        arrays.update(_filters(outcome.init, "init"))
        arrays.update(_filters(outcome.model, "trained"))
    result["seconds"] = time.perf_counter() - start
    return result, arrays


def _measure(model, run: Run, channel_mean: bool = False) -> dict:
    """D, G, R of *model* on the run's probes; a noise-trained net (``train_noise`` sigma in
    ``run.train``) is probed at the same corruption level (``measure(probe_noise=sigma)``).
    """
    from ..sensitivity import measure

    # probes drawn with a seed of their own, independent of the training data
    return measure(model, run.task, run.pert, probe=run.probe, rng=10_000 + run.seed,
                   channel_mean=channel_mean,
                   probe_noise=run.train.get("train_noise", 0.0)).to_dict()


def _filters(model, prefix: str) -> dict[str, np.ndarray]:
    """First-layer filters, every layer's ``nn.filters.uniform_share`` (norm-weighted) and filter
    spectrum: ``spectrum.power`` ``(K, F^dim)`` on the grid-Laplacian modes of eigenvalues
    ``spectrum.eigenvalues`` ``(F^dim,)`` (see ``diagnostics.spectrum``).
    """
    from ..diagnostics.spectrum import spectra
    from ..nn.filters import uniform_share

    weights = [model.params[f"conv{k}.weight"] for k in range(1, model.spec.depth + 1)]
    layers = spectra(model)
    return {f"{prefix}.conv1.weight": np.asarray(weights[0], np.float64),
            f"{prefix}.uniform_share": np.array([uniform_share(w) for w in weights]),
            f"{prefix}.spectrum.power": np.stack([x.power for x in layers]),
            f"{prefix}.spectrum.eigenvalues": layers[0].eigenvalues}


def run_all(runs: Iterable[Run], cache: Cache, workers: int = 1, executor: str = "local",
            scheduler: str | None = None, progress: bool = True) -> dict[str, dict]:
    """Execute every run not already in *cache*; return ``{key: result}`` for all runs.

    Parameters
    ----------
    runs : iterable of Run
        Duplicates (same key) are run once.
    cache : Cache
        Finished runs are read from it and new ones written to it as soon as each ends, so an
        interrupted call loses at most the runs in flight (training runs resume from their last
        checkpoint, kept in ``cache.workdir``).
    workers : int
        Local processes (``executor="local"``) or LocalCluster workers (``"dask"`` without address).
        Local workers exit by themselves when this process dies (even by ``kill -9``).
    executor : str
        ``local`` (process pool; in-process when ``workers == 1``) or ``dask``.
    scheduler : str or None
        Address of a running Dask scheduler (``tcp://host:8786``); ``None`` starts a LocalCluster.
    progress : bool
        A progress bar on stderr: runs done, training epochs inside runs, and an ETA weighted by
        each run's expected cost (``experiments.cost``).
    """
    require_choice("executor", executor, EXECUTORS)
    require(int(workers) == workers and workers >= 1, "workers", "be an integer >= 1", workers)
    require(scheduler is None or executor == "dask", "scheduler", "be used with executor=dask",
            scheduler)
    unique = {r.key: r for r in runs}
    todo = [r for k, r in unique.items() if k not in cache]
    todo.sort(key=_cost_rank)
    bar = Progress(todo, enabled=progress and bool(todo))
    jobs = [(r, cache.workdir(r.key, r.kind) if r.kind == "train" else None) for r in todo]
    finished = _dispatch(jobs, workers, executor, scheduler, bar.epoch)
    try:
        for key, (result, arrays) in finished:
            cache.put(key, result, arrays)
            bar.done(key)
    finally:
        finished.close()  # on an exception or Ctrl-C: stop the workers now
        bar.close()
    return {k: cache.get(k)[0] for k in unique}


def _cost_rank(run: Run) -> tuple[int, int]:
    """Longest runs first, so the pool drains evenly: training (tanh, ~20x more epochs to
    interpolate, before ReLU), then theory in 2D, Monte Carlo, theory in 1D.
    """
    order = {"train": 0, "deep": 0, "nngp": 2, "init": 3, "pooling": 3, "theory": 4}[run.kind]
    if run.kind == "theory" and run.task.dim == 2:
        order = 1
    return order, run.net is None or run.net.act != "tanh"


def _dispatch(jobs: list[tuple[Run, Path | None]], workers: int, executor: str,
              scheduler: str | None, on_epoch: Callable[[str, int], None]):
    """Yield ``(key, (result, arrays))`` as runs finish."""
    if not jobs:
        return
    if executor == "dask":
        yield from _dispatch_dask(jobs, workers, scheduler)
    elif workers == 1:
        for r, workdir in jobs:
            yield r.key, execute(r.to_dict(), workdir, lambda e, k=r.key: on_epoch(k, e))
    else:
        yield from _dispatch_pool(jobs, workers, on_epoch)


def _dispatch_pool(jobs, workers: int, on_epoch):
    """A spawn process pool whose workers report epochs through a queue and die with us."""
    import concurrent.futures as cf
    import multiprocessing as mp
    import queue as queue_mod

    # spawn: no forked numba thread pools; each worker runs single-threaded numba
    ctx = mp.get_context("spawn")
    epochs = ctx.Queue()
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                  initargs=(os.getpid(), epochs))
    try:
        pending = {pool.submit(_execute_in_worker, r.to_dict(), workdir): r.key
                   for r, workdir in jobs}
        while pending:
            done, _ = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            while True:
                try:
                    on_epoch(*epochs.get_nowait())
                except queue_mod.Empty:
                    break
            for fut in done:
                yield pending.pop(fut), fut.result()
    except BaseException:  # Ctrl-C, an error, or the consumer stopped: end the workers now
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        epochs.close()
        epochs.join_thread()


_EPOCHS = None  # in a worker: the queue epochs are reported to


def _init_worker(parent: int, epochs) -> None:
    """Worker set-up: one numba thread, Ctrl-C left to the parent, exit when the parent dies."""
    import numba

    global _EPOCHS
    _EPOCHS = epochs
    numba.set_num_threads(1)  # workers share the cores; never change NUMBA_NUM_THREADS itself
    os.environ["SCALEDETECT_COMPILE_ASIDE"] = "0"  # the workers already use every core
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us on Ctrl-C
    from tqdm import tqdm

    # tqdm's default lock is a multiprocessing semaphore: a worker the parent terminates on
    # Ctrl-C would leave it to the resource tracker ("leaked semaphore objects" at exit)
    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Exit the process as soon as *parent* is gone (re-parented: ``getppid`` changes).

    Without this a worker busy in a long run outlives a parent killed with ``kill -9``, and so
    does multiprocessing's resource tracker, which exits once every process holding its pipe
    has ended.
    """
    while os.getppid() == parent:
        time.sleep(WATCH_PARENT_EVERY)
    os._exit(1)


def _execute_in_worker(run_dict: dict, workdir) -> tuple[dict, dict[str, np.ndarray]]:
    key = Run.from_dict(run_dict).key
    return execute(run_dict, workdir, lambda epoch: _EPOCHS.put((key, epoch)))


def _dispatch_dask(jobs, workers: int, scheduler: str | None):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("executor=dask needs the 'dask' extra: pip install 'scaledetect[dask]'"
                          ) from err
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        # the checkpoint folder is local to this machine: workers of a remote cluster train
        # without one (they may not share a file system)
        futures = {client.submit(execute, r.to_dict(), workdir if cluster else None,
                                 pure=False): r.key for r, workdir in jobs}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
