"""The ``shift`` diffeomorphism: each feature moves one step, forbidden moves undone (SPEC 3)."""

import numpy as np

from .._random import as_rng
from ..errors import require
from ..tasks.configs import enumerate_configs, require_discrete
from ..tasks.labels import check_positions, labels
from ..tasks.spec import TaskSpec


def steps(task: TaskSpec) -> np.ndarray:
    """Return the equally likely unit moves of one feature, ``(m, p)`` float64.

    1D points and stripes: +1, -1 along the coordinate; 2D points: the four neighbours
    (+-1 along coordinate 0, then +-1 along coordinate 1). Not defined for blobs.
    """
    require_discrete(task, "unit steps")
    if task.coords == 1:
        return np.array([[1.0], [-1.0]])
    return np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def _valid(task: TaskSpec, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = check_positions(task, positions)
    y = labels(task, pos)
    require(bool(np.all(y != 0)), "positions", "be valid configurations (label +-1)",
            f"{int(np.sum(y == 0))} invalid of {len(y)}")
    return pos, y


def _move(task: TaskSpec, pos: np.ndarray, y: np.ndarray, step1: np.ndarray,
          step2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move feature 0 by ``step1`` then feature 1 by ``step2``, each undone if it changes the label.

    A label of 0 means coincident, outside the image or in the gap, so "label unchanged" covers
    every undo rule of SPEC section 3.
    """
    cur = pos.copy()
    moved = np.zeros((len(pos), 2), bool)
    for f, step in enumerate((step1, step2)):
        trial = cur.copy()
        trial[:, f] += step
        ok = labels(task, trial) == y
        cur[ok, f] = trial[ok, f]
        moved[:, f] = ok
    return cur, moved


def shift(task: TaskSpec, positions: np.ndarray, rng: np.random.Generator | int | None = None,
          delta: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Apply the sequential shift diffeomorphism to feature positions.

    Parameters
    ----------
    task : TaskSpec
    positions : ``(n, 2, p)``
        Valid configurations (label +-1).
    rng : Generator, int or None
    delta : float
        Blobs only: length of the real displacement (points and stripes move by one pixel).

    Returns
    -------
    new_positions : float64 ``(n, 2, p)``
        Feature f keeps index f (so the pair may leave canonical order; labels and images do not
        depend on the order).
    moved : bool ``(n, 2)``
        Whether feature f moved; ``moved.mean()`` is the acceptance rate.

    Notes
    -----
    Feature 0 draws a step uniformly (points/stripes: ``steps(task)``; blobs: ``+-delta`` in 1D,
    ``delta (cos t, sin t)`` with t uniform in 2D), moves, and the move is undone if the label
    changes (coincidence, leaving ``[0, N)`` and entering the distance gap all give label 0).
    Then feature 1 does the same against the current state. For points and stripes the result is
    distributed exactly as ``shift_outcomes``.
    """
    pos, y = _valid(task, positions)
    rng = as_rng(rng)
    n = len(pos)
    if task.shape == "blobs":
        require(delta > 0, "delta", "be > 0", delta)
        if task.dim == 1:
            st = delta * (2.0 * rng.integers(0, 2, (n, 2, 1)) - 1)
        else:
            t = rng.uniform(0, 2 * np.pi, (n, 2))
            st = delta * np.stack([np.cos(t), np.sin(t)], -1)
    else:
        st = steps(task)[rng.integers(0, len(steps(task)), (n, 2))]
    return _move(task, pos, y, st[:, 0], st[:, 1])


def shift_outcomes(task: TaskSpec, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every equally likely outcome of ``shift`` for points and stripes.

    Returns
    -------
    outcomes : float64 ``(n, m, 2, p)``
        For step pair ``(k1, k2)`` of ``steps(task)`` (index ``k1 * len(steps) + k2``), the
        positions after the sequential moves with undo rules; ``m = 4`` (1D, stripes) or 16.
    probs : float64 ``(n, m)``
        ``1 / m`` each (outcomes may repeat).
    """
    pos, y = _valid(task, positions)
    st = steps(task)
    k = len(st)
    out = np.empty((len(pos), k * k) + pos.shape[1:])
    for k1 in range(k):
        for k2 in range(k):
            s1 = np.broadcast_to(st[k1], (len(pos), st.shape[1]))
            s2 = np.broadcast_to(st[k2], (len(pos), st.shape[1]))
            out[:, k1 * k + k2] = _move(task, pos, y, s1, s2)[0]
    return out, np.full((len(pos), k * k), 1.0 / (k * k))


def shift_acceptance(task: TaskSpec, positions: np.ndarray | None = None,
                     chunk: int = 65536) -> float:
    """Exact expected fraction of features that ``shift`` moves (points and stripes).

    Parameters
    ----------
    task : TaskSpec
    positions : ``(n, 2, p)`` or None
        Average over these configurations; ``None``: over the class-balanced uniform distribution
        (mean of the two class averages over ``enumerate_configs``).

    Returns
    -------
    float
        ``E[moved.mean()]`` computed from ``shift_outcomes``.
    """
    if positions is None:
        pos, y = enumerate_configs(task)
        return float(np.mean([shift_acceptance(task, pos[y == c], chunk) for c in (1, -1)]))
    pos = check_positions(task, positions)
    total = 0.0
    for i in range(0, len(pos), chunk):
        p = pos[i:i + chunk]
        out, prob = shift_outcomes(task, p)
        moved = np.any(out != p[:, None], axis=-1).mean(-1)  # (n, m): fraction of features moved
        total += float((moved * prob).sum())
    return total / len(pos)
