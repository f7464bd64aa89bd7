"""Shared drawing of F3 (strided) and F4 (unstrided): theory vs pooling-net MC vs trained nets."""

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter

from ._data import (
    describe_net,
    describe_task,
    draw_seeds,
    draw_single,
    note_omitted,
)
from .style import KIND_COLORS, QUANTITY_LABELS, figure, guide, plain_log_ticks, save

QUANTITIES = ("D", "G", "R")


def guides(mode: str, dim: int, stride: int) -> dict:
    """Leading-order scaling of D_k, G_k, R_k with depth as ``(label, f(k))``.

    ``strided`` (s = F): ``D ~ s^-k``, ``G ~ s^(dim k)``, ``R ~ s^-(dim+1)k``.
    ``unstrided`` (s = 1): ``D ~ k^-1``, ``G ~ k^(dim/2)``, ``R ~ k^-(1 + dim/2)``.
    """
    if mode == "strided":
        s = stride
        return {"D": (f"$\\propto {s}^{{-k}}$", lambda k: float(s) ** (-k)),
                "G": (f"$\\propto {s}^{{{dim}k}}$" if dim > 1 else f"$\\propto {s}^{{k}}$",
                      lambda k: float(s) ** (dim * k)),
                "R": (f"$\\propto {s}^{{-{dim + 1}k}}$", lambda k: float(s) ** (-(dim + 1) * k))}
    half = f"{dim}/2" if dim % 2 else f"{dim // 2}"
    g_exp = "" if dim == 2 else f"^{{{half}}}"
    return {"D": ("$\\propto k^{-1}$", lambda k: k ** -1.0),
            "G": (f"$\\propto k{g_exp}$", lambda k: k ** (dim / 2)),
            "R": ("$\\propto k^{-3/2}$" if dim == 1 else "$\\propto k^{-2}$",
                  lambda k: k ** -(1 + dim / 2))}


def _anchor(x: np.ndarray, y: np.ndarray, f, k0: float):
    """Scale ``f`` to pass through the curve (x, y) at the layer closest to k0."""
    i = int(np.argmin(np.abs(x - k0)))
    return y[i] / f(x[i])


def _panel(ax, q: str, th, mc, tr, mode: str, min_k: int) -> dict:
    """Draw one quantity's theory lines, Monte Carlo markers, trained squares and guide."""
    log_x = mode == "unstrided"
    panel = {}
    for r in th:
        panel[f"theory {r.run.key}"] = draw_single(
            ax, r.record.sens, q, color=KIND_COLORS["theory"], min_k=min_k,
            label="theory, pooling net (exact)")
    for r in mc:
        panel[f"pooling {r.run.key}"] = draw_single(
            ax, r.record.sens, q, color=KIND_COLORS["pooling"], marker="o",
            min_k=min_k, label=f"pooling net, Monte Carlo (P={r.run.probe})")
    if tr:
        net, task = tr[0].run.net, tr[0].run.task
        panel["trained"] = draw_seeds(
            ax, [r.record.trained for r in tr], q, color=KIND_COLORS["trained"], marker="s",
            min_k=min_k, label=f"trained CNN (N={task.size}, ξ={task.xi:g}, K={net.depth}, "
                               f"width {net.width})")
    ref = next(iter(panel.values()), None)
    if ref is not None:
        net = (th or mc or tr)[0].run.net
        label, f = guides(mode, net.dim, net.stride)[q]
        x = np.asarray(ref["x"], float)
        k0 = x.min() + 0.5 * (x.max() - x.min()) if not log_x else np.sqrt(x.max())
        c = _anchor(x, np.asarray(ref["y"], float), f, k0)
        xs = np.linspace(x.min(), x.max(), 50)
        guide(ax, xs, c * f(xs), label=label)
        panel["guide"] = {"label": label, "x": xs, "y": c * f(xs)}
    note = note_omitted(ax, panel, q)
    if note:
        panel["not_drawn"] = note
    return panel


def _log_depth_axis(ax, depth: int) -> None:
    """Log-scaled layer axis with ticks at powers of 2 up to *depth*."""
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= depth]
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def render_scaling(out_dir, theory: list, pooling: list, trained: list, *, fig_id: str,
                   mode: str, caption: str, title: str) -> list[Path]:
    """Grid of panels: rows D, G, R; columns dim 1 and dim 2 (those present).

    Theory (*theory*: RunResults of predictions) as lines, pooling-net Monte Carlo (*pooling*)
    as markers with error bars, trained CNNs (*trained*: their ``trained`` measurement, mean +-
    s.e. over seeds) as squares; dotted guides show the leading scaling with depth, anchored on
    the theory (or on the Monte Carlo) in the middle of the depth range.
    """
    log_x = mode == "unstrided"
    dims = sorted({r.run.net.dim for r in theory + pooling + trained})
    fig, axes = figure(3, len(dims), width=4.3 * len(dims) + 0.6, height=8.6, sharex="col")
    data = {"caption": caption, "mode": mode, "columns": {}}
    min_k = 1 if log_x else 0
    legend = {}
    for j, dim in enumerate(dims):
        th = [r for r in theory if r.run.net.dim == dim]
        mc = [r for r in pooling if r.run.net.dim == dim]
        tr = [r for r in trained if r.run.net.dim == dim]
        col = {"theory": [r.run.to_dict() for r in th], "pooling": [r.run.to_dict() for r in mc],
               "trained": [r.run.to_dict() for r in tr[:1]], "panels": {}}
        depth = max(r.run.net.depth for r in th + mc + tr)
        for i, q in enumerate(QUANTITIES):
            ax = axes[i, j]
            panel = _panel(ax, q, th, mc, tr, mode, min_k)
            ax.set_yscale("log")
            plain_log_ticks(ax, "y")
            if log_x:
                _log_depth_axis(ax, depth)
            ax.set_ylabel(QUANTITY_LABELS[q])
            # the symbols are explained once, below the figure; each panel names its guide
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab.startswith("$"):
                    ax.legend([h], [lab], loc="best", fontsize=7)
                elif lab not in legend:
                    legend[lab] = h
            col["panels"][q] = panel
        if th or mc:
            r = (th or mc)[0].run
            axes[0, j].set_title(f"{dim}D pooling net: {describe_net(r.net).rsplit(',', 1)[0]}\n"
                                 f"{describe_task(r.task)}")
        axes[-1, j].set_xlabel("layer k (log scale)" if log_x else "layer k")
        if not log_x:
            axes[-1, j].set_xticks(range(depth + 1))
        data["columns"][f"dim{dim}"] = col
    fig.legend(list(legend.values()), list(legend), loc="outside lower center",
               ncol=2 if len(legend) > 2 else len(legend), fontsize=7.5)
    fig.suptitle(title, fontsize=10)
    return save(fig, out_dir, fig_id, data)
