"""F10 — D_k, G_k, R_k against relative depth of standard CNNs: init, trained, channels shuffled."""

from pathlib import Path

import numpy as np

from ..experiments.stats import mean_se
from .style import QUANTITY_LABELS, figure, plain_log_ticks, save, styled

ID = "fig10_layers"
CAPTION = ("Layer by layer through standard CNNs trained on the two-point task: after training "
           "the diffeo sensitivity D_k falls with relative depth, far below its value at "
           "initialization; shuffling the channels of the trained net leaves the layers where "
           "invariance comes from spatial pooling unchanged and raises D_k where it comes from "
           "channel pooling.")
SERIES = {"init": ("initialization", "#9a9a9a", "o"), "trained": ("trained", "#b2182b", "s"),
          "shuffled": ("trained, channels shuffled", "#2166ac", "^")}


def seed_profiles(sens: list, quantity: str):
    """Mean and standard error over seeds at every node: ``(depths, mean, se, n, names)``
    (one seed: se 0).
    """
    profs = [s.depth_profile(quantity) for s in sens]
    x, names = profs[0][0], profs[0][2]
    ys = np.stack([p[1] for p in profs])
    mean, se = mean_se(ys)
    return x, mean, se if len(ys) > 1 else np.zeros_like(x), len(ys), names


@styled
def render(out_dir, archs: dict) -> list[Path]:
    """Draw F10: one row per architecture, columns D, G, R against relative depth.

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
    fig, axes = figure(max(len(archs), 1), 3, width=11.0, height=2.9 * max(len(archs), 1))
    data = {"caption": CAPTION, "architectures": {}}
    for row, (arch, rs) in enumerate(archs.items()):
        panels = {}
        for col, q in enumerate(("D", "G", "R")):
            ax = axes[row, col]
            panel = {}
            for which, (label, color, marker) in SERIES.items():
                x, y, se, n, names = seed_profiles([getattr(r.record, which) for r in rs], q)
                ok = np.isfinite(y) & (y > 0)
                ax.errorbar(x[ok], y[ok], yerr=se[ok], color=color, marker=marker, ms=3.5,
                            lw=1.0, capsize=1.5, label=f"{label} (n={n})")
                panel[which] = {"x": x[ok], "y": y[ok], "se": se[ok], "n_seeds": n,
                                "names": [m for m, keep in zip(names, ok, strict=True) if keep],
                                "label": label}
            ax.set_yscale("log")
            plain_log_ticks(ax)
            ax.set_xlabel("relative depth")
            ax.set_ylabel(QUANTITY_LABELS[q])
            panels[q] = panel
        width = rs[0].run.train.width_factor
        errs = [r.record.test_error for r in rs]
        axes[row, 0].set_title(f"{arch} (width x{width:g}), test error "
                               f"{np.mean(errs):.3f}", fontsize=9)
        data["architectures"][arch] = {"panels": panels, "width_factor": width,
                                       "test_errors": errs}
    if archs:
        axes[0, 0].legend(loc="lower left", fontsize=7)
        data["task"] = next(iter(archs.values()))[0].run.task.to_dict()
    if not archs:  # the deep runs need the optional PyTorch backend
        axes[0, 0].text(0.5, 0.5, "no standard-CNN runs in this preset\n(they need PyTorch)",
                        transform=axes[0, 0].transAxes, ha="center", va="center")
    fig.suptitle("F10  Standard CNNs layer by layer on the two-point task (28 x 28, ξ = 14)",
                 fontsize=10)
    return save(fig, out_dir, ID, data)
