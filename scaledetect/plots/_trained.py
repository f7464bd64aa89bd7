"""Channel-averaged sensitivities of trained nets against the pooling theory (F14, F15)."""

import numpy as np

from ..sensitivity.result import profile


def theory_layers(theory: dict, quantity: str) -> np.ndarray:
    """Conv layers 1..K where the theory's value is finite and > 0 (D_k is exactly 0 from the
    block layer on, so the comparison stops below it).
    """
    k, v, _ = profile(theory, quantity)
    ok = (k >= 1) & np.isfinite(v) & (v > 0)
    return k[ok].astype(int)


def log_distance(trained: dict, theory: dict, quantity: str) -> float:
    """Root-mean-square of ``log10(V_trained / V_theory)`` over ``theory_layers``.

    0 means the channel-averaged trained net has the pooling net's profile; 0.3 means a typical
    factor of 2 between them. Layers where the trained value is not > 0 count as missing.
    """
    ks = theory_layers(theory, quantity)
    _, t, _ = profile(trained, quantity)
    _, p, _ = profile(theory, quantity)
    t, p = t[ks], p[ks]
    ok = np.isfinite(t) & (t > 0)
    if not ok.any():
        return float("nan")
    return float(np.sqrt(np.mean(np.log10(t[ok] / p[ok]) ** 2)))


def collapse_layer(sens: dict) -> int:
    """The layer k >= 1 where D falls most, ``argmin_k D_k / D_{k-1}`` (an exact 0 wins)."""
    k, d, _ = profile(sens, "D")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = d[1:] / d[:-1]
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    return int(k[1:][int(np.argmin(ratio))])
