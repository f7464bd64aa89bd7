"""F15 — xi sweep: the layer where a trained net's D_k collapses tracks log_s(xi)."""

import math
from pathlib import Path

import numpy as np

from ..experiments.stats import mean_se
from ._data import layer_ticks, series
from ._trained import collapse_layer
from .style import KIND_COLORS, errorbars, figure, layer_colors, save, styled, theory_line

ID = "fig15_xi"
CAPTION = ("Block size sweep: for trained ReLU CNNs on the 1D block task at several ξ, the "
           "channel-averaged D_k (markers, mean ± s.e. over seeds) collapses at the layer whose "
           "units cover one block, k* = log_s ξ (dotted), like the pooling net's exact D_k "
           "(lines), which is 0 from k* on; the right panel plots that layer against log_s ξ.")


@styled
def render(out_dir, theory: list, trained: list) -> list[Path]:
    """Left: channel-averaged D_k per xi with the pooling theory; right: collapse layer
    (``argmin_k D_k / D_{k-1}``) against log_s(xi). *theory*: RunResults of the pooling theory
    of each xi; *trained*: RunResults of trained ReLU nets. Returns ``[png, pdf, json]`` of
    ``fig15_xi``.
    """
    xis = sorted({r.run.task.xi for r in trained})
    theory = {r.run.task.xi: r for r in theory}
    fig, axes = figure(1, 2, width=10, height=3.8)
    colors = dict(zip(xis, layer_colors(len(xis)), strict=True))
    data = {"caption": CAPTION, "profiles": {}, "collapse": {}}
    rows = []
    for i, xi in enumerate(xis):
        runs_xi = [r for r in trained if r.run.task.xi == xi]
        th = theory[xi].record.sens
        sens = [r.record.channel_mean for r in runs_xi]
        stride = runs_xi[0].run.net.stride
        data["profiles"][f"xi={xi:g}"] = _profile(axes[0, 0], th, sens, colors[xi], xi, i,
                                                  len(xis))
        axes[0, 0].axvline(math.log(xi, stride), color=colors[xi], linestyle=":", linewidth=1)
        m, se = mean_se([collapse_layer(s) for s in sens], finite=True)
        rows.append((math.log(xi, stride), m, se, collapse_layer(th), len(sens)))
    x, m, se, th_k, n = (np.array(c, float) for c in zip(*rows, strict=True))
    ax = axes[0, 1]
    ax.plot(x, x, color="#999999", linestyle=":", label="k = log_s ξ")
    theory_line(ax, x, th_k, label="pooling net, exact", color=KIND_COLORS["theory"])
    errorbars(ax, x, m, np.nan_to_num(se), label="trained CNNs (mean ± s.e.)",
              color=KIND_COLORS["trained"], marker="s")
    data["collapse"] = {"theory": series(x, th_k, label="pooling net, exact"),
                        "trained": series(x, m, np.nan_to_num(se), n_seeds=n,
                                          label="trained CNNs")}
    ax.set_xlabel("log_s ξ")
    ax.set_ylabel("collapse layer argmin_k D_k / D_(k-1)")
    ax.legend(fontsize=7)
    depth = trained[0].run.net.depth
    layer_ticks(axes[0, 0], depth)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_xlabel("layer k")
    axes[0, 0].set_ylabel(r"diffeo sensitivity $D_k$ (channel mean)")
    axes[0, 0].legend(fontsize=6.5, loc="lower left")
    task = trained[0].run.task
    fig.suptitle(f"F15  Where D_k collapses: trained CNNs (N={task.size}, K={depth}, width "
                 f"{trained[0].run.net.width}) vs pooling theory, several ξ", fontsize=10)
    return save(fig, out_dir, ID, data)


def _profile(ax, th, sens: list, color, xi: float, i: int, n: int) -> dict:
    k, v, _ = th.profile("D")
    ok = np.isfinite(v) & (v > 0)
    theory_line(ax, k[ok], v[ok], label=None, color=color)
    mean, se = mean_se(np.stack([s.profile("D")[1] for s in sens]))
    se = se if len(sens) > 1 else np.zeros_like(mean)
    keep = np.isfinite(mean) & (mean > 0)
    errorbars(ax, k[keep], mean[keep], se[keep], label=f"ξ={xi:g} (n={len(sens)})", color=color,
              marker="s", offset=0.08 * (i - (n - 1) / 2))
    return {"theory": series(k[ok], v[ok], label="pooling net, exact"),
            "trained": series(k[keep], mean[keep], se[keep], n_seeds=len(sens))}
