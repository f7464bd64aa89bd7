"""Run a list of ``Run`` s: cached, resumable, on a local process pool or a Dask cluster."""

import time
from collections.abc import Iterable

import numpy as np
from tqdm.auto import tqdm

from ..errors import require, require_choice
from .cache import Cache
from .config import Run

EXECUTORS = ("local", "dask")


def execute(run_dict: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """Carry out one run (given as ``Run.to_dict()``) and return its JSON result and arrays.

    Plain dicts in and out, so the function ships unchanged to worker processes and Dask workers.
    """
    from .. import nn, theory
    from ..diagnostics.channel_sum import channel_sum

    run = Run.from_dict(run_dict)
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    result: dict = {"run": run_dict}
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
        spec = nn.TrainSpec(**run.train)
        outcome = nn.train(run.task, run.net, spec, rng=run.seed, progress=False)
        result["init"] = _measure(outcome.init, run)
        result["trained"] = _measure(outcome.model, run)
        result["history"] = outcome.history
        result["channel_sum"] = {"init": _measure(channel_sum(outcome.init), run),
                                 "trained": _measure(channel_sum(outcome.model), run)}
        arrays.update(_filters(outcome.init, "init"))
        arrays.update(_filters(outcome.model, "trained"))
    result["seconds"] = time.perf_counter() - start
    return result, arrays


def _measure(model, run: Run) -> dict:
    """D, G, R of *model* on the run's probes; a noise-trained net (``train_noise`` sigma in
    ``run.train``) is probed at the same corruption level (``measure(probe_noise=sigma)``).
    """
    from ..sensitivity import measure

    # probes drawn with a seed of their own, independent of the training data
    return measure(model, run.task, run.pert, probe=run.probe, rng=10_000 + run.seed,
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
        interrupted call loses at most the runs in flight.
    workers : int
        Local processes (``executor="local"``) or LocalCluster workers (``"dask"`` without address).
    executor : str
        ``local`` (process pool; in-process when ``workers == 1``) or ``dask``.
    scheduler : str or None
        Address of a running Dask scheduler (``tcp://host:8786``); ``None`` starts a LocalCluster.
    """
    require_choice("executor", executor, EXECUTORS)
    require(int(workers) == workers and workers >= 1, "workers", "be an integer >= 1", workers)
    require(scheduler is None or executor == "dask", "scheduler", "be used with executor=dask",
            scheduler)
    unique = {r.key: r for r in runs}
    todo = [r for k, r in unique.items() if k not in cache]
    todo.sort(key=_cost_rank)
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not progress or not todo)
    for key, (result, arrays) in _dispatch(todo, workers, executor, scheduler):
        cache.put(key, result, arrays)
        bar.update()
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


def _dispatch(todo: list[Run], workers: int, executor: str, scheduler: str | None):
    """Yield ``(key, (result, arrays))`` as runs finish."""
    if not todo:
        return
    if executor == "dask":
        yield from _dispatch_dask(todo, workers, scheduler)
    elif workers == 1:
        for r in todo:
            yield r.key, execute(r.to_dict())
    else:
        import concurrent.futures as cf
        import multiprocessing as mp

        # spawn: no forked numba thread pools; each worker runs single-threaded numba
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_single_thread) as pool:
            futures = {pool.submit(execute, r.to_dict()): r.key for r in todo}
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()


def _single_thread() -> None:
    import numba

    numba.set_num_threads(1)  # workers share the cores; never change NUMBA_NUM_THREADS itself


def _dispatch_dask(todo: list[Run], workers: int, scheduler: str | None):
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
        futures = {client.submit(execute, r.to_dict(), pure=False): r.key for r in todo}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
