"""Run a list of ``Run`` s: cached, resumable, on a local process pool or a Dask cluster."""

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import require, require_choice
from .cache import Cache
from .config import Run
from .kinds import kind_of
from .records import RunResult

EXECUTORS = ("local", "dask")
#: Seconds between two checks, in a worker, that the process that started it is still alive.
WATCH_PARENT_EVERY = 0.5


def execute(run_dict: dict, workdir: str | os.PathLike | None = None,
            on_epoch: Callable[[int], None] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Carry out one run (given as ``Run.to_dict()``) and return its stored result.

    Plain dicts in and out, so the function ships unchanged to worker processes and Dask workers.

    Parameters
    ----------
    run_dict : dict
        ``Run.to_dict()``.
    workdir : path, optional
        Training runs checkpoint there and resume from it: a run killed mid-training continues
        where its last checkpoint left it, with results identical to an uninterrupted run.
    on_epoch : callable, optional
        ``on_epoch(epoch)`` after every training epoch (progress display).

    Returns
    -------
    result, arrays
        ``RunResult.to_json()``: the JSON envelope (run, code version, seconds, the kind's
        record) and the record's arrays.
    """
    run = Run.from_dict(run_dict)
    kind = kind_of(run)
    start = time.perf_counter()
    record = kind.run(run, workdir, on_epoch)
    return RunResult(run, kind.version(), time.perf_counter() - start, record).to_json()


class Progress:
    """Progress of ``run_all``: runs done, epochs of training runs in flight, a weighted ETA.

    The bar counts expected seconds (``RunKind.cost``) of work done: a finished run adds its
    whole cost, a training run in flight the share of its expected epochs it has done (at most
    90 % until it ends). tqdm's remaining-time estimate is then weighted by cost.
    """

    def __init__(self, runs: list, enabled: bool = True):
        self.cost = {r.key: kind_of(r).cost(r) for r in runs}
        self.epochs_of = {r.key: kind_of(r).epochs for r in runs}
        self.runs = {r.key: r for r in runs}
        self.credit = dict.fromkeys(self.cost, 0.0)
        self.epochs: dict[str, int] = {}
        self.finished = 0
        self.bar = tqdm(total=round(sum(self.cost.values()), 1), disable=not enabled,
                        desc=self._desc(), unit="s", dynamic_ncols=True, smoothing=0,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"
                                   "{postfix}")

    def _desc(self) -> str:
        return f"runs {self.finished}/{len(self.cost)}"

    def _add(self, key: str, credit: float) -> None:
        self.bar.update(round(credit - self.credit[key], 3))
        self.credit[key] = credit

    def epoch(self, key: str, epoch: int) -> None:
        """A training run in flight finished *epoch*."""
        self.epochs[key] = epoch
        expected = self.epochs_of[key]
        share = min(0.9, epoch / expected(self.runs[key])) if expected else 0.0
        self._add(key, share * self.cost[key])
        self.bar.set_postfix_str(", ".join(
            f"train seed {self.runs[k].seed} {self.runs[k].label} epoch {e}"
            for k, e in self.epochs.items()), refresh=True)

    def done(self, key: str) -> None:
        """Run *key* finished."""
        self.epochs.pop(key, None)
        self._add(key, self.cost[key])
        self.finished += 1
        self.bar.set_description_str(self._desc(), refresh=True)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


def run_all(runs: Iterable[Run], cache: Cache, workers: int = 1, executor: str = "local",
            scheduler: str | None = None, progress: bool = True) -> dict[str, RunResult]:
    """Execute every run not already in *cache*; return ``{key: RunResult}`` for all runs.

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
    todo.sort(key=_order)
    bar = Progress(todo, enabled=progress and bool(todo))
    jobs = [(r, cache.workdir(r) if kind_of(r).trains else None) for r in todo]
    finished = _dispatch(jobs, workers, executor, scheduler, bar.epoch)
    try:
        for key, (result, arrays) in finished:
            cache.put(key, result, arrays)
            bar.done(key)
    finally:
        finished.close()  # on an exception or Ctrl-C: stop the workers now
        bar.close()
    return {k: cache.get(k) for k in unique}


def _order(run: Run) -> tuple[int, float]:
    """Longest runs first, so the pool drains evenly: by the kind's priority (training first),
    then by decreasing expected cost.
    """
    kind = kind_of(run)
    return kind.priority, -kind.cost(run)


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
    """Worker set-up: one engine thread, Ctrl-C left to the parent, exit when the parent dies."""
    from ..engine import Engine

    global _EPOCHS
    _EPOCHS = epochs
    # the workers share the cores: one thread each, and no compiling aside (they use every core)
    Engine(threads=1, compile_aside=False).install()
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
