"""``scaledetect reproduce``: every experiment, figure and the report, cached and resumable."""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from ..errors import require, require_choice
from ..experiments import EXECUTORS, PRESETS, Cache, all_runs, run_all
from ..experiments import report as report_mod
from ..experiments.tidy import write_csv


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
                        "fig5_relu_vs_tanh, or 'all'); repeatable. Cached results are otherwise "
                        "reused only if the code that produced them is unchanged")


def run(a: argparse.Namespace) -> int:
    """Validate everything, run what the cache lacks, render figures, CSV and report."""
    require_choice("preset", a.preset, PRESETS)
    require_choice("executor", a.executor, EXECUTORS)
    require(a.workers >= 1, "workers", "be >= 1", a.workers)
    require(a.scheduler is None or a.executor == "dask", "scheduler",
            "be given only with --executor dask", a.scheduler)
    from ..experiments import preset
    from ..plots import FIGURES, figures_index  # matplotlib only when needed

    for fig in a.rerun:
        require_choice("rerun", fig, ("all", *FIGURES))

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = all_runs(a.preset)  # builds (and validates) every configuration before any work
    cache = Cache(out / ".cache")
    start = time.perf_counter()
    per_figure = preset(a.preset)
    rerun = {r.key for fig, fig_runs in per_figure.items() for r in fig_runs
             if fig in a.rerun or "all" in a.rerun}
    for key in rerun:
        cache.drop(key)
    done_before = sum(r.key in cache for r in runs)
    print(f"reproduce: preset {a.preset}, {len(runs)} runs ({done_before} cached"
          f"{f', {len(rerun)} to run again' if rerun else ''}) -> {out}/")
    try:
        results = run_all(runs, cache, workers=a.workers, executor=a.executor,
                          scheduler=a.scheduler, progress=not a.no_progress)
    except KeyboardInterrupt:
        print(f"scaledetect reproduce: interrupted; finished runs and training checkpoints are "
              f"kept in {out / '.cache'}: the same command continues", file=sys.stderr)
        return 130
    write_csv(out / "results.csv", results)
    figures = []
    for fig_id, fig in figures_index().items():
        fig_runs = per_figure.get(fig_id, [])
        paths = fig.render(out, fig_runs, {r.key: results[r.key] for r in fig_runs},
                           lambda k: cache.get(k)[1])
        figures += [(Path(p), fig.caption) for p in paths if Path(p).suffix == ".png"]
    meta = {"preset": a.preset, "runs": len(runs), "cached before": done_before,
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
