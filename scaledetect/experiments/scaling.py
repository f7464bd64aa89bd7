"""Finite-size scaling of pooling nets: the system-size series, its fit windows and variables.

One home for what F13 draws and what the report's exponent table states. The series is the
block task on points with ``xi = N / 4`` (four blocks per side) and the pooling net with F = 2:

- strided (s = 2): depth ``K = k* + 1`` with ``k* = log2(xi)`` the layer whose units cover one
  block (D_{k*} = 0 exactly); leading behaviour ``D_k ~ s^-k``, ``G_k ~ s^(dim k)``;
- unstrided (s = 1): depth ``K = N / 4``, so that the binomial profile (width ~ sqrt(K)) stays far
  below the block side; leading behaviour ``D_k ~ k^-1``, ``G_k ~ k^(dim/2)``.
"""

import math

import numpy as np

from ..errors import require, require_choice
from ..sensitivity.result import profile

GEOMETRIES = ("strided", "unstrided")


def scaling_depth(geometry: str, size: int, dim: int = 1) -> int:
    """Depth K of the F13 pooling net of side *size* (see the module docstring)."""
    require_choice("geometry", geometry, GEOMETRIES)
    require(size >= 16 and size & (size - 1) == 0, "size", "be a power of two >= 16", size)
    if geometry == "strided":
        return int(round(math.log2(size // 4))) + 1
    return size // 4


def predicted_exponent(geometry: str, quantity: str, dim: int) -> float:
    """Asymptotic exponent: D -1 (both); G dim (strided, per ``log s^k``) or dim/2 (unstrided)."""
    require_choice("quantity", quantity, ("D", "G"))
    if quantity == "D":
        return -1.0
    return float(dim) if geometry == "strided" else dim / 2


def geometry_of(net) -> str:
    """``strided`` (s = F > 1) or ``unstrided`` (s = 1)."""
    require(net.stride == 1 or net.stride == net.filter, "net.stride",
            "be 1 or equal to the filter", net.stride)
    return "unstrided" if net.stride == 1 else "strided"


def window(task, net, quantity: str) -> np.ndarray:
    """Layers of the scaling window of *quantity*, where its leading power law should hold.

    Strided (k* = log_s xi, x = s^k / xi the units per block side): D_k s^k falls like 1 - x
    towards the block layer (moves across a block boundary are undone), a local slope -x/(1 - x),
    while it has no correction at the pixel end, so D is fitted over ``1 .. max(2, k* - 4)``
    (x <= 1/16); G_k = 1/2 + (s^k/4 - 1/2)/pi (1D) needs s^k >> 1, so G is fitted over
    ``lo .. k* - 2`` with ``lo = max(1, min(ceil(k*/2), k* - 3))``.
    Unstrided: the second half of the layers, ``ceil(K/2) .. K``, for both.
    """
    require_choice("quantity", quantity, ("D", "G"))
    if geometry_of(net) == "strided":
        kstar = int(round(math.log(task.xi, net.stride)))
        if quantity == "D":
            return np.arange(1, max(2, kstar - 4) + 1)
        lo = max(1, min(math.ceil(kstar / 2), kstar - 3))
        return np.arange(lo, kstar - 1)
    return np.arange(math.ceil(net.depth / 2), net.depth + 1)


def fit_exponent(task, net, sens, quantity: str) -> tuple[float, float]:
    """Slope of log V_k against ``k ln s`` (strided) or ``ln k`` (unstrided) over ``window``.

    Ordinary least squares for theory and Monte Carlo alike (so both weigh the layers the same
    way and differ only by sampling): slope ``sum c_k log V_k`` with ``c_k = (x_k - mean x) /
    sum (x - mean x)^2``. Returns ``(exponent, standard error)``; the standard error is
    ``sqrt(sum c_k^2 (se_k / V_k)^2)`` (delta method, layers treated as independent), 0 without
    standard errors (theory). NaN if fewer than two layers hold a finite positive value.
    """
    x, y, se = profile(sens, quantity)
    ks = window(task, net, quantity)
    ks = ks[np.isfinite(y[ks]) & (y[ks] > 0)]
    if len(ks) < 2:
        return float("nan"), float("nan")
    xs = ks * math.log(net.stride) if net.stride > 1 else np.log(ks)
    c = (xs - xs.mean()) / np.sum((xs - xs.mean()) ** 2)
    slope = float(np.sum(c * np.log(y[ks])))
    if se is None:
        return slope, 0.0
    return slope, float(np.sqrt(np.sum((c * se[ks] / y[ks]) ** 2)))


def collapse(task, net, sens, quantity: str) -> dict:
    """Scaling variable and rescaled sensitivity, for a data collapse across system sizes.

    Strided: ``x = s^k / xi`` (units per block side), ``y = D_k s^k / D_0`` or
    ``G_k / s^(dim k)``. Unstrided: ``x = sqrt(k) / xi`` (profile width per block side),
    ``y = (k + 1) D_k / D_0`` or ``G_k / k^(dim/2)``. In the scaling regime y is flat in x.
    Layers 1..K with a finite positive value: ``{"k", "x", "y", "se"}`` arrays.
    """
    require_choice("quantity", quantity, ("D", "G"))
    k, v, se = profile(sens, quantity)
    d0 = v[0]
    k, v = k[1:], v[1:]
    se = np.full_like(v, np.nan) if se is None else se[1:]
    if geometry_of(net) == "strided":
        x = net.stride ** k / task.xi
        scale = net.stride ** k / d0 if quantity == "D" else net.stride ** (-task.dim * k)
    else:
        x = np.sqrt(k) / task.xi
        scale = (k + 1) / d0 if quantity == "D" else k ** (-task.dim / 2)
    ok = np.isfinite(v) & (v > 0)
    return {"k": k[ok], "x": x[ok], "y": (v * scale)[ok], "se": (se * scale)[ok]}


def exponent_series(theory: list, mc: list) -> dict:
    """Fitted exponents against system size, per ``(dim, geometry, quantity)``.

    Parameters
    ----------
    theory, mc : lists of RunResult
        Exact predictions and Monte Carlo measurements of the F13 pooling nets.

    Returns
    -------
    dict
        ``{(dim, geometry, q): {"predicted": e, "theory": {"N": [...], "e": [...]},
        "mc": {"N": [...], "e": [...], "se": [...]}, "layers": {N: "lo-hi"}}}``, sizes ascending.
    """
    out: dict = {}
    chosen = sorted([(r, "theory") for r in theory] + [(r, "mc") for r in mc],
                    key=lambda p: p[0].run.task.size)
    for res, side_name in chosen:
        task, net = res.run.task, res.run.net
        geometry = geometry_of(net)
        for q in ("D", "G"):
            entry = out.setdefault((task.dim, geometry, q), {
                "predicted": predicted_exponent(geometry, q, task.dim),
                "theory": {"N": [], "e": []}, "mc": {"N": [], "e": [], "se": []},
                "layers": {}})
            e, se = fit_exponent(task, net, res.record.sens, q)
            side = entry[side_name]
            if task.size in side["N"] or not np.isfinite(e):
                continue
            side["N"].append(task.size)
            side["e"].append(e)
            if side_name == "mc":
                side["se"].append(se)
            ks = window(task, net, q)
            entry["layers"][task.size] = f"{ks[0]}-{ks[-1]}"
    return out


def verdict(predicted: float, sizes, values, tol: float = 0.05) -> str:
    """``within 5%`` if the value at the largest size is within *tol* of *predicted*; else the
    relative gap and the measured trend with size (``N=64: 0.30, N=256: 0.35, ...``).
    """
    if not len(values):
        return "no fit"
    gap = abs(values[-1] - predicted) / abs(predicted)
    if gap <= tol:
        return f"within {tol:.0%} ({gap:.1%} off)"
    trend = ", ".join(f"N={n}: {v:.3g}" for n, v in zip(sizes, values, strict=True))
    return f"{gap:.0%} off; trend {trend}"
