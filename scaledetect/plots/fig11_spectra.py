"""F11 — learned filters: layer-1 filters and the filter spectrum per layer, trained vs init.

Each filter is expanded on the eigenvectors of the grid Laplacian of its support (path of F sites,
open boundaries; ``scaledetect.diagnostics.spectrum``). A pooling filter lies on the constant mode
(eigenvalue 0) only; random filters spread evenly, 1/F^dim per mode.
"""

from pathlib import Path

import numpy as np

from ..errors import require
from ..experiments.stats import mean_se
from ..nn.filters import uniform_share
from ._data import describe_net, describe_task
from .style import KIND_COLORS, errorbars, figure, layer_colors, save, styled

ID = "fig11_spectra"
CAPTION = ("Do trained networks learn to pool? First-layer filters before and after training, "
           "and per layer the share of the filter power on the constant (average-pooling) mode "
           "of the filter-support Laplacian, trained vs initialization, for the ReLU CNN with "
           "F = s = 2 and F = s = 4, with the F = 4 power per Laplacian mode; 1/F^dim is what "
           "random filters give.")


#: Channels drawn in the filter panel when filters have more than two taps.
CHANNELS_SHOWN = 8


def _filters_scatter(ax, w0: np.ndarray, w1: np.ndarray) -> dict:
    """Two-tap filters (F^dim = 2) of every channel as points (w_0, w_1), before and after."""
    a0, a1 = w0.reshape(len(w0), -1), w1.reshape(len(w1), -1)
    lim = 1.1 * max(np.abs(a0).max(), np.abs(a1).max())
    ax.plot([-lim, lim], [-lim, lim], color="#555555", ls="--", lw=0.9,
            label="uniform filters $w_0 = w_1$ (pooling)")
    ax.plot([-lim, lim], [lim, -lim], color="#bbbbbb", ls=":", lw=0.9,
            label="difference filters $w_0 = -w_1$")
    ax.scatter(a0[:, 0], a0[:, 1], s=16, facecolors="white", edgecolors=KIND_COLORS["init"],
               label="at initialization", zorder=3)
    ax.scatter(a1[:, 0], a1[:, 1], s=16, color=KIND_COLORS["trained"], label="trained", zorder=4)
    for p, q in zip(a0, a1, strict=True):
        ax.annotate("", xy=q, xytext=p, arrowprops={"arrowstyle": "-", "color": "#dddddd",
                                                    "lw": 0.6}, zorder=1)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("first tap $w_0$ (raw weight)")
    ax.set_ylabel("second tap $w_1$ (raw weight)")
    ax.legend(loc="upper left", fontsize=6.5)
    return {"init": a0, "trained": a1}


