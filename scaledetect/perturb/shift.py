"""The ``shift`` diffeomorphism: each feature moves one step, forbidden moves undone."""

import numpy as np

from .._random import as_rng
from ..errors import require, require_choice, require_real
from ..tasks.configs import enumerate_configs, require_discrete
from ..tasks.labels import check_positions, label_codes, labels
from ..tasks.spec import TaskSpec
from .spec import SHIFT_RULES


def steps(task: TaskSpec, rule: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Return the unit moves of one feature and their probabilities, ``(m, p)`` and ``(m,)``.

    1D points and stripes: +1, -1 along the coordinate; 2D points: the four neighbours
    (+-1 along coordinate 0, then +-1 along coordinate 1), each ``1/m``. ``rule="authors2d"``
    (2D points): the step is ``round(cos t), round(sin t)`` with t uniform on the circle, i.e.
    the four axis neighbours with probability 1/6 each (arcs of 60 degrees) and the four
    diagonal ones with probability 1/12 each (arcs of 30 degrees). Not defined for blobs.
    """
    require_discrete(task, "unit steps")
    require_choice("rule", rule, SHIFT_RULES)
    if rule == "authors2d":
        require(task.coords == 2, "shift_rule", "be auto or label for this task (authors2d "
                "moves 2D points, possibly diagonally)", rule,
                f"dim={task.dim}, shape={task.shape}")
        st = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0],
                       [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
        return st, np.array([1 / 6] * 4 + [1 / 12] * 4)
    if task.coords == 1:
        return np.array([[1.0], [-1.0]]), np.full(2, 0.5)
    return np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]), np.full(4, 0.25)


def _valid(task: TaskSpec, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = check_positions(task, positions)
    y = labels(task, pos)
    require(bool(np.all(y != 0)), "positions", "be valid configurations (label +-1)",
            f"{int(np.sum(y == 0))} invalid of {len(y)}")
    return pos, y


def _allowed(task: TaskSpec, rule: str, trial: np.ndarray, start: np.ndarray, f: int,
             y: np.ndarray) -> np.ndarray:
    """Whether feature f may sit at ``trial[:, f]`` having started at ``start[:, f]``, ``(n,)``.

    Always: inside the image and not on the other feature. ``auto`` with the block rule: also in
    the block the feature started in; ``auto`` with the distance rule and ``label``: the label of
    the configuration unchanged (label 0 = coincident, outside or in the gap band).
    ``authors2d``: nothing more.
    """
    lab = label_codes(task, trial)  # 0 outside the image
    if rule == "label" or (rule == "auto" and task.rule == "distance"):
        return lab == y
    ok = lab != 0
    if rule == "auto":  # block rule: the feature stays in its own block
        ok &= np.all(np.floor(trial[:, f] / task.xi) == np.floor(start[:, f] / task.xi), axis=1)
    return ok


def _move(task: TaskSpec, pos: np.ndarray, y: np.ndarray, step1: np.ndarray,
          step2: np.ndarray, rule: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Move feature 0 by ``step1`` then feature 1 by ``step2``, each undone unless ``_allowed``."""
    cur = pos.copy()
    moved = np.zeros((len(pos), 2), bool)
    for f, step in enumerate((step1, step2)):
        trial = cur.copy()
        trial[:, f] += step
        ok = _allowed(task, rule, trial, pos, f, y)
        cur[ok, f] = trial[ok, f]
        moved[:, f] = ok
    return cur, moved


def shift(task: TaskSpec, positions: np.ndarray, rng: np.random.Generator | int | None = None,
          delta: float = 1.0, rule: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Apply the sequential shift diffeomorphism to feature positions.

    Parameters
    ----------
    task : TaskSpec
    positions : ``(n, 2, p)``
        Valid configurations (label +-1).
    rng : Generator, int or None
    delta : float
        Blobs only: length of the real displacement (points and stripes move by one pixel).
    rule : str
        ``auto`` (block rule: a move is undone if it takes the feature out of its own block;
        distance rule: if it changes the label or enters the gap band), ``label`` (undone if the
        label changes, both rules) or ``authors2d`` (2D points: a rounded random unit vector,
        diagonal moves possible, labels not preserved; see ``steps``). Every rule also undoes a
        move that leaves the image or lands on the other feature.

    Returns
    -------
    new_positions : float64 ``(n, 2, p)``
        Feature f keeps index f (so the pair may leave canonical order; labels and images do not
        depend on the order).
    moved : bool ``(n, 2)``
        Whether feature f moved; ``moved.mean()`` is the acceptance rate.

    Notes
    -----
    Feature 0 draws a step (points/stripes: ``steps(task, rule)``; blobs: ``+-delta`` in 1D,
    ``delta (cos t, sin t)`` with t uniform in 2D), moves, and the move is undone if the rule
    forbids it. Then feature 1 does the same against the current state. For points and stripes
    the result is distributed exactly as ``shift_outcomes``.
    """
    require_choice("rule", rule, SHIFT_RULES)
    require_real("delta", delta)
    pos, y = _valid(task, positions)
    rng = as_rng(rng)
    n = len(pos)
    if task.shape == "blobs":
        require(rule != "authors2d", "shift_rule", "be auto or label for blobs", rule)
        require(delta > 0, "delta", "be > 0", delta)
        if task.dim == 1:
            st = delta * (2.0 * rng.integers(0, 2, (n, 2, 1)) - 1)
        else:
            t = rng.uniform(0, 2 * np.pi, (n, 2))
            st = delta * np.stack([np.cos(t), np.sin(t)], -1)
    else:
        moves, prob = steps(task, rule)
        uniform = rule != "authors2d"  # same draws as before the rules existed
        idx = rng.integers(0, len(moves), (n, 2)) if uniform else rng.choice(len(moves), (n, 2),
                                                                             p=prob)
        st = moves[idx]
    return _move(task, pos, y, st[:, 0], st[:, 1], rule)


def shift_outcomes(task: TaskSpec, positions: np.ndarray,
                   rule: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Every outcome of ``shift`` for points and stripes, with its probability.

    Returns
    -------
    outcomes : float64 ``(n, m, 2, p)``
        For step pair ``(k1, k2)`` of ``steps(task, rule)`` (index ``k1 * len(steps) + k2``),
        the positions after the sequential moves with undo rules; ``m = 4`` (1D, stripes), 16
        (2D points) or 64 (``authors2d``).
    probs : float64 ``(n, m)``
        ``prob[k1] * prob[k2]`` (outcomes may repeat).
    """
    require_choice("rule", rule, SHIFT_RULES)
    pos, y = _valid(task, positions)
    st, pr = steps(task, rule)
    k = len(st)
    out = np.empty((len(pos), k * k) + pos.shape[1:])
    for k1 in range(k):
        for k2 in range(k):
            s1 = np.broadcast_to(st[k1], (len(pos), st.shape[1]))
            s2 = np.broadcast_to(st[k2], (len(pos), st.shape[1]))
            out[:, k1 * k + k2] = _move(task, pos, y, s1, s2, rule)[0]
    return out, np.broadcast_to(np.outer(pr, pr).ravel(), (len(pos), k * k)).copy()


def shift_acceptance(task: TaskSpec, positions: np.ndarray | None = None,
                     chunk: int = 65536, rule: str = "auto") -> float:
    """Exact expected fraction of features that ``shift`` moves (points and stripes).

    Parameters
    ----------
    task : TaskSpec
    positions : ``(n, 2, p)`` or None
        Average over these configurations; ``None``: over the class-balanced uniform distribution
        (mean of the two class averages over ``enumerate_configs``).
    chunk : int
        Configurations per batch of ``shift_outcomes``.
    rule : str
        The undo rule (``shift``).

    Returns
    -------
    float
        ``E[moved.mean()]`` computed from ``shift_outcomes``.
    """
    if positions is None:
        pos, y = enumerate_configs(task)
        return float(np.mean([shift_acceptance(task, pos[y == c], chunk, rule) for c in (1, -1)]))
    pos = check_positions(task, positions)
    total = 0.0
    for i in range(0, len(pos), chunk):
        p = pos[i:i + chunk]
        out, prob = shift_outcomes(task, p, rule)
        moved = np.any(out != p[:, None], axis=-1).mean(-1)  # (n, m): fraction of features moved
        total += float((moved * prob).sum())
    return total / len(pos)
