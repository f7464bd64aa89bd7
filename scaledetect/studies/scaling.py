"""F13: finite-size scaling of pooling nets, and the report's table of fitted exponents."""

from dataclasses import dataclass

from ..experiments.config import Run
from ..experiments.report import Section, Table
from ..experiments.scaling import exponent_series, scaling_depth
from ..experiments.scaling import verdict as exponent_verdict
from ..plots import fig13_scaling
from ..tasks.spec import TaskSpec
from .base import Plan, Results, Study
from .preset import Preset, pooling_spec


@dataclass(frozen=True)
class ScalingPlan(Plan):
    """The system-size series: exact theory and Monte Carlo runs (block task, xi = N / 4)."""

    theory: tuple
    pooling: tuple


def sizes(p: Preset) -> dict:
    """``{(dim, geometry): (theory sizes, Monte Carlo sizes, probes)}``."""
    if p.tiny:
        return {(1, "strided"): ((64, 128), (64, 128), 2000),
                (1, "unstrided"): ((32, 64), (32, 64), 2000)}
    if not p.paper:
        return {(1, "strided"): ((64, 256, 1024, 4096, 16384), (64, 256, 1024, 4096), 20_000),
                (2, "strided"): ((32, 64, 128, 256), (32, 64, 128), 10_000),
                (1, "unstrided"): ((64, 256, 1024), (64, 256), 4000),
                (2, "unstrided"): ((32, 64, 128, 256), (32, 64), 4000)}
    return {(1, "strided"): ((64, 256, 1024, 4096, 16384),) * 2 + (20_000,),
            (2, "strided"): ((32, 64, 128, 256),) * 2 + (20_000,),
            # unstrided 1D stops at N = 1024 (K = 256, 4 CPU-s): the exact theory at N = 4096
            # (K = 1024) was killed after ~8 minutes
            (1, "unstrided"): ((64, 256, 1024),) * 2 + (4000,),
            (2, "unstrided"): ((32, 64, 128, 256), (32, 64, 128), 4000)}


def plan_scaling(p: Preset) -> ScalingPlan:
    """Every size of every (dim, geometry) series."""
    theory, pooling = [], []
    for (dim, geometry), (th_sizes, mc_sizes, probe) in sizes(p).items():
        for n in sorted(set(th_sizes) | set(mc_sizes)):
            task = TaskSpec(dim=dim, size=n, rule="block", xi=n // 4)
            net = pooling_spec(dim, n, scaling_depth(geometry, n, dim), 2,
                               2 if geometry == "strided" else 1)
            if n in th_sizes:
                theory.append(Run("theory", task, net))
            if n in mc_sizes:
                pooling.append(Run("pooling", task, net, probe=probe, seed=3))
    return ScalingPlan(tuple(theory), tuple(pooling))


def draw_scaling(out_dir, plan: ScalingPlan, results: Results):
    """F13 from its plan."""
    return fig13_scaling.render(out_dir, results.all(plan.theory), results.all(plan.pooling))


def exponents(plan: ScalingPlan, results: Results) -> list[Section]:
    """Fitted scaling exponents of D_k and G_k at the largest system size, with a verdict."""
    rows = []
    fits = exponent_series(results.of(plan.theory), results.of(plan.pooling))
    for (dim, geometry, q), entry in sorted(fits.items()):
        th, mc = entry["theory"], entry["mc"]
        if not mc["N"]:
            continue
        size = th["N"][-1] if th["N"] else mc["N"][-1]
        rows.append((f"{dim}D points/block xi=N/4, {geometry} F=2, relu", q,
                     entry["layers"].get(size, ""), mc["e"][-1], 1.96 * mc["se"][-1],
                     mc["N"][-1], th["e"][-1] if th["N"] else float("nan"),
                     th["N"][-1] if th["N"] else float("nan"), entry["predicted"],
                     exponent_verdict(entry["predicted"], th["N"] or mc["N"], th["e"] or mc["e"])))
    return [Section("Scaling exponents", (EXPONENTS_TEXT,), (Table(
        ("configuration", "quantity", "layers (theory size)", "fitted (MC)", "95% CI",
         "MC size N", "exact theory", "theory size N", "asymptotic prediction",
         "theory vs prediction"), tuple(rows)),))]


EXPONENTS_TEXT = (
    "System-size series of pooling nets on the block task with xi = N/4 (experiments.scaling). "
    "Strided nets (s = F = 2, depth log2(xi) + 1, k* = log2(xi)): V_k ~ s^(e k) fitted on log V "
    "against k ln s, D over layers 1 to max(2, k* - 4) (at most 1/16 of a block per unit, away "
    "from the block-boundary correction), G over max(1, min(ceil(k*/2), k* - 3)) to k* - 2 "
    "(away from the pixel-scale offset); predicted e = -1 for D and dim for G. Unstrided nets "
    "(s = 1, depth N/4): V_k ~ k^e fitted on log V against log k over the second half of the "
    "layers; predicted e = -1 for D and dim/2 for G. The exact theory and the Monte Carlo are "
    "each shown at the largest size they were run at; the verdict says whether the theory's "
    "exponent there is within 5% of the prediction, and otherwise lists its trend with N.")

SCALING = Study(fig13_scaling.ID, fig13_scaling.CAPTION, plan_scaling, draw_scaling, exponents)