def _filters_heatmap(ax, w0: np.ndarray, w1: np.ndarray) -> dict:
    """Filters with more than two taps: a few channels' taps (normalized), before | after."""
    c = min(CHANNELS_SHOWN, len(w0))
    a0 = w0[:c].reshape(c, -1)
    a1 = w1[:c].reshape(c, -1)
    a0 = a0 / np.linalg.norm(a0, axis=1, keepdims=True)
    a1 = a1 / np.linalg.norm(a1, axis=1, keepdims=True)
    both = np.concatenate([a0, np.full((c, 1), np.nan), a1], axis=1)
    ax.imshow(both, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    taps = a0.shape[1]
    ax.set_xticks([(taps - 1) / 2, taps + 1 + (taps - 1) / 2])
    ax.set_xticklabels(["at initialization", "trained"])
    ax.set_ylabel("channel")
    ax.set_xlabel("filter taps (each row normalized to unit norm)")
    ax.grid(False)
    return {"init": a0, "trained": a1}


def _fractions(results: list, which: str) -> np.ndarray:
    """``(seeds, K)`` constant-mode fractions of the filter power (``FilterStats``)."""
    return np.stack([getattr(r.record, f"filters_{which}").constant_fraction() for r in results])


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    mean, se = mean_se(v)
    return mean, se if len(v) > 1 else None


def _series(x, y, se, n: int) -> dict:
    """A plotted series; ``se`` (over seeds) only with more than one seed."""
    out = {"x": x, "y": y, "n_seeds": n}
    if se is not None:
        out["se"] = se
    return out


def _constant_panel(ax, groups: dict) -> dict:
    """(b): constant-mode fraction per layer, trained vs init, one marker shape per F."""
    data = {}
    markers = {2: ("o", "s"), 4: ("^", "D")}
    for f, results in groups.items():
        data[f"F={f}"] = {}
        for which, off in (("init", -0.08), ("trained", 0.08)):
            mean, se = _mean_se(_fractions(results, which))
            k = np.arange(1, len(mean) + 1)
            errorbars(ax, k, mean, se, label=f"F = {f}, {which} (n={len(results)})",
                      color=KIND_COLORS[which], marker=markers[f][which == "trained"],
                      filled=which == "trained", offset=off)
            data[f"F={f}"][which] = _series(k, mean, se, len(results))
        ax.axhline(1 / f, color="#777777", ls="--" if f == 2 else ":", lw=0.9,
                   label=f"random filters, F = {f}: 1/F = {1 / f:.2g}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("layer k")
    ax.set_ylabel("constant-mode fraction of filter power")
    ax.set_title("(b) share on the constant (pooling) mode")
    ax.legend(loc="upper right", fontsize=6)
    return data


def _power_panel(ax, results: list) -> dict:
    """(c): F = 4 power fraction per Laplacian mode, one colour per layer, trained vs init."""
    first = results[0].record.filters_init
    lam = first.spectra[0].eigenvalues
    depth = len(first.spectra)
    colors = layer_colors(depth)
    data = {"eigenvalues": lam}
    for which, style in (("init", "--"), ("trained", "-")):
        powers = [getattr(r.record, f"filters_{which}").power() for r in results]
        p = np.stack([a / a.sum(1, keepdims=True) for a in powers]).mean(0)
        data[which] = p
        for k in range(depth):
            ax.plot(lam, p[k], style, marker="o" if which == "trained" else None, ms=3,
                    color=colors[k], label=f"layer {k + 1}, {which}")
    ax.axhline(1 / len(lam), color="#777777", ls=":", lw=0.9, label="random: 1/F")
    ax.set_xlabel(r"Laplacian eigenvalue $\lambda_l = 2 - 2\cos(\pi l / F)$")
    ax.set_ylabel("fraction of filter power")
    ax.set_title("(c) F = 4: power per mode (mean over seeds)")
    ax.legend(fontsize=5.5, ncol=2)
    return data


def _deep_panel(ax, results: list) -> dict:
    """(d): constant-mode fraction per conv layer of a standard CNN on the 2D task, trained vs
    init, mean +- s.e. over seeds.
    """
    train = results[0].run.train
    arch = train.arch
    data = {"arch": arch, "width_factor": train.width_factor}
    modes = None
    for which, off in (("init", -0.08), ("trained", 0.08)):
        v = _fractions(results, which)
        mean, se = _mean_se(v)
        k = np.arange(1, len(mean) + 1)
        errorbars(ax, k, mean, se, label=f"{which} (n={len(results)})", color=KIND_COLORS[which],
                  marker="s" if which == "trained" else "o", filled=which == "trained",
                  offset=off)
        data[which] = _series(k, mean, se, len(results))
        modes = len(getattr(results[0].record, f"filters_{which}").spectra[0].power)
    ax.axhline(1 / modes, color="#777777", ls="--", lw=0.9,
               label=f"random filters: 1/{modes} = {1 / modes:.2g}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("conv layer k")
    ax.set_ylabel("constant-mode fraction of filter power")
    ax.set_title(f"(d) {arch} (width x{train.width_factor:g}), 2D task")
    ax.legend(fontsize=6.5)
    return data


@styled
def render(out_dir, f2: list, f4: list, deep: list = ()) -> list[Path]:
    """Draw F11 from trained ReLU nets with F = 2 (*f2*) and F = 4 (*f4*) and (panel d, when
    given) the standard CNN runs *deep* of one architecture (all RunResults).

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig11_spectra``.
    """
    f2 = sorted(f2, key=lambda r: r.run.seed)
    f4 = sorted(f4, key=lambda r: r.run.seed)
    require(len(f2) > 0 and len(f4) > 0, "f2, f4", "both be non-empty", (len(f2), len(f4)))
    groups = {2: f2, 4: f4}
    deep = sorted(deep, key=lambda r: r.run.seed)
    fig, axes = figure(1, 4 if deep else 3, width=18.0 if deep else 14.0, height=4.2)
    first = f2[0].record
    w0, w1 = first.filters_init.conv1, first.filters_trained.conv1
    panel_a = _filters_scatter if w0[0].size == 2 else _filters_heatmap
    data = {"caption": CAPTION, "task": f2[0].run.task.to_dict(),
            "nets": {"F=2": f2[0].run.net.to_dict(), "F=4": f4[0].run.net.to_dict()},
            "filters": panel_a(axes[0, 0], w0, w1)}
    data["filters"]["uniform_share_layer1"] = {
        state: uniform_share(w, per_filter=True).ravel() for state, w in (("init", w0),
                                                                          ("trained", w1))}
    axes[0, 0].set_title(f"(a) layer-1 filters, F = 2 (seed {f2[0].run.seed})")
    data["constant_fraction"] = _constant_panel(axes[0, 1], groups)
    data["power_F4"] = _power_panel(axes[0, 2], groups[4])
    if deep:
        data["standard_cnn"] = _deep_panel(axes[0, 3], deep)
    fig.suptitle(f"F11  Filter spectra: {describe_task(f2[0].run.task)}; CNN "
                 f"{describe_net(f2[0].run.net)} and {describe_net(f4[0].run.net)}", fontsize=9)
    return save(fig, out_dir, ID, data)
