"""Studies: one per figure or claim group, each owning its runs, its figure and its claims.

``STUDIES`` lists them in figure order; ``REPORT`` is the order of their report sections.
``plans(preset)`` gives every study's runs for a preset, ``make(id, out_dir, preset=...)`` runs
one study's experiments through the cache and draws it. A new figure or claim is a new
``Study`` added here, never an edit inside the report or the runner.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import require_choice
from ..plots import fig1_gallery, fig7_pileup, fig12_noise, fig14_width, fig15_xi
from .base import Plan, Results, Study
from .pooling import (
    MAXENT,
    RELU_VS_TANH,
    STRIDED,
    UNSTRIDED,
    PairsPlan,
    activation_pairs,
    theory_table,
)
from .preset import PRESETS, Preset
from .scaling import SCALING
from .standard import ARCHITECTURES, LAYERS
from .trained import (
    INIT_VS_TRAINED,
    SPECTRA,
    TRAINED_CLAIMS,
    channel_sum_claim,
    draw_noise,
    draw_width,
    draw_xi,
    noise_claim,
    plan_channel_sum,
    plan_distances,
    plan_noise,
    plan_width,
    plan_xi,
    width_distances,
)

__all__ = ["FIGURES", "PRESETS", "REPORT", "STUDIES", "Plan", "Preset", "Results", "Study",
           "make", "missing_extras_note", "plans", "preset_runs"]


@dataclass(frozen=True)
class _NoRuns(Plan):
    """The plan of a figure computed directly (no runs)."""


def _direct(module):
    return Study(module.ID, module.CAPTION, lambda p: _NoRuns(),
                 lambda out_dir, plan, results: module.render(out_dir))


def plan_pairs(p: Preset) -> PairsPlan:
    """Every (theory, Monte Carlo) pair of the pooling-net studies, and one per activation."""
    theory, pooling = (), ()
    for plan in (STRIDED.plan(p), UNSTRIDED.plan(p), RELU_VS_TANH.plan(p), SCALING.plan(p),
                 plan_width(p), plan_xi(p), PairsPlan(*activation_pairs(p))):
        mc = {(m.task, m.net, m.pert): m for m in plan.pooling}
        for t in plan.theory:
            if (t.task, t.net, t.pert) in mc:
                theory, pooling = theory + (t,), pooling + (mc[t.task, t.net, t.pert],)
    keep = {}
    for t, m in zip(theory, pooling, strict=True):
        keep.setdefault(t.key, (t, m))
    return PairsPlan(tuple(t for t, _ in keep.values()), tuple(m for _, m in keep.values()))


NOISE = Study(fig12_noise.ID, fig12_noise.CAPTION, plan_noise, draw_noise, noise_claim,
              extras=("torch",))
WIDTH = Study(fig14_width.ID, fig14_width.CAPTION, plan_width, draw_width)
XI = Study(fig15_xi.ID, fig15_xi.CAPTION, plan_xi, draw_xi)
THEORY_TABLE = Study("theory_vs_mc", None, plan_pairs, report=theory_table)
CHANNEL_SUM = Study("channel_sum", None, plan_channel_sum, report=channel_sum_claim)
DISTANCES = Study("width_distances", None, plan_distances, report=width_distances)

#: Every study, figures in their order.
STUDIES: dict[str, Study] = {s.id: s for s in (
    _direct(fig1_gallery), INIT_VS_TRAINED, STRIDED, UNSTRIDED, RELU_VS_TANH,
    _direct(fig7_pileup), MAXENT, ARCHITECTURES, LAYERS, SPECTRA, NOISE, SCALING, WIDTH, XI,
    THEORY_TABLE, TRAINED_CLAIMS, CHANNEL_SUM, DISTANCES)}
#: The figures' ids, in order.
FIGURES = tuple(s.id for s in STUDIES.values() if s.figure)
#: The order of the report's sections.
REPORT = ("theory_vs_mc", SCALING.id, "trained_claims", "width_distances", SPECTRA.id,
          "channel_sum", NOISE.id, ARCHITECTURES.id)


def missing_extras_note(ids) -> str:
    """One line naming the studies among *ids* drawn without part of their runs, because an
    extra they use is not installed, and how to install it (empty if nothing is missing).
    """
    from ..extras import available, missing_message

    lines = []
    for extra in sorted({e for sid in ids for e in STUDIES[sid].extras}):
        if not available(extra):
            which = [sid for sid in ids if extra in STUDIES[sid].extras]
            what = "the standard CNNs" if extra == "torch" else "the runs"
            lines.append(missing_message(extra, f"{what} of {', '.join(which)}", "need")
                         + "; drawn without them")
    return "; ".join(lines)


def plans(preset: str | Preset) -> dict[str, Plan]:
    """Every study's plan for *preset* (``tiny``, ``quick`` or ``paper``)."""
    p = preset if isinstance(preset, Preset) else Preset(preset)
    return {sid: s.plan(p) for sid, s in STUDIES.items()}


def preset_runs(preset: str | Preset) -> dict[str, list]:
    """``{study id: [Run, ...]}`` for *preset*."""
    return {sid: plan.runs() for sid, plan in plans(preset).items()}


def make(study_id: str, out_dir="figures", preset: str = "quick", cache_dir=None,
         workers: int = 1, executor: str = "local", scheduler: str | None = None,
         progress: bool = True) -> list[Path]:
    """Run one figure's experiments (cached, resumable) and draw it.

    Parameters
    ----------
    study_id : str
        One of ``FIGURES``.
    out_dir : path
        Where ``<id>.png/.pdf/.json`` go.
    preset : str
        ``tiny``, ``quick`` or ``paper``.
    cache_dir : path, optional
        Results cache; default ``out_dir/.cache`` (share one between figures to reuse runs).
    workers, executor, scheduler, progress
        Passed to ``experiments.run_all``.

    Returns
    -------
    list of Path
        The files written.
    """
    from ..experiments import Cache, run_all

    require_choice("figure", study_id, FIGURES)
    study = STUDIES[study_id]
    note = missing_extras_note([study_id])
    if note:
        print(note, file=sys.stderr)
    plan = study.plan(Preset(preset))
    cache = Cache(Path(cache_dir) if cache_dir is not None else Path(out_dir) / ".cache")
    results = run_all(plan.runs(), cache, workers=workers, executor=executor,
                      scheduler=scheduler, progress=progress)
    return study.draw(out_dir, plan, Results(results))
