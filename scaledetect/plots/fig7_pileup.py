"""F7 — noise pile-up (teaching figure): rectified noise keeps its mean under pooling, tanh not."""

import math
from pathlib import Path

import numpy as np

from .. import nn
from ..nn.spec import NetSpec
from ._data import series
from .style import ACT_COLORS, errorbars, figure, layer_colors, save, styled, theory_line

ID = "fig7_pileup"
CAPTION = ("Why noise piles up: pure Gaussian noise pushed through an average-pooling net. After a "
           "ReLU every unit is positive, so pooling keeps the rectified mean sqrt(v/2π) while it "
           "averages the fluctuations away (variance halves per layer); after tanh the mean is "
           "zero and only shrinking fluctuations remain.")

#: The net of the figure: 1D, N = 1024, K = 8, F = s = 2 (average pooling, no bias).
SIZE, DEPTH, FILTER = 1024, 8, 2


def pileup(act: str, n: int = 256, sigma: float = 1.0, rng=0, size: int = SIZE,
           depth: int = DEPTH, filter: int = FILTER) -> dict:  # noqa: A002
    """Push ``n`` noise-only inputs ``sigma g`` through the pooling net; summarize each layer.

    Parameters
    ----------
    act : str
        ``relu`` or ``tanh``.
    n : int
        Number of noise inputs.
    sigma : float
        Noise standard deviation per pixel.
    rng : Generator or int
    size, depth, filter : int
        The 1D strided pooling net (stride = filter).

    Returns
    -------
    dict
        ``k`` (0..K), ``mean`` and ``mean_se`` (the coherent mean m_k over samples and units),
        ``std`` and ``std_se`` (RMS fluctuation around m_k), ``example`` (list of the K + 1
        layer profiles of the first input).

    Notes
    -----
    ``m_k = mean_{i,u} f_k(x_i)[u]``; ``var_k = mean_{i,u} (f_k(x_i)[u] - m_k)^2``. Standard errors
    from the spread of the per-sample means and variances over the n independent inputs (for the
    std by the delta method, ``se(std) = se(var) / (2 std)``).
    """
    spec = NetSpec(dim=1, size=size, depth=depth, filter=filter, stride=filter, width=1, act=act,
                   bias=False)
    net = nn.pooling_net(spec)
    x = sigma * np.random.default_rng(rng).standard_normal((n, 1, size))
    layers = net.forward(x, layers=True)[:-1]
    out = {"k": list(range(depth + 1)), "mean": [], "mean_se": [], "std": [], "std_se": [],
           "example": [f[0, 0].astype(float) for f in layers]}
    for f in layers:
        f = f.reshape(n, -1).astype(float)
        per_mean = f.mean(1)
        m = per_mean.mean()
        per_var = ((f - m) ** 2).mean(1)
        std = math.sqrt(per_var.mean())
        out["mean"].append(m)
        out["mean_se"].append(per_mean.std(ddof=1) / math.sqrt(n))
        out["std"].append(std)
        out["std_se"].append(per_var.std(ddof=1) / math.sqrt(n) / (2 * std))
    return out


def relu_closed_form(k: np.ndarray, sigma: float = 1.0, filter: int = FILTER):  # noqa: A002
    """Mean and RMS fluctuation of layer k >= 1 of the ReLU pooling net on noise of std sigma.

    Notes
    -----
    A layer-1 pre-activation averages F inputs: ``g ~ N(0, v)``, ``v = sigma^2 / F``.
    ``E relu(g) = sqrt(v / (2 pi))``, ``Var relu(g) = v (1/2 - 1/(2 pi))``. Later layers average
    F independent units without changing them (ReLU is the identity on positive inputs), so the
    mean stays and the variance is divided by F per layer: ``v (1/2 - 1/(2 pi)) / F^(k-1)``.
    """
    v = sigma**2 / filter
    k = np.asarray(k, float)
    mean = np.full_like(k, math.sqrt(v / (2 * math.pi)))
    std = np.sqrt(v * (0.5 - 1 / (2 * math.pi)) / float(filter) ** (k - 1))
    return mean, std


