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
           "training and test images, trained vs initialization, for the ReLU CNN of the "
           "training recipe (fixed number of epochs) and for LeNet on the 2D task.")


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
    hist = [result_of(results, r)["history"] for r in runs]
    # the trained model of a deep run is its best-test epoch (history["test_error"])
    v = np.array([h["records"][0]["test_error"] if which == "init" else
                  h.get("test_error", h["records"][-1]["test_error"]) for h in hist], float)
    if len(v) > 1:
        return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))
    return float(v[0]), float(np.sqrt(v[0] * (1 - v[0]) / runs[0].train["n_test"]))


def _row(axes, group: list, results: dict, label: str) -> dict:
    """One row of four panels (test error, D, G, R of the output) for one net's runs."""
    levels = sorted({_sigma(r) for r in group})
    by = {s: [r for r in group if _sigma(r) == s] for s in levels}
    x = _x(np.array(levels))
    data = {"sigma": levels, "task": group[0].task.to_dict(), "train": group[0].train}
    panels = [("test_error", "test error", False)] + [(q, q, True) for q in ("D", "G", "R")]
    for ax, (name, qlabel, log) in zip(axes, panels, strict=True):
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
        ax.set_ylabel(qlabel if name == "test_error" else f"{qlabel} of the output")
        ax.legend(fontsize=7)
    axes[0].axhline(0.1, color="#bbbbbb", ls=":", lw=0.9)
    axes[0].set_title(label, loc="left", fontsize=8)  # one title per row, spanning its panels
    return data


@styled
def render(out_dir, runs, results: dict, arrays_of=None) -> list[Path]:
    """Draw F12 from the runs of ``preset(name)["fig12_noise"]`` (tags ``sigma=...``): one row
    for the numba CNN (``train`` runs), one for the standard CNN (``deep`` runs), if any.

    The plotted x of sigma is ``log10(sigma)``, sigma = 0 one decade left of the smallest level
    (saved as ``sigma`` next to each series' ``x``).

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig12_noise``.
    """
    trained = select(runs, "train")
    require(len(trained) > 0, "runs", "contain train runs", len(trained))
    deep = [r for r in select(runs, "deep") if r.key in results]
    fig, axes = figure(2 if deep else 1, 4, width=14.0, height=7.0 if deep else 3.6)
    data = {"caption": CAPTION, "net": trained[0].net.to_dict()}
    data["cnn"] = _row(axes[0], trained, results,
                       f"{describe_task(trained[0].task)}; CNN {describe_net(trained[0].net)}")
    if deep:
        arch = deep[0].train["arch"]
        data["standard_cnn"] = _row(axes[1], [r for r in deep if r.train["arch"] == arch],
                                    results, f"{arch} (width x{deep[0].train['width_factor']:g}) "
                                             f"on {describe_task(deep[0].task)}")
    fig.suptitle("F12  Noise-corrupted training", fontsize=9)
    return save(fig, out_dir, ID, data)
