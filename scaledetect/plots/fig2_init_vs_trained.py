"""F2 — D_k, G_k, R_k vs depth for trained ReLU CNNs and the same nets at initialization."""

from pathlib import Path

import numpy as np

from ._data import (
    describe_net,
    describe_task,
    draw_seeds,
    draw_single,
    layer_ticks,
    note_omitted,
    result_of,
    select,
)
from .style import (
    KIND_COLORS,
    KIND_LABELS,
    QUANTITY_LABELS,
    figure,
    plain_log_ticks,
    save,
    styled,
)

ID = "fig2_init_vs_trained"
CAPTION = ("Training changes how the layers respond: for ReLU CNNs trained on the 1D block task, "
           "the diffeo sensitivity D_k falls with depth while the noise sensitivity G_k does not, "
           "so their ratio R_k drops far below its value at initialization, where it stays of "
           "order one as the infinite-width (NNGP) prediction says.")


def training_summary(results: dict, runs) -> dict:
    """Mean test error, epochs and stop reasons of the trained runs (from their history)."""
    hist = [result_of(results, r).get("history", {}) for r in runs]
    final = [h.get("final", {}) for h in hist]
    test = [f["test_error"] for f in final if f.get("test_error") is not None]
    train = [f["train_error"] for f in final if f.get("train_error") is not None]
    return {"test_error": float(np.mean(test)) if test else None,
            "train_error": float(np.mean(train)) if train else None,
            "epochs": [h.get("epochs") for h in hist],
            "epochs_to_stop": [h.get("epochs_to_stop") for h in hist],
            "stop_reason": [h.get("stop_reason") for h in hist]}


@styled
def render(out_dir, runs, results: dict, arrays_of=None, tag: str = "relu") -> list[Path]:
    """Draw F2 from the ``train`` and ``nngp`` runs with tag *tag*.

    Parameters
    ----------
    out_dir : path
    runs : sequence of Run
        ``preset(name)["fig2_init_vs_trained"]``.
    results : dict
        ``{key: result}`` from ``run_all``.
    arrays_of : callable, optional
        Unused.
    tag : str
        Which runs to draw.

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig2_init_vs_trained``.
    """
    trained = select(runs, "train", tag)
    nngp = select(runs, "nngp", tag)
    fig, axes = figure(1, 3, width=11.0, height=3.6)
    data = {"caption": CAPTION, "panels": {}}
    for ax, q in zip(axes[0], ("D", "G", "R"), strict=True):
        panel = {}
        if nngp:
            panel["nngp"] = draw_single(ax, result_of(results, nngp[0]), q,
                                        label=KIND_LABELS["nngp"], color=KIND_COLORS["nngp"],
                                        linestyle="--", with_out=True, line=True)
        if trained:
            panel["init"] = draw_seeds(ax, results, trained, "init", q, label=KIND_LABELS["init"],
                                       color=KIND_COLORS["init"], marker="o", filled=False,
                                       offset=-0.08, with_out=True)
            panel["trained"] = draw_seeds(ax, results, trained, "trained", q,
                                          label=KIND_LABELS["trained"],
                                          color=KIND_COLORS["trained"], marker="s", offset=0.08,
                                          with_out=True)
        note_omitted(ax, panel, q, depth=(trained or nngp)[0].net.depth)
        ax.set_yscale("log")
        plain_log_ticks(ax)
        ax.set_xlabel("layer k")
        ax.set_ylabel(QUANTITY_LABELS[q])
        data["panels"][q] = panel
    ref = (trained or nngp)[0]
    for ax in axes[0]:
        layer_ticks(ax, ref.net.depth, with_out=True)
    axes[0, 2].axhline(1.0, color="#bbbbbb", lw=0.8)
    axes[0, 0].legend(loc="lower left")
    axes[0, 0].set_title("(a) diffeomorphisms")
    axes[0, 1].set_title("(b) matched Gaussian noise")
    axes[0, 2].set_title("(c) ratio")
    title = f"F2  Init vs trained: {describe_task(ref.task)}; CNN {describe_net(ref.net)}"
    if trained:
        summary = training_summary(results, trained)
        data["training"] = summary
        data["train_spec"] = dict(ref.train)
        if summary["test_error"] is not None:
            title += (f"\n{ref.train.get('n_train', '?')} training points, mean test error "
                      f"{summary['test_error']:.3f} over {len(trained)} seeds")
    data["task"] = ref.task.to_dict()
    data["net"] = ref.net.to_dict()
    fig.suptitle(title, fontsize=10)
    return save(fig, out_dir, ID, data)