@styled
def render(out_dir, runs=(), results=None, arrays_of=None, n: int = 256, seed: int = 0
           ) -> list[Path]:
    """Draw the pile-up figure (direct computation; *runs*, *results*, *arrays_of* are ignored).

    Returns ``[png, pdf, json]`` of ``fig7_pileup``.
    """
    fig, axes = figure(1, 3, width=12.0, height=3.6)
    data = {"caption": CAPTION, "net": {"size": SIZE, "depth": DEPTH, "filter": FILTER,
                                          "stride": FILTER}, "sigma": 1.0, "n": n}
    shown = [0, 1, 3, 6]
    colors = layer_colors(DEPTH + 1)
    for ax, act in zip(axes[0, :2], ("relu", "tanh"), strict=True):
        res = pileup(act, n=n, rng=seed)
        data[act] = res
        for k in shown:
            prof = res["example"][k]
            width = FILTER**k  # input pixels covered by one unit of layer k
            edges = np.arange(len(prof) + 1) * width
            ax.stairs(prof, edges, color="#c8c8c8" if k == 0 else colors[k],
                      lw=0.8 if k == 0 else 1.6, label=f"layer {k}" + (" (input)" if k == 0 else
                                                                       ""))
        if act == "relu":
            m = relu_closed_form(np.array([1.0]))[0][0]
            ax.axhline(m, color="k", ls="--", lw=1.0, label=r"$\sqrt{v/2\pi}$ (closed form)")
        else:
            ax.axhline(0.0, color="k", ls="--", lw=1.0, label="0 (tanh is odd)")
        ax.set_ylim(-1.6, 2.3)
        ax.set_xlim(0, 128)
        ax.set_xlabel(f"input position (pixels; first 128 of {SIZE})")
        ax.set_ylabel(r"$f_k(\eta)$ at the units covering it")
        ax.set_title(f"({'a' if act == 'relu' else 'b'}) one noise input, {act} pooling net")
        ax.legend(loc="upper right", ncol=2, frameon=True, framealpha=0.92, edgecolor="none",
                  fontsize=6.5)

    ax = axes[0, 2]
    k = np.arange(DEPTH + 1)
    kk = np.arange(1, DEPTH + 1)
    mean_th, std_th = relu_closed_form(kk)
    theory_line(ax, kk, mean_th, label="ReLU mean, closed form", color=ACT_COLORS["relu"])
    theory_line(ax, kk, std_th, label="ReLU fluctuation, closed form", color=ACT_COLORS["relu"],
                linestyle="--")
    for act, off in (("relu", -0.08), ("tanh", 0.08)):
        res = data[act]
        what = "coherent mean $|m_k|$" + (" (zero within noise)" if act == "tanh" else "")
        errorbars(ax, k, np.abs(res["mean"]), res["mean_se"], label=f"{act}: {what}",
                  color=ACT_COLORS[act], marker="o", offset=off)
        errorbars(ax, k, res["std"], res["std_se"], label=f"{act}: fluctuation (RMS)",
                  color=ACT_COLORS[act], marker="s", filled=False, offset=off)
    ax.set_yscale("log")
    ax.set_xticks(k)
    ax.set_xlabel("layer k")
    ax.set_ylabel("per-unit size (noise std σ = 1)")
    ax.set_title("(c) mean stays, fluctuations average out")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right center", ncol=1)
    data["closed_form"] = series(kk, mean_th, None, std=std_th)
    fig.suptitle(f"F7  Noise pile-up: Gaussian noise through a 1D average-pooling net "
                 f"(N={SIZE}, K={DEPTH}, F=s={FILTER}, no bias)", fontsize=10)
    return save(fig, out_dir, ID, data)
