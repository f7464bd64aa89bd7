"""F6 — learned filters: layer-1 filters and the per-layer uniform (pooling) share, before/after."""

from pathlib import Path

import numpy as np

from ..errors import require
from ..nn.filters import uniform_share
from ._data import describe_net, describe_task, select
from .style import KIND_COLORS, errorbars, figure, save, styled

ID = "fig6_filters"
CAPTION = ("Do trained networks learn to pool? First-layer filters of ReLU CNNs before and "
           "after training, and per layer the share of the filter norm in the uniform "
           "(average-pooling) component (1 for pure pooling, 1/F^dim on average for random "
           "filters); the report states whether it grew.")

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


@styled
def render(out_dir, runs, results: dict, arrays_of, tag: str = "relu") -> list[Path]:
    """Draw F6 from the ``train`` runs tagged *tag* and their cached arrays.

    Parameters
    ----------
    runs : sequence of Run
        ``preset(name)["fig6_filters"]``.
    results : dict
        ``{key: result}`` (used only to check the runs exist).
    arrays_of : callable
        ``key -> {"init.conv1.weight", "trained.conv1.weight", "init.uniform_share",
        "trained.uniform_share"}`` (e.g. ``lambda k: cache.get(k)[1]``).

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig6_filters``.
    """
    trained = sorted(select(runs, "train", tag), key=lambda r: r.seed)
    require(len(trained) > 0, "runs", f"contain train runs tagged {tag!r}", len(trained))
    require(arrays_of is not None, "arrays_of", "be a callable key -> arrays", arrays_of)
    arrays = [arrays_of(r.key) for r in trained]
    first = trained[0]
    fig, axes = figure(1, 2, width=9.6, height=4.0)
    w0, w1 = arrays[0]["init.conv1.weight"], arrays[0]["trained.conv1.weight"]
    data = {"caption": CAPTION, "seed_shown": first.seed, "net": first.net.to_dict(),
            "task": first.task.to_dict()}
    taps = int(np.prod(w0.shape[2:]))
    if taps == 2:
        data["filters"] = _filters_scatter(axes[0, 0], w0, w1)
    else:
        data["filters"] = _filters_heatmap(axes[0, 0], w0, w1)
    data["filters"]["uniform_share_layer1"] = {
        state: uniform_share(w, per_filter=True).ravel() for state, w in (("init", w0),
                                                                          ("trained", w1))}
    axes[0, 0].set_title(f"(a) layer-1 filters, all {len(w0)} channels (seed {first.seed})"
                         if taps == 2 else f"(a) layer-1 filters (seed {first.seed})")

    ax = axes[0, 1]
    depth = first.net.depth
    k = np.arange(1, depth + 1)
    data["share"] = {}
    for which, off, filled in (("init", -0.06, False), ("trained", 0.06, True)):
        shares = np.stack([a[f"{which}.uniform_share"] for a in arrays])
        mean = shares.mean(0)
        se = shares.std(0, ddof=1) / np.sqrt(len(shares)) if len(shares) > 1 else None
        label = "at initialization" if which == "init" else "trained"
        errorbars(ax, k, mean, se, label=f"{label} (n={len(shares)})", color=KIND_COLORS[which],
                  marker="s" if filled else "o", filled=filled, offset=off)
        data["share"][which] = {"x": k, "y": mean, "se": se, "n_seeds": len(shares)}
    random = 1.0 / first.net.filter**first.net.dim
    ax.axhline(random, color="#777777", ls="--", lw=0.9,
               label=f"random filters: $1/F^{{d}}$ = {random:.2g}")
    ax.axhline(1.0, color="#222222", ls=":", lw=0.9, label="pure average pooling = 1")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(k)
    ax.set_xlabel("layer k")
    ax.set_ylabel("uniform share of filter norm")
    ax.set_title("(b) share of the uniform (pooling) component")
    ax.legend(loc="lower left", fontsize=6.5)
    fig.suptitle(f"F6  Learned filters: {describe_task(first.task)}; CNN "
                 f"{describe_net(first.net)}", fontsize=10)
    return save(fig, out_dir, ID, data)
