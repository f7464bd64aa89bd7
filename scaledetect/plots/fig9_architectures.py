"""F9 — test error and the output's D, G, R of standard CNNs, trained vs initialization."""

from pathlib import Path

import numpy as np

from .fig10_layers import SERIES
from .style import QUANTITY_LABELS, figure, save, styled

ID = "fig9_architectures"
CAPTION = ("Standard CNNs trained on the two-point task: every architecture learns it, and at the "
           "output the diffeo sensitivity D falls and the relative sensitivity R = D/G ends far "
           "below its value at initialization (markers: seeds; bars: their mean).")


def output_values(runs: list, which: str, quantity: str) -> np.ndarray:
    """The output node's value of *quantity*, one per run (seed)."""
    return np.array([getattr(r.record, which).depth_profile(quantity)[1][-1] for r in runs],
                    float)


@styled
def render(out_dir, archs: dict) -> list[Path]:
    """Draw F9: (a) test error, (b-d) D, G, R of the output, init vs trained, per architecture.

    Parameters
    ----------
    out_dir : path
    archs : dict
        ``{arch: [RunResult, ...]}`` of standard CNNs (``records.DeepTrained``), one per seed.

    Returns
    -------
    list of Path
        ``[png, pdf, json]``.
    """
    names = list(archs)
    x = np.arange(len(names))
    fig, axes = figure(1, 4, width=13.0, height=3.4)
    data = {"caption": CAPTION, "architectures": names, "panels": {}}
    errs = [np.array([r.record.test_error for r in archs[a]]) for a in names]
    ax = axes[0, 0]
    for i, e in enumerate(errs):
        ax.plot(np.full(len(e), x[i]), e, "o", color="#b2182b", ms=4, alpha=0.7)
        ax.bar(x[i], e.mean(), color="#f4a582", width=0.6)
    ax.set_ylabel("test error (best epoch)")
    ax.set_title("(a) test error", fontsize=9)
    data["panels"]["test_error"] = {
        "x": np.concatenate([np.full(len(e), i, float) for i, e in enumerate(errs)] + [[]]),
        "y": np.concatenate(errs + [[]]), "label": "test error per seed (x: architecture index)"}
    for ax, q, tag in zip(axes[0, 1:], ("D", "G", "R"), "bcd", strict=True):
        panel = {}
        for which, off in (("init", -0.15), ("trained", 0.15)):
            label, color, marker = SERIES[which]
            vals = [output_values(archs[a], which, q) for a in names]
            for i, v in enumerate(vals):
                ax.plot(np.full(len(v), x[i] + off), v, marker, color=color, ms=4,
                        label=label if i == 0 else None, alpha=0.8)
            xs = np.concatenate([np.full(len(v), i, float) for i, v in enumerate(vals)] + [[]])
            ys = np.concatenate(vals + [[]])
            ok = np.isfinite(ys)
            panel[which] = {"x": xs[ok], "y": ys[ok],
                            "label": f"{label}, per seed (x: architecture index)"}
        ax.set_yscale("log")
        ax.set_ylabel(QUANTITY_LABELS[q].replace("_k", ""))
        ax.set_title(f"({tag}) {q} of the output", fontsize=9)
        data["panels"][q] = panel
    for ax in axes[0]:
        ax.set_xticks(x)
        ax.set_xticklabels([f"{a}\nx{archs[a][0].run.train.width_factor:g}"
                            for a in names], fontsize=7)
    if names:
        axes[0, 1].legend(loc="lower left", fontsize=7)
        data["task"] = archs[names[0]][0].run.task.to_dict()
        data["train"] = {a: archs[a][0].run.train.to_dict() for a in names}
    if not archs:  # the deep runs need the optional PyTorch backend
        axes[0, 0].text(0.5, 0.5, "no standard-CNN runs in this preset\n(they need PyTorch)",
                        transform=axes[0, 0].transAxes, ha="center", va="center")
    fig.suptitle("F9  Standard CNNs on the two-point task (28 x 28, ξ = 14): trained vs "
                 "initialization", fontsize=10)
    return save(fig, out_dir, ID, data)
