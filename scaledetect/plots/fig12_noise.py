"""F12 — noise-corrupted training: test error and the output's D, G, R against the noise level.

Each net is trained for a fixed number of epochs on training images carrying fresh i.i.d.
Gaussian noise every epoch, ``||eta|| = sigma ||x||`` on average; its test images carry one fixed
draw of the same level. D, G and R are measured on clean probes (the task's images).
"""

from pathlib import Path

import numpy as np

from ..errors import require
from ..sensitivity.result import profile
from ._data import describe_net, describe_task, result_of, select
from .style import KIND_COLORS, errorbars, figure, save, styled

ID = "fig12_noise"
CAPTION = ("Noise-corrupted training: test error and the output's diffeo sensitivity D, noise "
           "sensitivity G and their ratio R against the relative noise level sigma of the "
           "training and test images, trained vs initialization (ReLU CNN of the training "
           "recipe, fixed number of epochs).")


def _sigma(run) -> float:
    return float(run.train.get("train_noise", 0.0))


def _x(sigmas: np.ndarray) -> np.ndarray:
    """Plot position: log10(sigma), with sigma = 0 one decade left of the smallest level."""
    pos = sigmas[sigmas > 0]
    low = np.log10(pos.min()) - 1 if len(pos) else 0.0
    return np.where(sigmas > 0, np.log10(np.where(sigmas > 0, sigmas, 1.0)), low)


def _output(results: dict, runs: list, which: str, q: str) -> tuple[float, float]:
    """Mean over seeds of the output's *q* and its s.e. (one seed: its Monte Carlo s.e.)."""
    vals, ses = [], []
    for r in runs:
        _, y, se = profile(result_of(results, r)[which], q, with_out=True)
        vals.append(y[-1])
        ses.append(np.nan if se is None else se[-1])
    if len(vals) == 1:
        return vals[0], ses[0]
    return float(np.mean(vals)), float(np.std(vals, ddof=1) / np.sqrt(len(vals)))


def _test_error(results: dict, runs: list, which: str) -> tuple[float, float]:
    """Test error at the end (trained) or at epoch 0 (init), mean and s.e. over seeds.

    One seed: the binomial standard error ``sqrt(e (1 - e) / n_test)`` of the test set.
    """
    recs = [result_of(results, r)["history"]["records"] for r in runs]
    v = np.array([rec[-1 if which == "trained" else 0]["test_error"] for rec in recs], float)
    if len(v) > 1:
        return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))
    return float(v[0]), float(np.sqrt(v[0] * (1 - v[0]) / runs[0].train["n_test"]))


@styled
def render(out_dir, runs, results: dict, arrays_of=None) -> list[Path]:
    """Draw F12 from the ``train`` runs of ``preset(name)["fig12_noise"]`` (tags ``sigma=...``).

    The plotted x of sigma is ``log10(sigma)``, sigma = 0 one decade left of the smallest level
    (saved as ``sigma`` next to each series' ``x``).

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig12_noise``.
    """
    trained = select(runs, "train")
    require(len(trained) > 0, "runs", "contain train runs", len(trained))
    levels = sorted({_sigma(r) for r in trained})
    by = {s: [r for r in trained if _sigma(r) == s] for s in levels}
    sig = np.array(levels)
    x = _x(sig)
    fig, axes = figure(1, 4, width=14.0, height=3.6)
    data = {"caption": CAPTION, "sigma": sig, "task": trained[0].task.to_dict(),
            "net": trained[0].net.to_dict(), "train": trained[0].train}
    panels = [("test_error", "test error", False)] + [(q, q, True) for q in ("D", "G", "R")]
    for ax, (name, label, log) in zip(axes[0], panels, strict=True):
        data[name] = {}
        for which, off in (("init", -0.04), ("trained", 0.04)):
            pts = [(_test_error(results, by[s], which) if name == "test_error"
                    else _output(results, by[s], which, name)) for s in levels]
            y, se = np.array(pts).T
            errorbars(ax, x, y, se, label=which, color=KIND_COLORS[which],
                      marker="s" if which == "trained" else "o", filled=which == "trained",
                      offset=off)
            data[name][which] = {"x": x + off, "y": y, "se": se,
                                 "n_seeds": [len(by[s]) for s in levels]}
        if log:
            ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{s:g}" for s in levels])
        ax.set_xlabel(r"relative noise level $\sigma$")
        ax.set_ylabel(label if name == "test_error" else f"{label} of the output")
        ax.legend(fontsize=7)
    axes[0, 0].axhline(0.1, color="#bbbbbb", ls=":", lw=0.9)
    fig.suptitle(f"F12  Noise-corrupted training: {describe_task(trained[0].task)}; CNN "
                 f"{describe_net(trained[0].net)}", fontsize=9)
    return save(fig, out_dir, ID, data)
