"""Labels of feature configurations: the block and distance rules."""

import numpy as np

from ..errors import real_array, require, require_instance
from .spec import TaskSpec


def check_positions(task: TaskSpec, positions: np.ndarray) -> np.ndarray:
    """Return *positions* as float64 ``(n, 2, p)``; raise unless *task* is a ``TaskSpec`` and
    the positions are finite real numbers whose shape fits it.
    """
    require_instance("task", task, TaskSpec)
    pos = real_array("positions", positions).astype(np.float64, copy=False)
    p = task.coords
    require(pos.ndim == 3 and pos.shape[1:] == (2, p), "positions.shape", f"be (n, 2, {p})",
            pos.shape, f"shape={task.shape}, dim={task.dim}")
    return pos


def pair_distance(task: TaskSpec, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between features at *a* and *b*, both ``(n, p)``, under the task's norm.

    Notes
    -----
    Per coordinate ``d_c = |a_c - b_c|``, on the torus ``min(d_c, N - d_c)``; then
    ``d = d_0`` for one coordinate, ``sqrt(sum d_c^2)`` (``l2``) or ``max d_c`` (``linf``).
    """
    d = np.abs(a - b)
    if task.periodic:
        d = np.minimum(d, task.size - d)
    if d.shape[1] == 1:
        return d[:, 0]
    return np.sqrt((d**2).sum(1)) if task.norm == "l2" else d.max(1)


def labels(task: TaskSpec, positions: np.ndarray) -> np.ndarray:
    """Label of every configuration: +1, -1, or 0 if it is not a valid configuration.

    Parameters
    ----------
    task : TaskSpec
    positions : array ``(n, 2, p)``
        Feature positions (see ``TaskSpec``); the order of the two features does not matter.

    Returns
    -------
    int8 array ``(n,)``
        ``block``: +1 iff ``floor(pos / xi)`` agrees in every coordinate, else -1.
        ``distance``: +1 iff ``d < xi - gap/2``, -1 iff ``d >= xi + gap/2``.
        0 (excluded) when the distance falls in the gap or when the features coincide.

    Raises
    ------
    ScaleDetectError
        Unless every coordinate lies in the image, ``0 <= position < size``: a position
        outside it is not a configuration of the task (the torus of ``periodic`` is [0, size)
        too).
    """
    pos = check_positions(task, positions)
    if pos.size:
        lo, hi = float(pos.min()), float(pos.max())
        require(lo >= 0 and hi < task.size, "positions", "lie in the image, 0 <= position < "
                "size", f"min {lo:g}, max {hi:g}", f"size={task.size}")
    return label_codes(task, pos)


def label_codes(task: TaskSpec, pos: np.ndarray) -> np.ndarray:
    """``labels`` of checked float64 positions ``(n, 2, p)`` (``check_positions``), with 0 also
    for a feature outside the image: what the samplers and the shift use to reject moves.
    """
    a, b = pos[:, 0], pos[:, 1]
    valid = np.all((pos >= 0) & (pos < task.size), axis=(1, 2)) & np.any(a != b, axis=1)
    if task.rule == "block":
        same = np.all(np.floor(a / task.xi) == np.floor(b / task.xi), axis=1)
        y = np.where(same, 1, -1)
    else:
        d = pair_distance(task, a, b)
        y = np.where(d < task.xi - task.gap / 2, 1, np.where(d >= task.xi + task.gap / 2, -1, 0))
    return np.where(valid, y, 0).astype(np.int8)


def canonical(positions: np.ndarray) -> np.ndarray:
    """Reorder each pair so that the first feature is lexicographically smaller, ``(n, 2, p)``."""
    pos = np.array(positions, dtype=np.float64)
    a, b = pos[:, 0], pos[:, 1]
    swap = np.zeros(len(pos), bool)
    undecided = np.ones(len(pos), bool)
    for c in range(pos.shape[2]):
        swap |= undecided & (a[:, c] > b[:, c])
        undecided &= a[:, c] == b[:, c]
    pos[swap] = pos[swap][:, ::-1]
    return pos
