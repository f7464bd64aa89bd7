"""``scaledetect reproduce``: every experiment, figure and the report, cached and resumable."""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from ..errors import require, require_choice
from ..experiments import EXECUTORS, PRESETS, Cache, run_all
from ..experiments import report as report_mod
from ..experiments.tidy import write_csv
from ._common import check_output

#: ``--backend``: which runs to compute (``torch`` = the standard CNNs, run kind ``deep``).
BACKENDS = ("all", "numba", "torch")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of ``reproduce``."""
    p.add_argument("--preset", default="quick", help=f"one of {', '.join(PRESETS)} (default quick)")
    p.add_argument("--out", default="figures", help="output folder (default figures/)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel worker processes (default: one per CPU)")
    p.add_argument("--executor", default="local", help=f"one of {', '.join(EXECUTORS)}")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (executor dask)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--rerun", action="append", default=[], metavar="FIG",
                   help="compute the runs of figure FIG again even if cached (e.g. "
                        "fig5_relu_vs_tanh, or 'all'; with --figure, only runs of those "
                        "figures); repeatable. Each old result stays until its new one is "
                        "stored. Cached results are otherwise reused only if the code that "
                        "produced them is unchanged")
    p.add_argument("--figure", action="append", default=[], metavar="FIG",
                   help="compute only the runs of figure FIG (e.g. fig3_strided); repeatable, "
                        "default every figure. Figures, CSV and report are drawn from every "
                        "finished run in OUT, so a preset can be computed figure by figure")
    p.add_argument("--backend", default="all",
                   help=f"one of {', '.join(BACKENDS)}: compute every run, every run but the "
                        "standard CNNs (PyTorch), or only those (default all)")


def run(a: argparse.Namespace) -> int:
    """Validate everything, run what the cache lacks, render figures, CSV and report."""
    require_choice("preset", a.preset, PRESETS)
    require_choice("executor", a.executor, EXECUTORS)
    require(a.workers >= 1, "workers", "be >= 1", a.workers)
    require(a.scheduler is None or a.executor == "dask", "scheduler",
            "be given only with --executor dask", a.scheduler)
    from ..experiments import preset
    from ..plots import FIGURES, figures_index  # matplotlib only when needed

    require_choice("backend", a.backend, BACKENDS)
    for fig in a.rerun:
        require_choice("rerun", fig, ("all", *FIGURES))
    for fig in a.figure:
        require_choice("figure", fig, FIGURES)

    check_output("--out", a.out, {}, folder=True)
    out = Path(a.out)
    start = time.perf_counter()
    per_figure = preset(a.preset)  # builds (and validates) every configuration first
    runs = _selected(per_figure, [], "all")  # every run of the preset, each once
    todo = _selected(per_figure, a.figure, a.backend)
    rerun = _rerun_keys(per_figure, a.rerun, todo, a)
    out.mkdir(parents=True, exist_ok=True)
    cache = Cache(out / ".cache")
    cache.rerun(rerun)  # computed again below; their old results stay until replaced
    done_before = sum(r.key in cache for r in todo)
    n_all = len(runs)
    print(f"reproduce: preset {a.preset}, {len(todo)} runs"
          f"{f' of {n_all}' if len(todo) < n_all else ''} ({done_before} cached"
          f"{f', {len(rerun)} to run again' if rerun else ''}) -> {out}/")
    _say_damaged(cache)
    try:
        run_all(todo, cache, workers=a.workers, executor=a.executor,
                scheduler=a.scheduler, progress=not a.no_progress)
    except KeyboardInterrupt:
        print(f"scaledetect reproduce: interrupted; finished runs and training checkpoints are "
              f"kept in {out / '.cache'}: the same command continues", file=sys.stderr)
        return 130
    runs = [r for r in runs if r.key in cache]  # this call's runs and those finished before
    results = {r.key: cache.get(r.key)[0] for r in runs}
    write_csv(out / "results.csv", results)
    figures = []
    for fig_id, fig in figures_index().items():
        fig_runs = _drawable(per_figure.get(fig_id, []), results)
        if fig_runs is None:
            n = sum(r.key in results for r in per_figure[fig_id])
            print(f"reproduce: {fig_id} not drawn: {n} of its {len(per_figure[fig_id])} runs "
                  f"finished")
            continue
        paths = fig.render(out, fig_runs, {r.key: results[r.key] for r in fig_runs},
                           lambda k: cache.get(k)[1])
        figures += [(Path(p), fig.caption) for p in paths if Path(p).suffix == ".png"]
    meta = {"preset": a.preset, "runs": f"{len(runs)} of {n_all} finished",
            "computed by this call": f"{len(todo) - done_before}",
            "wall time (s)": f"{time.perf_counter() - start:.0f}",
            "compute time of all runs (s)": f"{sum(r['seconds'] for r in results.values()):.0f}",
            "executor": a.executor,
            "workers": a.workers, "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}
    blocks = report_mod.build(runs, results, lambda k: cache.get(k)[1], figures, meta)
    md, page = report_mod.write(out, blocks)
    print(f"reproduce: wrote {len(figures)} figures, {out / 'results.csv'}, {md}, {page} "
          f"in {time.perf_counter() - start:.0f} s")
    return 0


def _rerun_keys(per_figure: dict, rerun: list[str], todo: list, a) -> set[str]:
    """Keys of the runs ``--rerun`` names among those this call computes (``--figure``,
    ``--backend``): a rerun never touches a result it would not compute again. A figure named
    by ``--rerun`` with none of its runs among them is refused.
    """
    computed = {r.key for r in todo}
    keys = set()
    for fig in dict.fromkeys(rerun):
        mine = {r.key for f, fig_runs in per_figure.items() for r in fig_runs
                if fig in ("all", f)} & computed
        require(bool(mine) or fig == "all", "rerun", "name a figure whose runs this call "
                f"computes (--figure {' '.join(a.figure) or 'all'}, --backend {a.backend}); add "
                f"--figure {fig} to compute it", fig)
        keys |= mine
    return keys


def _say_damaged(cache: Cache) -> None:
    """Name the cached results that could not be read (``Cache.damaged``): computed again."""
    if cache.damaged:
        print(f"reproduce: {len(cache.damaged)} cached results could not be read and are "
              "computed again: " + "; ".join(f"{k} ({why})" for k, why in
                                             sorted(cache.damaged.items())))


def _selected(per_figure: dict, figures: list[str], backend: str) -> list:
    """The runs of *figures* (every figure if empty) that *backend* computes, each once."""
    unique = {}
    for fig, fig_runs in per_figure.items():
        if figures and fig not in figures:
            continue
        for r in fig_runs:
            if backend == "all" or (r.kind == "deep") == (backend == "torch"):
                unique.setdefault(r.key, r)
    return list(unique.values())


def _drawable(fig_runs: list, results: dict) -> list | None:
    """The runs to draw a figure from: all of them once finished, else its numba runs once
    those are (drawn as without PyTorch); None while a numba run is missing.
    """
    numba = [r for r in fig_runs if r.kind != "deep"]
    if all(r.key in results for r in fig_runs):
        return fig_runs
    if numba and all(r.key in results for r in numba):
        return numba
    return None
