"""Idealized pooling nets: theory against Monte Carlo (F3, F4, F5, F8 and the report's table)."""

from dataclasses import dataclass

import numpy as np

from ..experiments.config import Run
from ..experiments.records import RunResult
from ..experiments.report import Section, Table
from ..perturb.spec import Perturbation
from ..plots import fig3_strided, fig4_unstrided, fig5_relu_vs_tanh, fig8_maxent
from ..tasks.spec import TaskSpec
from .base import Plan, Results, Study
from .preset import Preset, pooling_spec, temperatures, theory_and_mc, trained


def geometries(p: Preset) -> dict[str, list[tuple[TaskSpec, object]]]:
    """Strided and unstrided pooling nets, dim 1 and 2, on the block task with xi = N / 2."""
    d1 = TaskSpec(dim=1, size=64 if p.tiny else 256, rule="block", xi=32 if p.tiny else 128)
    d2 = TaskSpec(dim=2, size=16 if p.tiny else 32, rule="block", xi=8 if p.tiny else 16)
    k1, k2 = (6, 4) if p.tiny else (8, 5)
    return {"strided": [(d1, pooling_spec(1, d1.size, k1, 2, 2)),
                        (d2, pooling_spec(2, d2.size, k2, 2, 2))],
            "unstrided": [(d1, pooling_spec(1, d1.size, 6 if p.tiny else 16, 2, 1)),
                          (d2, pooling_spec(2, d2.size, 4 if p.tiny else 10, 2, 1))]}


@dataclass(frozen=True)
class PoolingPlan(Plan):
    """Pooling nets' exact theory and Monte Carlo (aligned pairs), and trained nets beside them."""

    theory: tuple
    pooling: tuple
    trained: tuple = ()


def _pairs(p: Preset, geometry: str) -> tuple[tuple, tuple]:
    pairs = [theory_and_mc(task, net, p.probe_mc) for task, net in geometries(p)[geometry]]
    return tuple(t for t, _ in pairs), tuple(m for _, m in pairs)


def trained_2d(p: Preset) -> tuple:
    """Trained ReLU nets on the 2D block task (N = 32, xi = 16, K = 5, width 32) for F3.

    They interpolate at about epoch 35. The full continuation (20x, 735 epochs) costs about
    100 CPU-s per seed, so ``quick`` trains on for 10x (385 epochs, about 55 CPU-s, test error 0,
    D_k = 0.67, 0.27, 0.075, 0.0075 at k = 1..4 for seed 0; 3x left D_4 at 0.24) with 2 seeds;
    ``paper`` keeps 20x with 10 seeds; ``tiny`` has none.
    """
    from dataclasses import replace

    if p.tiny:
        return ()
    runs = trained(p, "relu", TaskSpec(dim=2, size=32, rule="block", xi=16), dim=2, depth=5,
                   width=32)
    if p.paper:
        return runs
    return tuple(replace(r, train=replace(r.train, continue_factor=10.0)) for r in runs[:2])


def plan_strided(p: Preset) -> PoolingPlan:
    """F3: strided pooling nets in 1D and 2D, and the trained ReLU nets (1D recipe, 2D)."""
    return PoolingPlan(*_pairs(p, "strided"), trained(p, "relu") + trained_2d(p))


def plan_unstrided(p: Preset) -> PoolingPlan:
    """F4: unstrided pooling nets in 1D and 2D."""
    return PoolingPlan(*_pairs(p, "unstrided"))


def _draw_geometry(mode: str):
    def draw(out_dir, plan: PoolingPlan, results: Results):
        module = fig3_strided if mode == "strided" else fig4_unstrided
        return module.render(out_dir, results.all(plan.theory), results.all(plan.pooling),
                             results.all(plan.trained))
    return draw


@dataclass(frozen=True)
class ActPlan(Plan):
    """F5: a ReLU and a tanh pooling net (theory and Monte Carlo), trained nets of both."""

    theory: tuple
    pooling: tuple
    relu: tuple
    tanh: tuple


def plan_relu_vs_tanh(p: Preset) -> ActPlan:
    """F5 (the 1D strided geometry of F3 with each activation)."""
    task, relu_net = geometries(p)["strided"][0]
    pairs = [theory_and_mc(task, pooling_spec(1, task.size, relu_net.depth, 2, 2, act=a),
                           p.probe_mc) for a in ("relu", "tanh")]
    return ActPlan(tuple(t for t, _ in pairs), tuple(m for _, m in pairs),
                   trained(p, "relu"), trained(p, "tanh"))


def draw_relu_vs_tanh(out_dir, plan: ActPlan, results: Results):
    """F5 from its plan."""
    pooling = {r.run.net.act: r for r in results.all(plan.theory)}
    mc = {r.run.net.act: r for r in results.all(plan.pooling)}
    return fig5_relu_vs_tanh.render(out_dir, pooling, mc, {"relu": results.all(plan.relu),
                                                           "tanh": results.all(plan.tanh)})


@dataclass(frozen=True)
class MaxentPlan(Plan):
    """F8: a pooling net on blobs under max-entropy diffeos, one run per temperature."""

    pooling: tuple


def plan_maxent(p: Preset) -> MaxentPlan:
    """Blob images (N = 32, width 1.5 px), 5 temperatures across the admissible range."""
    blobs = TaskSpec(dim=2, size=16 if p.tiny else 32, shape="blobs", rule="distance",
                     xi=4 if p.tiny else 8, blob_width=1.5)
    net = pooling_spec(2, blobs.size, 3 if p.tiny else 4, 2, 2)
    return MaxentPlan(tuple(
        Run("pooling", blobs, net, Perturbation(diffeo="maxent", temperature=t, cutoff=3.0),
             probe=p.probe_mc // 4, seed=2) for t in temperatures(blobs.size, 3 if p.tiny
                                                                  else 5)))


