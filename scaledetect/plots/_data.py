"""Drawing measured profiles: one run's, or the mean over seeds, and what was left out."""

from collections.abc import Sequence

import numpy as np

from ..errors import ScaleDetectError, require
from ..experiments.stats import mean_se


def seed_mean(sens: Sequence, quantity: str, with_out: bool = False):
    """Mean and standard error over seeds of one quantity's layer profile.

    Parameters
    ----------
    sens : sequence of Sensitivities
        The same measurement of runs differing only in their seed.
    quantity : str
        ``D``, ``G`` or ``R``.

    Returns
    -------
    x, mean, se : float ndarrays (L,)
        With one seed, ``se`` is the run's own Monte Carlo standard error (0 if none).
    n : int
        Number of seeds.

    Notes
    -----
    ``se = std(values, ddof=1) / sqrt(n)`` (``stats.mean_se``): the spread across seeds, which
    contains the probe-set sampling noise of each run as well as the seed-to-seed variation.
    """
    require(len(sens) > 0, "sens", "be non-empty", len(sens))
    profiles = [s.profile(quantity, with_out) for s in sens]
    x = profiles[0][0]
    if any(len(p[0]) != len(x) for p in profiles):
        raise ScaleDetectError("runs must share their depth to be averaged over seeds")
    if len(sens) == 1:
        se = profiles[0][2] if profiles[0][2] is not None else np.zeros_like(x)
        return x, profiles[0][1], se, 1
    mean, se = mean_se(np.stack([p[1] for p in profiles]))
    return x, mean, se, len(sens)


def series(x, y, se=None, **meta) -> dict:
    """A JSON-able record of one plotted series."""
    out = {"x": np.asarray(x, float), "y": np.asarray(y, float)}
    if se is not None:
        out["se"] = np.asarray(se, float)
    out.update(meta)
    return out


def describe_net(net) -> str:
    """A short human description of a NetSpec, e.g. ``K=7, F=2, s=2, width 64, relu``."""
    text = f"K={net.depth}, F={net.filter}, s={net.stride}"
    if net.width > 1:
        text += f", width {net.width}"
    return text + f", {net.act}"


def describe_task(task) -> str:
    """A short human description of a TaskSpec, e.g. ``1D points, block, N=128, xi=32``."""
    xi = int(task.xi) if float(task.xi).is_integer() else task.xi
    return f"{task.dim}D {task.shape}, {task.rule} rule, N={task.size}, ξ={xi}"


def layer_ticks(ax, depth: int, with_out: bool = False) -> None:
    """Integer layer ticks 0..K (and ``out`` at K + 1)."""
    ticks = list(range(depth + 1)) + ([depth + 1] if with_out else [])
    labels = [str(k) for k in range(depth + 1)] + (["out"] if with_out else [])
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)


def _drawable(x, y, se, min_k: int, log: bool):
    """Split a profile into drawn points and omitted ones (undefined, or <= 0 on a log axis)."""
    ok = np.isfinite(y) & (x >= min_k)
    if log:
        ok &= y > 0
    gone = (~ok) & (x >= min_k)
    omitted = {"x": x[gone], "value": [float(v) if np.isfinite(v) else "undefined"
                                       for v in y[gone]]}
    return ok, omitted


def draw_seeds(ax, sens: Sequence, quantity: str, *, label: str, color, marker: str = "s",
               filled: bool = True, offset: float = 0.0, with_out: bool = False,
               min_k: int = 0, log: bool = True) -> dict:
    """Plot mean +- s.e. over seeds as markers with error bars; return the plotted series.

    Layers whose value is undefined (NaN), or <= 0 when *log*, are not drawn; they are listed in
    the series' ``omitted`` entry (``x`` and ``value``: a number or ``"undefined"``).
    """
    from .style import errorbars

    x, y, se, n = seed_mean(sens, quantity, with_out)
    keep, omitted = _drawable(x, y, se, min_k, log)
    errorbars(ax, x[keep], y[keep], se[keep], label=f"{label} (n={n})", color=color,
              marker=marker, filled=filled, offset=offset)
    return series(x[keep], y[keep], se[keep], n_seeds=n, label=label, omitted=omitted)


def draw_single(ax, sens, quantity: str, *, label: str, color, marker: str = "o",
                linestyle: str = "-", filled: bool = True,
                offset: float = 0.0, with_out: bool = False, min_k: int = 0,
                log: bool = True, line: bool | None = None) -> dict:
    """One run's profile: a line for predictions, markers with error bars for simulations.

    *line* None decides by the result: a line if it has no standard errors (exact theory).
    ``line=True`` draws a prediction that carries a small Monte Carlo error of its own (the
    NNGP's noise average) as a line; its standard errors are kept in the JSON when finite.
    Undefined layers (and values <= 0 when *log*) are left out, as in ``draw_seeds``.
    """
    from .style import errorbars, theory_line

    x, y, se = sens.profile(quantity, with_out)
    keep, omitted = _drawable(x, y, se, min_k, log)
    if line or (line is None and se is None):
        theory_line(ax, x[keep], y[keep], label=label, color=color, linestyle=linestyle)
        if se is not None and not np.all(np.isfinite(se[keep])):
            se = None
        return series(x[keep], y[keep], None if se is None else se[keep], label=label,
                      omitted=omitted)
    errorbars(ax, x[keep], y[keep], se[keep], label=label, color=color, marker=marker,
              filled=filled, offset=offset)
    return series(x[keep], y[keep], se[keep], label=label, omitted=omitted)


def note_omitted(ax, panel: dict, quantity: str, depth: int | None = None) -> str:
    """Write, in a corner of *ax*, which layers of the drawn series were left out and why.

    Returns the note (empty if nothing was omitted). Values that are exactly 0 (perfect
    invariance, e.g. a pooling window covering a whole block) cannot sit on a log axis;
    "undefined" (NaN or inf) means den_k = 0: the layer no longer tells probes apart (e.g. a
    single unit left whose value is the same for every input).
    """
    zero, undefined = set(), set()
    for s in panel.values():
        om = s.get("omitted") if isinstance(s, dict) else None
        if not om:
            continue
        for x, v in zip(om["x"], om["value"], strict=True):
            label = "out" if depth is not None and x == depth + 1 else str(int(x))
            (undefined if v == "undefined" else zero).add((x, label))
    parts = []
    if zero:
        parts.append(f"{quantity} = 0 at k = " + ", ".join(lab for _, lab in sorted(zero)))
    if undefined:
        parts.append("undefined (den = 0) at k = " + ", ".join(lab for _, lab in
                                                              sorted(undefined)))
    note = "; ".join(parts)
    if note:
        ax.text(0.99, 0.01, "not drawn: " + note, transform=ax.transAxes, ha="right",
                va="bottom", fontsize=6.5, color="#666666")
    return note
