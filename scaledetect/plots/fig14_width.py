"""F14 — width convergence: channel-averaged trained nets against the pooling theory."""

from pathlib import Path

import numpy as np

from ..experiments.stats import mean_se
from ._data import describe_task, layer_ticks, series
from ._trained import log_distance
from .style import KIND_COLORS, QUANTITY_LABELS, errorbars, figure, layer_colors, save, styled
from .style import theory_line as line

ID = "fig14_width"
CAPTION = ("Width convergence: averaged over channels, the representations of trained ReLU CNNs "
           "(markers, mean ± s.e. over seeds) follow the idealized pooling net's exact D_k and "
           "G_k (line), and the right panel shows how their distance to the theory (RMS of "
           "log10 trained/theory over the layers below the block scale) changes with width.")


@styled
def render(out_dir, theory, trained: list) -> list[Path]:
    """Panels: channel-averaged D_k and G_k per width with the theory; distance against width.

    *theory*: the RunResult of the pooling theory of the task; *trained*: RunResults of trained
    ReLU nets (their channel-averaged measurement). Returns ``[png, pdf, json]`` of
    ``fig14_width``.
    """
    th = theory.record.sens
    theory = theory.run
    by_width: dict[int, list] = {}
    for r in sorted(trained, key=lambda r: (r.run.net.width, r.run.seed)):
        by_width.setdefault(r.run.net.width, []).append(r.record.channel_mean)
    fig, axes = figure(1, 3, width=13, height=3.8)
    colors = dict(zip(by_width, layer_colors(len(by_width)), strict=True))
    data = {"caption": CAPTION, "theory_run": theory.to_dict(), "panels": {}, "distance": {}}
    for j, q in enumerate(("D", "G")):
        data["panels"][q] = _profile_panel(axes[0, j], th, by_width, colors, q, theory.net.depth)
    data["distance"] = _distance_panel(axes[0, 2], th, by_width)
    fig.suptitle(f"F14  Trained CNNs vs pooling theory, averaged over channels "
                 f"({describe_task(theory.task)}, K={theory.net.depth}, F=s=2)", fontsize=10)
    return save(fig, out_dir, ID, data)


def _profile_panel(ax, th, by_width: dict, colors: dict, q: str, depth: int) -> dict:
    k, v, _ = th.profile(q)
    ok = np.isfinite(v) & (v > 0)
    line(ax, k[ok], v[ok], label="pooling net, exact", color=KIND_COLORS["theory"])
    panel = {"theory": series(k[ok], v[ok], label="pooling net, exact")}
    for i, (w, sens) in enumerate(by_width.items()):
        mean, se = mean_se(np.stack([s.profile(q)[1] for s in sens]))
        se = se if len(sens) > 1 else np.zeros_like(mean)
        keep = np.isfinite(mean) & (mean > 0)
        offset = 0.08 * (i - (len(by_width) - 1) / 2)
        errorbars(ax, k[keep], mean[keep], se[keep], label=f"width {w} (n={len(sens)})",
                  color=colors[w], marker="s", offset=offset)
        panel[f"width {w}"] = series(k[keep], mean[keep], se[keep], n_seeds=len(sens))
    ax.set_yscale("log")
    layer_ticks(ax, depth)
    ax.set_xlabel("layer k")
    ax.set_ylabel(QUANTITY_LABELS[q] + " (channel mean)")
    ax.legend(fontsize=6.5, loc="best")
    return panel


def _distance_panel(ax, th, by_width: dict) -> dict:
    out = {}
    widths = np.array(list(by_width), float)
    for q, marker in (("D", "o"), ("G", "s")):
        stats = [mean_se([log_distance(s, th, q) for s in sens], finite=True)
                 for sens in by_width.values()]
        mean, se = np.array(stats).T
        errorbars(ax, widths, mean, np.nan_to_num(se), label=f"{q}_k", color=KIND_COLORS[
            "trained" if q == "D" else "pooling"], marker=marker)
        ax.plot(widths, mean, color="#bbbbbb", linewidth=0.8, zorder=1)
        out[q] = series(widths, mean, np.nan_to_num(se), label=f"RMS log10({q} trained / "
                        f"{q} theory)", n_seeds=[len(s) for s in by_width.values()])
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths)
    ax.set_xticklabels([str(int(w)) for w in widths])
    ax.set_xlabel("width (channels)")
    ax.set_ylabel("distance to theory (RMS log10 ratio)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return out
