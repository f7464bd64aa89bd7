"""F5 — ReLU vs tanh: noise sensitivity G_k of pooling nets (theory + MC) and of trained CNNs."""

from pathlib import Path

from ._data import (
    describe_task,
    draw_seeds,
    draw_single,
    layer_ticks,
    note_omitted,
    result_of,
    select,
)
from .style import ACT_COLORS, figure, plain_log_ticks, save, styled

ID = "fig5_relu_vs_tanh"
CAPTION = ("Only rectified noise piles up: in pooling nets G_k grows with depth for ReLU, while "
           "for the odd tanh it stays flat after the first layer (at a level set by the input "
           "amplitude, since tanh saturates the signal but not the small noise); trained CNNs "
           "are compared in the same way.")


@styled
def render(out_dir, runs, results: dict, arrays_of=None) -> list[Path]:
    """Draw F5: (a) pooling nets, theory vs Monte Carlo; (b) trained CNNs, init vs trained.

    Parameters
    ----------
    runs : sequence of Run
        ``preset(name)["fig5_relu_vs_tanh"]``: ``theory`` and ``pooling`` runs of a ReLU and a tanh
        pooling net, ``train`` (and ``nngp``) runs tagged ``relu`` and ``tanh``.

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig5_relu_vs_tanh``; *arrays_of* is unused.
    """
    fig, axes = figure(1, 2, width=9.6, height=3.8)
    data = {"caption": CAPTION, "pooling": {}, "trained": {}}
    ax = axes[0, 0]
    depth_pool = 0
    for act, off in (("relu", -0.06), ("tanh", 0.06)):
        for r in select(runs, "theory", net_act=act):
            data["pooling"][f"{act} theory"] = draw_single(
                ax, result_of(results, r), "G", color=ACT_COLORS[act], label=f"{act}: theory")
            depth_pool = max(depth_pool, r.net.depth)
            task = r.task
        for r in select(runs, "pooling", net_act=act):
            data["pooling"][f"{act} Monte Carlo"] = draw_single(
                ax, result_of(results, r), "G", color=ACT_COLORS[act], marker="o", offset=off,
                label=f"{act}: Monte Carlo (P={r.probe})")
            depth_pool = max(depth_pool, r.net.depth)
            task = r.task
    if depth_pool:
        layer_ticks(ax, depth_pool)
        ax.set_title(f"(a) pooling nets (F=s=2): {describe_task(task)}")
    ax = axes[0, 1]
    depth_tr = 0
    for act, off in (("relu", -0.1), ("tanh", 0.1)):
        trained = select(runs, "train", tag=act)
        if not trained:
            continue
        data["trained"][f"{act} init"] = draw_seeds(
            ax, results, trained, "init", "G", color=ACT_COLORS[act], marker="o", filled=False,
            offset=off - 0.05, label=f"{act}: at initialization")
        data["trained"][f"{act} trained"] = draw_seeds(
            ax, results, trained, "trained", "G", color=ACT_COLORS[act], marker="s",
            offset=off + 0.05, label=f"{act}: trained")
        depth_tr = max(depth_tr, trained[0].net.depth)
        width, task = trained[0].net.width, trained[0].task
    if depth_tr:
        layer_ticks(ax, depth_tr)
        ax.set_title(f"(b) trained CNNs (width {width}): {describe_task(task)}")
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
