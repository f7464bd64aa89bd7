"""F11 — learned filters: layer-1 filters and the filter spectrum per layer, trained vs init.

Each filter is expanded on the eigenvectors of the grid Laplacian of its support (path of F sites,
open boundaries; ``scaledetect.diagnostics.spectrum``). A pooling filter lies on the constant mode
(eigenvalue 0) only; random filters spread evenly, 1/F^dim per mode.
"""

from pathlib import Path

import numpy as np

from ..errors import require
from ..nn.filters import uniform_share
from ._data import describe_net, describe_task, select
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


def _fractions(arrays: list[dict], which: str) -> np.ndarray:
    """``(seeds, K)`` constant-mode fractions ``power[:, 0] / power.sum(1)``."""
    return np.stack([a[f"{which}.spectrum.power"][:, 0] / a[f"{which}.spectrum.power"].sum(1)
                     for a in arrays])


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    se = v.std(0, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else None
    return v.mean(0), se


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
    for f, arrays in groups.items():
        data[f"F={f}"] = {}
        for which, off in (("init", -0.08), ("trained", 0.08)):
            mean, se = _mean_se(_fractions(arrays, which))
            k = np.arange(1, len(mean) + 1)
            errorbars(ax, k, mean, se, label=f"F = {f}, {which} (n={len(arrays)})",
                      color=KIND_COLORS[which], marker=markers[f][which == "trained"],
                      filled=which == "trained", offset=off)
            data[f"F={f}"][which] = _series(k, mean, se, len(arrays))
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


def _deep_panel(ax, runs: list, results: dict) -> dict:
    """(d): constant-mode fraction per conv layer of a standard CNN on the 2D task (``deep`` runs
    with ``spectra`` in their result), trained vs init, mean +- s.e. over seeds.
    """
    arch = runs[0].train["arch"]
    data = {"arch": arch, "width_factor": runs[0].train["width_factor"]}
    modes = None
    for which, off in (("init", -0.08), ("trained", 0.08)):
        v = np.array([[x["constant_fraction"] for x in results[r.key]["spectra"][which]]
                      for r in runs])
        mean, se = _mean_se(v)
        k = np.arange(1, len(mean) + 1)
        errorbars(ax, k, mean, se, label=f"{which} (n={len(runs)})", color=KIND_COLORS[which],
                  marker="s" if which == "trained" else "o", filled=which == "trained",
                  offset=off)
        data[which] = _series(k, mean, se, len(runs))
        modes = len(results[runs[0].key]["spectra"][which][0]["power"])
    ax.axhline(1 / modes, color="#777777", ls="--", lw=0.9,
               label=f"random filters: 1/{modes} = {1 / modes:.2g}")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("conv layer k")
    ax.set_ylabel("constant-mode fraction of filter power")
    ax.set_title(f"(d) {arch} (width x{runs[0].train['width_factor']:g}), 2D task")
    ax.legend(fontsize=6.5)
    return data


@styled
def render(out_dir, runs, results: dict, arrays_of) -> list[Path]:
    """Draw F11 from the ReLU ``train`` runs tagged ``relu`` (F = 2) and ``F4`` (F = 4), and
    (panel d, when the runs hold any) the ``deep`` runs of VGG11 or else of one architecture.

    Parameters
    ----------
    runs : sequence of Run
        ``preset(name)["fig11_spectra"]``.
    results : dict
        ``{key: result}``; ``deep`` results carry ``spectra`` (``experiments.deep``).
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
    deep = [r for r in select(runs, "deep") if "spectra" in results.get(r.key, {})]
    if deep:  # one architecture: VGG11 when the preset has it
        arch = "vgg11" if any(r.train["arch"] == "vgg11" for r in deep) else deep[0].train["arch"]
        deep = sorted((r for r in deep if r.train["arch"] == arch), key=lambda r: r.seed)
    fig, axes = figure(1, 4 if deep else 3, width=18.0 if deep else 14.0, height=4.2)
    first = groups[2][0]
    w0, w1 = first["init.conv1.weight"], first["trained.conv1.weight"]
    panel_a = _filters_scatter if w0[0].size == 2 else _filters_heatmap
    data = {"caption": CAPTION, "task": f2[0].task.to_dict(),
            "nets": {"F=2": f2[0].net.to_dict(), "F=4": f4[0].net.to_dict()},
            "filters": panel_a(axes[0, 0], w0, w1)}
    data["filters"]["uniform_share_layer1"] = {
        state: uniform_share(w, per_filter=True).ravel() for state, w in (("init", w0),
                                                                          ("trained", w1))}
    axes[0, 0].set_title(f"(a) layer-1 filters, F = 2 (seed {f2[0].seed})")
    data["constant_fraction"] = _constant_panel(axes[0, 1], groups)
    data["power_F4"] = _power_panel(axes[0, 2], groups[4])
    if deep:
        data["standard_cnn"] = _deep_panel(axes[0, 3], deep, results)
    fig.suptitle(f"F11  Filter spectra: {describe_task(f2[0].task)}; CNN "
                 f"{describe_net(f2[0].net)} and {describe_net(f4[0].net)}", fontsize=9)
    return save(fig, out_dir, ID, data)
