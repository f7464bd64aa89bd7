"""Disjoint training and test sets of a task (no test configuration is trained on)."""

import numpy as np

from .._random import as_rng
from ..errors import ScaleDetectError, require
from .configs import MAX_PAIRS, class_counts, n_pairs, sample_positions
from .render import Batch, render, sample
from .spec import TaskSpec

#: Rounds of redrawing before ``train_test`` gives up on filling the test set.
MAX_ROUNDS = 64


def _keys(pos: np.ndarray) -> list[bytes]:
    """One hashable key per configuration (canonical positions, ``(n, 2, p)`` float64)."""
    pos = np.ascontiguousarray(pos, np.float64)
    flat = pos.reshape(len(pos), int(np.prod(pos.shape[1:])))  # (-1 fails for 0 rows)
    return [row.tobytes() for row in flat]


def _unseen(task: TaskSpec, train_pos: np.ndarray, train_y: np.ndarray, y: int) -> int | None:
    """Number of class-*y* configurations absent from the training set (None: not countable)."""
    if task.shape == "blobs" or n_pairs(task) > MAX_PAIRS:
        return None
    total = class_counts(task)[0 if y == 1 else 1]
    return total - len(set(_keys(train_pos[train_y == y])))


def _unseen_draws(task: TaskSpec, seen: set, want: dict, rng, n_train: int,
                  n_test: int) -> dict:
    """``{label: [positions]}``: *want[label]* configurations of each class not in *seen*, by
    rejection from ``sample_positions`` (kept in draw order).
    """
    got = {1: [], -1: []}
    for _ in range(MAX_ROUNDS):
        short = sum(want[y] - len(got[y]) for y in got)
        if short == 0:
            return got
        pos, lab = sample_positions(task, 2 * short + 16, rng)
        for p, k, y in zip(pos, _keys(pos), lab, strict=True):
            if k not in seen and len(got[int(y)]) < want[int(y)]:
                got[int(y)].append(p)
    if sum(want[y] - len(got[y]) for y in got) == 0:
        return got
    raise ScaleDetectError(f"n_train must leave enough unseen configurations to draw "
                           f"{n_test} test samples; got n_train={n_train}")


def train_test(task: TaskSpec, n_train: int, n_test: int,
               rng: np.random.Generator | int | None = None) -> tuple[Batch, Batch]:
    """Draw a training set and a test set sharing no configuration.

    Parameters
    ----------
    task : TaskSpec
    n_train, n_test : int
        Sizes, ``>= 0``.
    rng : Generator, int or None

    Returns
    -------
    train, test : Batch
        ``train`` is exactly ``sample(task, n_train, rng)`` (class-balanced, drawn with
        replacement). ``test`` is class-balanced like ``sample`` (``n_test // 2`` per class, the
        odd one to a random class) and uniform, within each class, over the valid configurations
        that do not appear in ``train``; it may repeat a configuration of its own.

    Notes
    -----
    The test set is drawn by rejection: candidates from ``sample_positions`` (each, given its
    label, uniform over that class) are kept, in draw order, if their canonical positions are not
    in the training set, until each class has its count. Conditioning a uniform law on a subset
    leaves it uniform on that subset, so the result is exact.

    Raises
    ------
    ScaleDetectError
        If a class of the test set has no configuration left outside the training set.
    """
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        require(isinstance(v, (int, np.integer)) and v >= 0, name, "be an integer >= 0", v)
    rng = as_rng(rng)
    train = sample(task, n_train, rng)
    n_plus = n_test // 2 + (int(rng.integers(2)) if n_test % 2 else 0)
    want = {1: n_plus, -1: n_test - n_plus}
    for y, count in want.items():
        if count and _unseen(task, train.positions, train.labels, y) == 0:
            raise ScaleDetectError(
                f"n_train must leave a class-{y:+d} configuration outside the training set for "
                f"the test set (size={task.size}, xi={task.xi}); got n_train={n_train}")
    got = _unseen_draws(task, set(_keys(train.positions)), want, rng, n_train, n_test)
    p_dim = task.coords
    pos = np.concatenate([np.reshape(got[1], (-1, 2, p_dim)), np.reshape(got[-1], (-1, 2, p_dim))])
    y = np.repeat(np.array([1, -1], np.int8), [want[1], want[-1]])
    order = rng.permutation(n_test)
    pos, y = pos[order], y[order]
    return train, Batch(render(task, pos), y, pos)