def draw_maxent(out_dir, plan: MaxentPlan, results: Results):
    """F8 from its plan."""
    return fig8_maxent.render(out_dir, results.all(plan.pooling))


def _label(run) -> str:
    t, n = run.task, run.net
    geo = "strided" if n.stride == n.filter else "unstrided" if n.stride == 1 else "overlapping"
    return (f"{t.dim}D {t.shape}/{t.rule} N={t.size} xi={t.xi:g}, {geo} F={n.filter} s={n.stride}"
            f" K={n.depth}, {n.act}")


def deviation(theory: RunResult, mc: RunResult) -> dict:
    """Largest deviation over layers 0..K between a prediction and a Monte Carlo measurement,
    in standard errors (``D_max_z``) and relative (``D_max_rel``, where |MC| > 1e-3); layers
    where either is undefined (den_k = 0) are left out.
    """
    from ..activations import get as activation

    row = {"config": _label(theory.run), "probe": mc.run.probe,
           "theory": "exact" if activation(theory.run.net.act).theory_exact else "approximate"}
    for q in ("D", "G"):
        _, t, _ = theory.record.sens.profile(q)
        _, m, se = mc.record.sens.profile(q)
        ok = np.isfinite(t) & np.isfinite(m)
        t, m, se = t[ok], m[ok], se[ok]
        dev = np.abs(t - m)
        z = np.divide(dev, se, out=np.where(dev == 0, 0.0, np.inf), where=se > 0)
        big = np.abs(m) > 1e-3
        row[f"{q}_max_z"] = float(np.nanmax(z))
        row[f"{q}_max_rel"] = float(np.nanmax(dev[big] / np.abs(m[big]))) if big.any() else 0.0
    return row


@dataclass(frozen=True)
class PairsPlan(Plan):
    """Every (theory, Monte Carlo) pair of the pooling-net studies, aligned."""

    theory: tuple
    pooling: tuple


def activation_pairs(p: Preset) -> tuple[tuple, tuple]:
    """Theory and Monte Carlo of the 1D strided pooling net of F5 with every registered
    activation (its parameters at their defaults): a new activation gets its row in the report.
    """
    from ..activations import names

    task, net = geometries(p)["strided"][0]
    pairs = [theory_and_mc(task, pooling_spec(1, task.size, net.depth, 2, 2, act=a), p.probe_mc)
             for a in names()]
    return tuple(t for t, _ in pairs), tuple(m for _, m in pairs)


def per_layer(pairs: list) -> Table:
    """Relative deviation of the predicted G_k from the Monte Carlo, layer by layer, for the
    activations whose theory is approximate (in units of the Monte Carlo value).
    """
    depth = max(t.run.net.depth for t, _ in pairs)
    rows = []
    for t, m in pairs:
        _, g, _ = t.record.sens.profile("G")
        _, gm, se = m.record.sens.profile("G")
        ok = np.isfinite(g) & np.isfinite(gm) & (gm != 0)
        cells = [f"{(g[k] - gm[k]) / gm[k]:+.1%} ({abs(g[k] - gm[k]) / se[k]:.0f} s.e.)"
                 if k < len(g) and ok[k] else "n/a" for k in range(1, depth + 1)]
        rows.append((_label(t.run), *cells))
    return Table(("configuration", *(f"G_{k}" for k in range(1, depth + 1))), tuple(rows))


def theory_table(plan: PairsPlan, results: Results) -> list[Section]:
    """The report's theory-vs-simulation table, one row per finished pair, and the per-layer
    deviation of G_k where the theory is approximate.
    """
    done = [(results[t], results[m]) for t, m in zip(plan.theory, plan.pooling, strict=True)
            if t in results and m in results]
    rows = [deviation(t, m) for t, m in done]
    approximate = [(t, m) for (t, m), row in zip(done, rows, strict=True)
                   if row["theory"] == "approximate"]
    table = Table(("configuration", "P", "D max |dev|/se", "D max rel", "G max |dev|/se",
                   "G max rel", "theory"),
                  tuple((r["config"], r["probe"], r["D_max_z"], r["D_max_rel"], r["G_max_z"],
                         r["G_max_rel"], r["theory"]) for r in rows))
    sections = [Section("Theory vs simulation (idealized pooling nets)", (
        "Largest deviation over layers 0..K between the prediction "
        "(scaledetect.theory.predict) and the Monte Carlo measurement "
        "(scaledetect.sensitivity.measure), in standard errors and relative.",), (table,))]
    if approximate:
        sections.append(Section("Theory vs simulation (idealized pooling nets)", (
            "Where the theory is approximate (D_k, G_0 and G_1 exact; deeper G_k by Gaussian "
            "moment propagation, or, for leaky ReLU, by the rectified noise of layer 1 passed "
            "on linearly), its deviation from the Monte Carlo per layer: (theory - MC) / MC, "
            "and in standard errors of the Monte Carlo.",), (per_layer(approximate),)))
    return sections


STRIDED = Study(fig3_strided.ID, fig3_strided.CAPTION, plan_strided, _draw_geometry("strided"))
UNSTRIDED = Study(fig4_unstrided.ID, fig4_unstrided.CAPTION, plan_unstrided,
                  _draw_geometry("unstrided"))
RELU_VS_TANH = Study(fig5_relu_vs_tanh.ID, fig5_relu_vs_tanh.CAPTION, plan_relu_vs_tanh,
                     draw_relu_vs_tanh)
MAXENT = Study(fig8_maxent.ID, fig8_maxent.CAPTION, plan_maxent, draw_maxent)
