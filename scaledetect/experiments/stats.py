"""Verdicts from confidence intervals over seeds: what every report claim is judged by.

A claim is ``yes`` when the whole ``CONFIDENCE`` Student-t interval of its statistic (over the
seeds that learned the task) lies on its side of the threshold, ``no`` when it lies on the other
side, ``inconclusive`` otherwise; a claim over several cases (e.g. architectures) is ``yes`` when
every case is, ``no`` when any is.
"""

import math

import numpy as np

#: A trained seed "learned" the task if its final test error is below this (chance: 0.5).
LEARNED_TEST_ERROR = 0.1
#: Confidence level of the intervals behind every verdict.
CONFIDENCE = 0.95
#: "D falls": a ratio of D values (a layer over the one before it, late over early layers) below
#: this.
D_FALL = 0.7
#: Two D profiles "agree" (channel-summed or shuffled vs trained) within this factor.
KEEP = 1.5
#: "R trained << init" (standard CNNs): R_out(trained) / R_out(init) below this.
R_DROP = 0.5


def mean_se(values, axis: int = 0, finite: bool = False):
    """Mean over seeds and its standard error ``std(ddof=1) / sqrt(n)`` along *axis*.

    With *finite*, non-finite values are left out first (1D *values* only). The standard error
    is NaN with fewer than two values (the caller decides what one seed shows).

    Returns
    -------
    mean, se : float or ndarray
    """
    v = np.asarray(values, float)
    if finite:
        v = v[np.isfinite(v)]
        if not len(v):
            return float("nan"), float("nan")
    n = v.shape[axis]
    mean = v.mean(axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan) if np.ndim(mean) else float("nan")
    se = v.std(axis, ddof=1) / np.sqrt(n)
    return (mean, se) if np.ndim(mean) else (float(mean), float(se))


def interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float, int]:
    """Mean and Student-t confidence interval of the mean of *values*: ``(mean, lo, hi, n)``.

    With fewer than 2 values the interval is ``(-inf, inf)``: nothing can be concluded.
    """
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    n = len(v)
    if n < 2:
        return (float(v[0]) if n else float("nan")), -math.inf, math.inf, n
    half = t.ppf(0.5 + confidence / 2, n - 1) * np.std(v, ddof=1) / math.sqrt(n)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half), n


def verdict(lo: float, hi: float, above: float = 0.0) -> str:
    """``yes`` if the whole interval ``[lo, hi]`` lies above *above*, ``no`` if below, else
    ``inconclusive``.
    """
    return "yes" if lo > above else "no" if hi < above else "inconclusive"


def ci_text(name: str, ci: tuple) -> str:
    """``name = mean, 95% CI [lo, hi] (n seeds)``, or the mean alone with fewer than 2 seeds."""
    mean, lo, hi, n = ci
    if n < 2:
        return f"{name} = {mean:.2f} ({n} seed{'s' if n != 1 else ''}: no interval)"
    return f"{name} = {mean:.2f}, {CONFIDENCE:.0%} CI [{lo:.2f}, {hi:.2f}] ({n} seeds)"


def welch(first: tuple, a: list, b: list) -> tuple[float, float, float, int]:
    """Difference of the means of *a* and *b* with a Welch-Satterthwaite t interval."""
    from scipy.stats import t

    if len(a) < 2 or len(b) < 2:
        return first[0] - (np.mean(b) if b else np.nan), -math.inf, math.inf, min(len(a), len(b))
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else 1
    half = t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(va + vb)
    d = float(np.mean(a) - np.mean(b))
    return d, d - half, d + half, len(a) + len(b)


def below(values, threshold: float) -> tuple[str, tuple]:
    """Verdict on "the mean of *values* is below *threshold*", and its interval."""
    ci = interval(values)
    return verdict(-ci[2], -ci[1], -threshold), ci


def combine(verdicts: list[str]) -> str:
    """``no`` if any case is ``no``, ``yes`` if every case is ``yes`` (and there is one), else
    ``inconclusive``.
    """
    if "no" in verdicts:
        return "no"
    return "yes" if verdicts and all(v == "yes" for v in verdicts) else "inconclusive"
