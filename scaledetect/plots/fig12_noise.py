"""F12 — noise-corrupted training: test error and the output's D, G, R against the noise level.

Each net is trained for a fixed number of epochs on training images carrying fresh i.i.d.
Gaussian noise every epoch, ``||eta|| = sigma ||x||`` on average; its test images carry one fixed
draw of the same level. D, G and R are measured on clean probes (the task's images).
"""

from pathlib import Path

import numpy as np

from ..errors import require
from ..experiments.stats import mean_se
from ._data import describe_net, describe_task
from .style import KIND_COLORS, errorbars, figure, save, styled

ID = "fig12_noise"
CAPTION = ("Noise-corrupted training: test error and the output's diffeo sensitivity D, noise "
           "sensitivity G and their ratio R against the relative noise level sigma of the "
           "training and test images, trained vs initialization, for the ReLU CNN of the "
           "training recipe (fixed number of epochs) and for LeNet on the 2D task.")


def _sigma(result) -> float:
    return float(result.run.train.train_noise)


def _x(sigmas: np.ndarray) -> np.ndarray:
    """Plot position: log10(sigma), with sigma = 0 one decade left of the smallest level."""
    pos = sigmas[sigmas > 0]
    low = np.log10(pos.min()) - 1 if len(pos) else 0.0
    return np.where(sigmas > 0, np.log10(np.where(sigmas > 0, sigmas, 1.0)), low)


def _output(runs: list, which: str, q: str) -> tuple[float, float]:
    """Mean over seeds of the output's *q* and its s.e. (one seed: its Monte Carlo s.e.)."""
    vals, ses = [], []
    for r in runs:
        _, y, se = getattr(r.record, which).profile(q, with_out=True)
        vals.append(y[-1])
        ses.append(np.nan if se is None else se[-1])
    if len(vals) == 1:
        return vals[0], ses[0]
    return mean_se(vals)


def _test_error(runs: list, which: str) -> tuple[float, float]:
    """Test error of the kept model (trained) or at epoch 0 (init), mean and s.e. over seeds.

    One seed: the binomial standard error ``sqrt(e (1 - e) / n_test)`` of the test set.
    """
    hist = [r.record.history for r in runs]
    v = np.array([h.records[0].test_error if which == "init" else h.test_error for h in hist],
                 float)
    if len(v) > 1:
        return mean_se(v)
    return float(v[0]), float(np.sqrt(v[0] * (1 - v[0]) / runs[0].run.train.n_test))


def _row(axes, group: list, label: str) -> dict:
    """One row of four panels (test error, D, G, R of the output) for one net's runs."""
    levels = sorted({_sigma(r) for r in group})
    by = {s: [r for r in group if _sigma(r) == s] for s in levels}
    x = _x(np.array(levels))
    data = {"sigma": levels, "task": group[0].run.task.to_dict(),
            "train": group[0].run.train.to_dict()}
    panels = [("test_error", "test error", False)] + [(q, q, True) for q in ("D", "G", "R")]
    for ax, (name, qlabel, log) in zip(axes, panels, strict=True):
        data[name] = {}
        for which, off in (("init", -0.04), ("trained", 0.04)):
            pts = [(_test_error(by[s], which) if name == "test_error"
                    else _output(by[s], which, name)) for s in levels]
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
def render(out_dir, cnn: list, deep: list = ()) -> list[Path]:
    """Draw F12 from noise-trained nets (RunResults): one row for the numba CNN (*cnn*), one
    for the standard CNN (*deep*: the runs of one architecture), if any.

    The plotted x of sigma is ``log10(sigma)``, sigma = 0 one decade left of the smallest level
    (saved as ``sigma`` next to each series' ``x``).

    Returns
    -------
    list of Path
        ``[png, pdf, json]`` of ``fig12_noise``.
    """
    require(len(cnn) > 0, "cnn", "be non-empty", len(cnn))
    fig, axes = figure(2 if deep else 1, 4, width=14.0, height=7.0 if deep else 3.6)
    net, task = cnn[0].run.net, cnn[0].run.task
    data = {"caption": CAPTION, "net": net.to_dict()}
    data["cnn"] = _row(axes[0], cnn, f"{describe_task(task)}; CNN {describe_net(net)}")
    if deep:
        train = deep[0].run.train
        data["standard_cnn"] = _row(axes[1], [r for r in deep if r.run.train.arch == train.arch],
                                    f"{train.arch} (width x{train.width_factor:g}) "
                                    f"on {describe_task(deep[0].run.task)}")
    fig.suptitle("F12  Noise-corrupted training", fontsize=9)
    return save(fig, out_dir, ID, data)
