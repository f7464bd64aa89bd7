"""One look for every figure: matplotlib without pyplot (Agg/PDF canvases), colours, atomic saving.

Figures are built with ``matplotlib.figure.Figure`` directly, never through ``pyplot``: nothing
here changes the user's backend or keeps figures alive in a global registry, and rendering works
on machines without a display. ``figure(...)`` creates a figure under the shared rc settings and
``save(...)`` writes ``name.png``, ``name.pdf`` and ``name.json`` (the plotted numbers) atomically.
"""

import contextlib
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..errors import require
from ..io import atomic_path

#: rc settings shared by every figure (applied while a figure is built and saved).
RC = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.5,
    "errorbar.capsize": 2,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "pdf.fonttype": 42,
    "image.cmap": "viridis",
}

#: Colours of the activations.
ACT_COLORS = {"relu": "#1f5fa8", "tanh": "#d9661f", "linear": "#4d9a3a"}

#: Colours of the measurement kinds (when the activation is not what distinguishes curves).
KIND_COLORS = {"theory": "#222222", "nngp": "#7a7a7a", "pooling": "#1f5fa8", "init": "#9a9a9a",
               "trained": "#c0392b"}

#: Readable names of the measurement kinds, for legends.
KIND_LABELS = {"theory": "theory (pooling net, exact)", "nngp": "infinite width at init (NNGP)",
               "pooling": "pooling net (Monte Carlo)", "init": "CNN at initialization",
               "trained": "trained CNN"}

#: Marker per quantity D, G, R.
QUANTITY_MARKERS = {"D": "o", "G": "s", "R": "^"}

#: Axis label per quantity.
QUANTITY_LABELS = {"D": r"diffeo sensitivity $D_k$", "G": r"noise sensitivity $G_k$",
                   "R": r"relative sensitivity $R_k = D_k / G_k$"}


def layer_colors(n: int, cmap: str = "viridis") -> list:
    """``n`` colours for layers 0..n-1, dark (input) to light (deep), avoiding the pale end."""
    require(int(n) == n and n >= 1, "n", "be an integer >= 1", n)
    cm = matplotlib.colormaps[cmap]
    return [cm(0.05 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


def styled(render: Callable) -> Callable:
    """Decorate a ``render`` function so that it runs under the shared rc settings."""

    @functools.wraps(render)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return render(*args, **kwargs)

    return wrapper


def figure(nrows: int = 1, ncols: int = 1, width: float = 6.4, height: float = 3.2,
           **subplot_kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure (no pyplot) and its axes as a 2D array ``(nrows, ncols)``."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def save(fig: Figure, out_dir, name: str, data: dict) -> list[Path]:
    """Write ``name.png``, ``name.pdf`` and ``name.json`` into *out_dir*, each atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    out_dir : path
        Created if missing.
    name : str
        File stem (the figure id).
    data : dict
        The plotted numbers (JSON-able: dicts, lists, numbers, strings, numpy arrays/scalars).
        Non-finite numbers are written as ``null``.

    Returns
    -------
    list of Path
        ``[png, pdf, json]``.
    """
    require(bool(name) and "/" not in name, "name", "be a non-empty file stem", name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf", out / f"{name}.json"]
    with matplotlib.rc_context(RC):
        for path, fmt in zip(paths[:2], ("png", "pdf"), strict=True):
            with atomic_path(path, suffix="." + fmt) as tmp:
                fig.savefig(tmp, format=fmt)
    with atomic_path(paths[2], suffix=".json") as tmp:
        tmp.write_text(json.dumps(jsonable(data), indent=1, allow_nan=False) + "\n")
    return paths


def jsonable(x):
    """Convert nested containers of numpy values to plain JSON types (non-finite -> None)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


@contextlib.contextmanager
def context():
    """Context manager applying the shared rc settings (for scripts drawing their own plots)."""
    with matplotlib.rc_context(RC):
        yield


def errorbars(ax, x, y, yerr, *, label: str, color, marker: str = "o", filled: bool = True,
              offset: float = 0.0, **kw):
    """Simulation style: markers with error bars, no connecting line (hollow if not *filled*)."""
    x = np.asarray(x, dtype=float) + offset
    y = np.asarray(y, dtype=float)
    yerr = None if yerr is None else np.asarray(yerr, dtype=float)
    return ax.errorbar(x, y, yerr=yerr, fmt=marker, color=color, label=label,
                       mfc=color if filled else "white", mec=color, ecolor=color, elinewidth=0.9,
                       linestyle="none", zorder=3, **kw)


def theory_line(ax, x, y, *, label: str, color, linestyle: str = "-", **kw):
    """Theory style: a line without markers."""
    return ax.plot(np.asarray(x, dtype=float), np.asarray(y, dtype=float), linestyle=linestyle,
                   color=color, label=label, zorder=2, **kw)


def guide(ax, x, y, *, label: str, color="#999999"):
    """A dotted scaling guide (e.g. ``2^-k``) anchored by the caller."""
    return ax.plot(np.asarray(x, dtype=float), np.asarray(y, dtype=float), linestyle=":",
                   color=color, linewidth=1.1, label=label, zorder=1)


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers (``0.5``, ``2``) instead of ``5 x 10^-1``.

    Only when the axis spans less than two decades (otherwise the default 10^n labels read best);
    minor ticks are labelled too (all of them below one decade, else 2 and 5), so a short axis
    still carries numbers. Call it after plotting (it reads the current limits).
    """
    from matplotlib.ticker import FuncFormatter

    lo, hi = (ax.get_ylim() if axis == "y" else ax.get_xlim())
    if lo <= 0 or hi / lo >= 100:
        return
    target = ax.yaxis if axis == "y" else ax.xaxis
    every = hi / lo < 10

    def minor(v, _):
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return f"{v:.3g}" if every or min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""

    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    target.set_minor_formatter(FuncFormatter(minor))
