"""``scaledetect reproduce``: every experiment, figure and the report, cached and resumable."""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from ..errors import require, require_choice
from ..experiments import EXECUTORS, Cache, kind_of, run_all
from ..experiments import report as report_mod
from ..experiments.tidy import write_csv
from ..extras import require_extra
from ..studies.preset import PRESETS
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
    from .. import studies  # matplotlib only when needed

    _check(a, studies)
    out = Path(a.out)
    start = time.perf_counter()
    plans = studies.plans(a.preset)  # builds (and validates) every configuration first
    runs = _selected(plans, [], "all")  # every run of the preset, each once
    todo = _selected(plans, a.figure, a.backend)
    rerun = _rerun_keys(plans, a.rerun, todo, a)
    out.mkdir(parents=True, exist_ok=True)
    cache = Cache(out / ".cache")
    cache.rerun(rerun)  # computed again below; their old results stay until replaced
    done_before = sum(r.key in cache for r in todo)
    print(f"reproduce: preset {a.preset}, {len(todo)} runs"
          f"{f' of {len(runs)}' if len(todo) < len(runs) else ''} ({done_before} cached"
          f"{f', {len(rerun)} to run again' if rerun else ''}) -> {out}/")
    _say_damaged(cache)
    note = studies.missing_extras_note(studies.FIGURES)
    if note:
        print(f"reproduce: {note}")
    try:
        run_all(todo, cache, workers=a.workers, executor=a.executor,
                scheduler=a.scheduler, progress=not a.no_progress)
    except KeyboardInterrupt:
        print(f"scaledetect reproduce: interrupted; finished runs and training checkpoints are "
              f"kept in {out / '.cache'}: the same command continues", file=sys.stderr)
        return 130
    results = studies.Results({r.key: cache.get(r.key) for r in runs if r.key in cache})
    write_csv(out / "results.csv", results.by_key)
    figures = _draw(studies, plans, results, out)
    meta = {"preset": a.preset, "runs": f"{len(results.by_key)} of {len(runs)} finished",
            "computed by this call": f"{len(todo) - done_before}",
            "wall time (s)": f"{time.perf_counter() - start:.0f}",
            "compute time of all runs (s)": f"{sum(r.seconds for r in results):.0f}",
            "executor": a.executor, "workers": a.workers, "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}
    sections = [sec for sid in studies.REPORT
                for sec in studies.STUDIES[sid].report(plans[sid], results)]
    md, page = report_mod.write(out, report_mod.build(sections, figures, meta))
    print(f"reproduce: wrote {len(figures)} figures, {out / 'results.csv'}, {md}, {page} "
          f"in {time.perf_counter() - start:.0f} s")
    return 0


def _check(a: argparse.Namespace, studies) -> None:
    """Every flag checked before any work (one line naming the flag otherwise)."""
    require_choice("preset", a.preset, PRESETS)
    require_choice("executor", a.executor, EXECUTORS)
    require(a.workers >= 1, "workers", "be >= 1", a.workers)
    require(a.scheduler is None or a.executor == "dask", "scheduler",
            "be given only with --executor dask", a.scheduler)
    require_choice("backend", a.backend, BACKENDS)
    if a.backend == "torch":
        require_extra("torch", "--backend torch")
    if a.executor == "dask":
        require_extra("dask", "--executor dask")
    for fig in a.rerun:
        require_choice("rerun", fig, ("all", *studies.FIGURES))
    for fig in a.figure:
        require_choice("figure", fig, studies.FIGURES)
    check_output("--out", a.out, {}, folder=True)


def _rerun_keys(plans: dict, rerun: list[str], todo: list, a) -> set[str]:
    """Keys of the runs ``--rerun`` names among those this call computes (``--figure``,
    ``--backend``): a rerun never touches a result it would not compute again. A figure named
    by ``--rerun`` with none of its runs among them is refused.
    """
    computed = {r.key for r in todo}
    keys = set()
    for fig in dict.fromkeys(rerun):
        mine = {r.key for sid, plan in plans.items() for r in plan.runs()
                if fig in ("all", sid)} & computed
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


def _draw(studies, plans: dict, results, out: Path) -> list[tuple[Path, str]]:
    """Draw every figure whose runs have finished; name the others. ``[(png, caption)]``."""
    figures = []
    for sid in studies.FIGURES:
        study, plan = studies.STUDIES[sid], plans[sid]
        if not _drawable(plan.runs(), results):
            n = sum(r in results for r in plan.runs())
            print(f"reproduce: {sid} not drawn: {n} of its {len(plan.runs())} runs finished")
            continue
        paths = study.draw(out, plan, results)
        figures += [(Path(p), study.caption) for p in paths if Path(p).suffix == ".png"]
    return figures


def _selected(plans: dict, figures: list[str], backend: str) -> list:
    """The runs of *figures* (every study if empty) that *backend* computes, each once."""
    unique = {}
    for sid, plan in plans.items():
        if figures and sid not in figures:
            continue
        for r in plan.runs():
            if backend == "all" or kind_of(r).backend == backend:
                unique.setdefault(r.key, r)
    return list(unique.values())


def _drawable(fig_runs: list, results) -> bool:
    """A figure is drawn once its runs have finished, or once its numba runs have (then it is
    drawn without its PyTorch runs, as without PyTorch).
    """
    numba = [r for r in fig_runs if kind_of(r).backend == "numba"]
    return all(r in results for r in fig_runs) or (bool(numba)
                                                   and all(r in results for r in numba))
