"""F8 — max-entropy diffeomorphisms on blobs: examples at several temperatures and D_k vs T."""

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter

from .. import perturb, tasks
from ..errors import require
from ._data import describe_net, describe_task
from .style import errorbars, figure, guide, layer_colors, plain_log_ticks, save, styled

ID = "fig8_maxent"
CAPTION = ("Smooth max-entropy deformations of blob images (Petrini et al. 2021) at increasing "
           "temperature T, and the pooling net's diffeo sensitivity D_k per layer as a function "
           "of T: D_k grows about linearly with T (the squared displacement) and falls with "
           "depth at every T.")


def examples(task, temperatures, cutoff: float, interp: str, rng: int = 0) -> np.ndarray:
    """One blob image deformed by the *same* field shape at each temperature.

    Returns ``(1 + len(temperatures), N, N)``: the clean image, then one per T. With a fixed
    seed the field's Gaussian coefficients are the same, scaled by sqrt(T).
    """
    batch = tasks.sample(task, 1, rng)
    out = [batch.images[0, 0]]
    for t in temperatures:
        field = perturb.maxent_field(task.dim, task.size, 1, t, cutoff, rng + 1)
        out.append(perturb.deform(batch.images, field, interp)[0, 0])
    return np.stack(out).astype(float)


def _examples_panel(top, task, pert, temps: np.ndarray) -> np.ndarray:
    """(a): one blob image deformed at each temperature; returns the images drawn."""
    imgs = examples(task, temps, pert.cutoff, pert.interp)
    vmax = float(np.abs(imgs).max())
    for i, ax in enumerate(top.subplots(1, len(temps) + 1, squeeze=False)[0]):
        ax.imshow(imgs[i], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest",
                  origin="lower")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i == 0:
            ax.set_title("clean")
        else:
            rms = perturb.displacement_rms(temps[i - 1], pert.cutoff, task.size, dim=task.dim)
            ax.set_title(f"T = {temps[i - 1]:.2g}\nRMS shift {rms:.2g} px", fontsize=8)
    top.suptitle(f"(a) one blob image ({describe_task(task)}, blob width "
                 f"{task.blob_width:g} px)\ndeformed by the same field shape at growing "
                 f"temperature T (cut-off {pert.cutoff:g}, {pert.interp} interpolation)",
                 fontsize=9)
    return imgs


@styled
def render(out_dir, pooling: list) -> list[Path]:
    """Draw F8 from Monte Carlo measurements (RunResults) of one pooling net under max-entropy
    diffeos, one per temperature. Returns ``[png, pdf, json]`` of ``fig8_maxent``.
    """
    mc = sorted((r for r in pooling if r.run.pert.diffeo == "maxent"),
                key=lambda r: r.run.pert.temperature)
    require(len(mc) > 0, "pooling", "contain measurements with diffeo=maxent", len(mc))
    task, net, pert = mc[0].run.task, mc[0].run.net, mc[0].run.pert
    temps = np.array([r.run.pert.temperature for r in mc])
    fig = figure(1, 1, width=max(8.0, 1.55 * (len(temps) + 1)), height=6.6)[0]
    fig.clear()
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.9])
    imgs = _examples_panel(top, task, pert, temps)
    axes = bottom.subplots(1, 2, squeeze=False)[0]
    depth = net.depth
    colors = layer_colors(depth + 1)
    data = {"caption": CAPTION, "task": task.to_dict(), "net": net.to_dict(),
            "temperatures": temps, "examples": imgs, "panels": {"D": {}, "R": {}}}
    for ax, q in zip(axes, ("D", "R"), strict=True):
        per_layer = [r.record.sens.profile(q) for r in mc]
        for k in range(depth + 1):
            y = np.array([p[1][k] for p in per_layer])
            se = np.array([p[2][k] if p[2] is not None else np.nan for p in per_layer])
            ok = np.isfinite(y) & (y > 0)  # log axes: 0 or undefined values are listed, not drawn
            errorbars(ax, temps[ok], y[ok], se[ok], color=colors[k], marker="o",
                      label=f"layer {k}" + (" (input)" if k == 0 else ""))
            ax.plot(temps[ok], y[ok], color=colors[k], lw=0.6, alpha=0.6)
            data["panels"][q][f"layer {k}"] = {"x": temps[ok], "y": y[ok], "se": se[ok],
                                               "not_drawn_T": temps[~ok]}
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(temps)  # label the measured temperatures only
        ax.set_xticklabels([f"{t:.2g}" for t in temps])
        ax.xaxis.set_minor_formatter(NullFormatter())
        plain_log_ticks(ax, "y")
        ax.set_xlabel("temperature T of the max-entropy field")
        if q == "D":
            y0 = np.array([p[1][0] for p in per_layer])
            xs = np.geomspace(temps.min(), temps.max(), 20)
            guide(ax, xs, y0[0] * xs / temps[0] * 0.5, label=r"$\propto T$")
            ax.set_ylabel(r"diffeo sensitivity $D_k$")
            ax.set_title(f"(b) D_k vs T, pooling net ({describe_net(net)}), "
                         f"P={mc[0].run.probe}", fontsize=8.5)
            ax.legend(loc="lower right", fontsize=6.5, ncol=2)
        else:
            ax.set_ylabel(r"$R_k = D_k / G_k$ (noise matched to each T)")
            ax.set_title("(c) relative sensitivity R_k vs T", fontsize=8.5)
    bottom.suptitle("")
    fig.suptitle("F8  Max-entropy diffeomorphisms on blobs", fontsize=10)
    return save(fig, out_dir, ID, data)
