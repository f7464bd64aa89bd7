"""F11 — filter spectra per layer, trained vs initialization (the layer-1 filter picture of F6
included as panel (a)).

Each filter is expanded on the eigenvectors of the grid Laplacian of its support (path of F sites,
open boundaries; ``scaledetect.diagnostics.spectrum``). A pooling filter lies on the constant mode
(eigenvalue 0) only; random filters spread evenly, 1/F^dim per mode.
"""

from pathlib import Path

import numpy as np

from ..errors import require
from ._data import describe_net, describe_task, select
from .fig6_filters import _filters_heatmap, _filters_scatter
from .style import KIND_COLORS, errorbars, figure, layer_colors, save, styled

ID = "fig11_spectra"
CAPTION = ("Where do trained filters put their weight? Per layer, the share of the filter norm on "
           "the constant (pooling) mode of the filter-support Laplacian, trained vs "
           "initialization, for the ReLU CNN with F = s = 2 and F = s = 4, the F = 4 power per "
           "Laplacian mode, and the layer-1 filters; 1/F^dim is what random filters give.")


def _fractions(arrays: list[dict], which: str) -> np.ndarray:
    """``(seeds, K)`` constant-mode fractions ``power[:, 0] / power.sum(1)``."""
    return np.stack([a[f"{which}.spectrum.power"][:, 0] / a[f"{which}.spectrum.power"].sum(1)
                     for a in arrays])


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    se = v.std(0, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else None
    return v.mean(0), se


def _constant_panel(ax, groups: dict) -> dict:
    """(b): constant-mode fraction per layer, trained vs init, one marker shape per F."""
    data = {}
    markers = {2: ("o", "s"), 4: ("^", "D")}
    for f, arrays in groups.items():
        data[f"F={f}"] = {}
        for which, off in (("init", -0.08), ("trained", 0.08)):
            mean, se = _mean_se(_fractions(arrays, which))
            k = np.arange(1, len(mean) + 1)
            errorbars(ax, k, mean, se, label=f"F = {f}, {which} (n={len(arrays)})",
                      color=KIND_COLORS[which], marker=markers[f][which == "trained"],
                      filled=which == "trained", offset=off)
            data[f"F={f}"][which] = {"x": k, "y": mean, "se": se, "n_seeds": len(arrays)}
        ax.axhline(1 / f, color="#777777", ls="--" if f == 2 else ":", lw=0.9,
                   label=f"random filters, F = {f}: 1/F = {1 / f:.2g}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("layer k")
    ax.set_ylabel("constant-mode fraction of filter power")
    ax.set_title("(b) share on the constant (pooling) mode")
    ax.legend(loc="upper right", fontsize=6)
    return data


def _power_panel(ax, arrays: list[dict]) -> dict:
    """(c): F = 4 power fraction per Laplacian mode, one colour per layer, trained vs init."""
    lam = arrays[0]["init.spectrum.eigenvalues"]
    depth = arrays[0]["init.spectrum.power"].shape[0]
    colors = layer_colors(depth)
    data = {"eigenvalues": lam}
    for which, style in (("init", "--"), ("trained", "-")):
        p = np.stack([a[f"{which}.spectrum.power"] / a[f"{which}.spectrum.power"].sum(1,
                      keepdims=True) for a in arrays]).mean(0)
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


@styled
def render(out_dir, runs, results: dict, arrays_of) -> list[Path]:
    """Draw F11 from the ReLU ``train`` runs tagged ``relu`` (F = 2) and ``F4`` (F = 4).

    Parameters
    ----------
    runs : sequence of Run
        ``preset(name)["fig11_spectra"]``.
    results : dict
        ``{key: result}`` (unused beyond the cache lookups through *arrays_of*).
    arrays_of : callable
        ``key -> {"init.spectrum.power" (K, F^dim), "trained.spectrum.power",
        "init.spectrum.eigenvalues", "init.conv1.weight", "trained.conv1.weight"}``.

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig11_spectra``.
    """
    f2 = sorted(select(runs, "train", "relu"), key=lambda r: r.seed)
    f4 = sorted(select(runs, "train", "F4"), key=lambda r: r.seed)
    require(len(f2) > 0 and len(f4) > 0, "runs", "contain train runs tagged 'relu' and 'F4'",
            (len(f2), len(f4)))
    require(arrays_of is not None, "arrays_of", "be a callable key -> arrays", arrays_of)
    groups = {2: [arrays_of(r.key) for r in f2], 4: [arrays_of(r.key) for r in f4]}
    fig, axes = figure(1, 3, width=14.0, height=4.2)
    first = groups[2][0]
    w0, w1 = first["init.conv1.weight"], first["trained.conv1.weight"]
    panel_a = _filters_scatter if w0[0].size == 2 else _filters_heatmap
    data = {"caption": CAPTION, "task": f2[0].task.to_dict(),
            "nets": {"F=2": f2[0].net.to_dict(), "F=4": f4[0].net.to_dict()},
            "filters": panel_a(axes[0, 0], w0, w1)}
    axes[0, 0].set_title(f"(a) layer-1 filters, F = 2 (seed {f2[0].seed})")
    data["constant_fraction"] = _constant_panel(axes[0, 1], groups)
    data["power_F4"] = _power_panel(axes[0, 2], groups[4])
    fig.suptitle(f"F11  Filter spectra: {describe_task(f2[0].task)}; CNN "
                 f"{describe_net(f2[0].net)} and {describe_net(f4[0].net)}", fontsize=9)
    return save(fig, out_dir, ID, data)
