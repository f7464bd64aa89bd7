"""F13 — finite-size scaling: fitted exponents against system size, and data collapses."""

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter

from ..experiments.scaling import collapse, exponent_series, geometry_of
from ._data import series
from .style import errorbars, figure, layer_colors, plain_log_ticks, save, styled, theory_line

ID = "fig13_scaling"
CAPTION = ("Finite-size scaling of pooling nets on the block task (ξ = N/4): the exponents of "
           "D_k and G_k fitted in the scaling window approach -1 and dim (strided) or -1 and "
           "dim/2 (unstrided) as the system grows (exact theory as lines, Monte Carlo as "
           "markers); rescaled by its leading power, D_k collapses onto one curve of the scaling "
           "variable s^k/ξ (strided) or sqrt(k)/ξ (unstrided), while rescaled G_k approaches its "
           "limit curve only as the pixel-scale offset of the rectified noise dies out at large N.")

PANELS = (("strided", "D"), ("strided", "G"), ("unstrided", "D"), ("unstrided", "G"))
DIM_COLORS = {1: "#1f5fa8", 2: "#c0392b"}
X_LABELS = {"strided": r"$s^k/\xi$", "unstrided": r"$\sqrt{k}/\xi$"}
Y_LABELS = {("strided", "D"): r"$D_k\, s^k / D_0$", ("strided", "G"): r"$G_k\, s^{-\dim\, k}$",
            ("unstrided", "D"): r"$(k+1)\, D_k / D_0$",
            ("unstrided", "G"): r"$G_k\, k^{-\dim/2}$"}


@styled
def render(out_dir, theory: list, mc: list) -> list[Path]:
    """Row 1: fitted exponent against N per (geometry, quantity), dims 1 and 2, with the
    asymptote and a 5% band; rows 2-3: data collapse in dim 1 and dim 2 (theory lines coloured by
    N, Monte Carlo markers). *theory*, *mc*: RunResults of the system-size series
    (``studies.scaling``). Returns ``[png, pdf, json]`` of ``fig13_scaling``.
    """
    dims = sorted({r.run.task.dim for r in theory + mc})
    fig, axes = figure(1 + len(dims), 4, width=15, height=3.3 * (1 + len(dims)))
    data = {"caption": CAPTION, "exponents": {}, "collapse": {}}
    fits = exponent_series(theory, mc)
    for j, (geometry, q) in enumerate(PANELS):
        data["exponents"][f"{geometry} {q}"] = _exponent_panel(axes[0, j], fits, geometry, q,
                                                               dims)
        for i, dim in enumerate(dims):
            data["collapse"][f"dim{dim} {geometry} {q}"] = _collapse_panel(
                axes[1 + i, j], theory, mc, geometry, q, dim)
    fig.suptitle("F13  Finite-size scaling of pooling nets (lines: exact theory; markers: Monte "
                 "Carlo)", fontsize=10)
    return save(fig, out_dir, ID, data)


def _exponent_panel(ax, fits: dict, geometry: str, q: str, dims: list[int]) -> dict:
    panel = {}
    for dim in dims:
        entry = fits.get((dim, geometry, q))
        if entry is None:
            continue
        c, e = DIM_COLORS[dim], entry["predicted"]
        ax.axhline(e, color=c, linestyle=":", linewidth=1)
        ax.axhspan(e - 0.05 * abs(e), e + 0.05 * abs(e), color=c, alpha=0.08, linewidth=0)
        th, mc = entry["theory"], entry["mc"]
        if th["N"]:
            theory_line(ax, th["N"], th["e"], label=f"{dim}D theory", color=c)
            panel[f"dim{dim} theory"] = series(th["N"], th["e"], label=f"{dim}D theory")
        if mc["N"]:
            ci = 1.96 * np.asarray(mc["se"])
            errorbars(ax, mc["N"], mc["e"], ci, label=f"{dim}D Monte Carlo (95% CI)", color=c,
                      marker="o", filled=False)
            panel[f"dim{dim} mc"] = series(mc["N"], mc["e"], ci, label=f"{dim}D Monte Carlo")
        panel[f"dim{dim} predicted"] = e
        panel[f"dim{dim} layers"] = entry["layers"]
    ax.set_xscale("log", base=2)
    ax.set_xlabel("system size N")
    ax.set_ylabel(f"fitted exponent of ${q}_k$")
    ax.set_title(f"{geometry}: {q}_k " + ("∝ s^(e k)" if geometry == "strided" else "∝ k^e")
                 + " in the window", fontsize=8.5)
    ax.legend(fontsize=6.5, loc="best")
    return panel


def _collapse_panel(ax, theory: list, mc: list, geometry: str, q: str, dim: int) -> dict:
    # at each size the Monte Carlo first, then the theory line on top
    chosen = sorted([(r, 1) for r in theory] + [(r, 0) for r in mc],
                    key=lambda p: (p[0].run.task.size, p[1]))
    chosen = [(r, is_theory) for r, is_theory in chosen
              if r.run.task.dim == dim and geometry_of(r.run.net) == geometry]
    sizes = sorted({r.run.task.size for r, _ in chosen})
    colors = dict(zip(sizes, layer_colors(max(len(sizes), 1)), strict=True))
    panel = {}
    for r, is_theory in chosen:
        task = r.run.task
        pts = collapse(task, r.run.net, r.record.sens, q)
        c, label = colors[task.size], f"N={task.size}"
        if is_theory:
            theory_line(ax, pts["x"], pts["y"], label=label, color=c)
            panel[f"theory N={task.size}"] = series(pts["x"], pts["y"], k=pts["k"], label=label)
        else:
            errorbars(ax, pts["x"], pts["y"], pts["se"], label=None, color=c, marker="o",
                      filled=False)
            panel[f"mc N={task.size}"] = series(pts["x"], pts["y"], pts["se"], k=pts["k"],
                                                label=label)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    # (k + 1) D_k / D_0 of unstrided nets stays within a few percent of 1: a linear axis
    if (geometry, q) != ("unstrided", "D"):
        ax.set_yscale("log")
        plain_log_ticks(ax, "y")
    ax.set_xlabel(f"scaling variable {X_LABELS[geometry]}")
    ax.set_ylabel(Y_LABELS[(geometry, q)].replace(r"\dim", str(dim)))
    ax.set_title(f"{dim}D {geometry}: collapse of {q}_k", fontsize=8.5)
    if panel:
        ax.legend(fontsize=6, loc="best", ncol=2)
    return panel
