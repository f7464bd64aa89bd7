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


def training_summary(trained: list) -> dict:
    """Mean test error, epochs and stop reasons of the trained runs (from their history)."""
    hist = [r.record.history for r in trained]
    test = [h.final.test_error for h in hist if h.final.test_error is not None]
    train = [h.final.train_error for h in hist if h.final.train_error is not None]
    return {"test_error": float(np.mean(test)) if test else None,
            "train_error": float(np.mean(train)) if train else None,
            "epochs": [h.epochs for h in hist],
            "epochs_to_stop": [h.epochs_to_stop for h in hist],
            "stop_reason": [h.stop_reason for h in hist]}


@styled
def render(out_dir, trained: list, nngp=None) -> list[Path]:
    """Draw F2.

    Parameters
    ----------
    out_dir : path
    trained : list of RunResult
        Trained nets (``records.Trained``), one per seed.
    nngp : RunResult or None
        The infinite-width prediction of the same net at initialization.

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig2_init_vs_trained``.
    """
    fig, axes = figure(1, 3, width=11.0, height=3.6)
    data = {"caption": CAPTION, "panels": {}}
    ref = (trained[0] if trained else nngp).run
    for ax, q in zip(axes[0], ("D", "G", "R"), strict=True):
        panel = {}
        if nngp is not None:
            panel["nngp"] = draw_single(ax, nngp.record.sens, q, label=KIND_LABELS["nngp"],
                                        color=KIND_COLORS["nngp"], linestyle="--",
                                        with_out=True, line=True)
        if trained:
            panel["init"] = draw_seeds(ax, [r.record.init for r in trained], q,
                                       label=KIND_LABELS["init"], color=KIND_COLORS["init"],
                                       marker="o", filled=False, offset=-0.08, with_out=True)
            panel["trained"] = draw_seeds(ax, [r.record.trained for r in trained], q,
                                          label=KIND_LABELS["trained"],
                                          color=KIND_COLORS["trained"], marker="s", offset=0.08,
                                          with_out=True)
        note_omitted(ax, panel, q, depth=ref.net.depth)
        ax.set_yscale("log")
        plain_log_ticks(ax)
        ax.set_xlabel("layer k")
        ax.set_ylabel(QUANTITY_LABELS[q])
        data["panels"][q] = panel
    for ax in axes[0]:
        layer_ticks(ax, ref.net.depth, with_out=True)
    axes[0, 2].axhline(1.0, color="#bbbbbb", lw=0.8)
    axes[0, 0].legend(loc="lower left")
    axes[0, 0].set_title("(a) diffeomorphisms")
    axes[0, 1].set_title("(b) matched Gaussian noise")
    axes[0, 2].set_title("(c) ratio")
    title = f"F2  Init vs trained: {describe_task(ref.task)}; CNN {describe_net(ref.net)}"
    if trained:
        summary = training_summary(trained)
        data["training"] = summary
        data["train_spec"] = ref.train.to_dict()
        if summary["test_error"] is not None:
            title += (f"\n{ref.train.n_train} training points, mean test error "
                      f"{summary['test_error']:.3f} over {len(trained)} seeds")
    data["task"] = ref.task.to_dict()
    data["net"] = ref.net.to_dict()
    fig.suptitle(title, fontsize=10)
    return save(fig, out_dir, ID, data)
