"""F5 — ReLU vs tanh: noise sensitivity G_k of pooling nets (theory + MC) and of trained CNNs."""

from pathlib import Path

from ._data import (
    describe_task,
    draw_seeds,
    draw_single,
    layer_ticks,
    note_omitted,
)
from .style import ACT_COLORS, figure, plain_log_ticks, save, styled

ID = "fig5_relu_vs_tanh"
CAPTION = ("Only rectified noise piles up: in pooling nets G_k grows with depth for ReLU, while "
           "for the odd tanh it stays flat after the first layer (at a level set by the input "
           "amplitude, since tanh saturates the signal but not the small noise); trained CNNs "
           "are compared in the same way.")


@styled
def render(out_dir, theory: dict, mc: dict, trained: dict) -> list[Path]:
    """Draw F5: (a) pooling nets, theory vs Monte Carlo; (b) trained CNNs, init vs trained.

    Parameters
    ----------
    theory, mc : dict
        ``{act: RunResult}``: the exact prediction and the Monte Carlo of a ReLU and a tanh
        pooling net.
    trained : dict
        ``{act: [RunResult, ...]}``: trained nets of each activation, one per seed.

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig5_relu_vs_tanh``.
    """
    fig, axes = figure(1, 2, width=9.6, height=3.8)
    data = {"caption": CAPTION, "pooling": _pooling_panel(axes[0, 0], theory, mc),
            "trained": _trained_panel(axes[0, 1], trained)}
    for ax, part in zip(axes[0], ("pooling", "trained"), strict=True):
        note_omitted(ax, data[part], "G")
        ax.set_yscale("log")
        plain_log_ticks(ax)
        ax.set_xlabel("layer k")
        ax.set_ylabel(r"noise sensitivity $G_k$")
        ax.axhline(1.0, color="#bbbbbb", lw=0.8, zorder=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    fig.suptitle("F5  ReLU vs tanh: G_k grows with depth for ReLU (noise piles up); for tanh it "
                 "stays flat after layer 1 (its level is set by the saturated signal)",
                 fontsize=9.5)
    return save(fig, out_dir, ID, data)


def _pooling_panel(ax, theory: dict, mc: dict) -> dict:
    """(a): G_k of the ReLU and tanh pooling nets, theory lines and Monte Carlo markers."""
    panel, depth = {}, 0
    for act, off in (("relu", -0.06), ("tanh", 0.06)):
        for r in [theory[act]] if act in theory else []:
            panel[f"{act} theory"] = draw_single(
                ax, r.record.sens, "G", color=ACT_COLORS[act], label=f"{act}: theory")
            depth, task = max(depth, r.run.net.depth), r.run.task
        for r in [mc[act]] if act in mc else []:
            panel[f"{act} Monte Carlo"] = draw_single(
                ax, r.record.sens, "G", color=ACT_COLORS[act], marker="o", offset=off,
                label=f"{act}: Monte Carlo (P={r.run.probe})")
            depth, task = max(depth, r.run.net.depth), r.run.task
    if depth:
        layer_ticks(ax, depth)
        ax.set_title(f"(a) pooling nets (F=s=2): {describe_task(task)}")
    return panel


def _trained_panel(ax, trained: dict) -> dict:
    """(b): G_k of trained ReLU and tanh CNNs, at initialization and trained."""
    panel, depth = {}, 0
    for act, off in (("relu", -0.1), ("tanh", 0.1)):
        runs = trained.get(act, [])
        if not runs:
            continue
        panel[f"{act} init"] = draw_seeds(
            ax, [r.record.init for r in runs], "G", color=ACT_COLORS[act], marker="o",
            filled=False, offset=off - 0.05, label=f"{act}: at initialization")
        panel[f"{act} trained"] = draw_seeds(
            ax, [r.record.trained for r in runs], "G", color=ACT_COLORS[act], marker="s",
            offset=off + 0.05, label=f"{act}: trained")
        depth = max(depth, runs[0].run.net.depth)
        width, task = runs[0].run.net.width, runs[0].run.task
    if depth:
        layer_ticks(ax, depth)
        ax.set_title(f"(b) trained CNNs (width {width}): {describe_task(task)}")
    return panel
