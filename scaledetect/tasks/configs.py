"""Configurations: exact enumeration and counts, and the class-balanced uniform sampler."""

import functools
import math

import numpy as np

from .._random import as_rng
from ..errors import ScaleDetectError, require, require_instance, require_int
from .labels import canonical, label_codes, labels, pair_distance
from .spec import TaskSpec

#: Largest number of unordered site pairs that ``enumerate_configs`` builds (1D: size <= 1024,
#: 2D points: size <= 32 give C(1024, 2) = 523776 pairs).
MAX_PAIRS = 600_000
#: Rejection sampling gives up after this many proposals (a class far too rare to sample).
MAX_PROPOSALS = 200_000_000


def _sites(task: TaskSpec) -> np.ndarray:
    """Every integer position, ``(S, p)`` float64, in lexicographic order."""
    grid = np.arange(task.size, dtype=np.float64)
    if task.coords == 1:
        return grid[:, None]
    return np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)


def require_discrete(task: TaskSpec, what: str) -> None:
    """Raise unless the task has integer positions (points or stripes)."""
    require(task.shape != "blobs", "shape", f"be points or stripes for {what} (blob centres are "
            "real-valued)", task.shape)


def n_pairs(task: TaskSpec) -> int:
    """Return the number of unordered pairs of distinct integer positions, C(N^p, 2)."""
    return math.comb(task.size**task.coords, 2)


@functools.lru_cache(maxsize=8)
def _enumerate(task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    sites = _sites(task)
    i, j = np.triu_indices(len(sites), 1)
    pos = np.stack([sites[i], sites[j]], 1)
    y = labels(task, pos)
    keep = y != 0
    pos, y = pos[keep], y[keep]
    pos.setflags(write=False)
    y.setflags(write=False)
    return pos, y


def enumerate_configs(task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    """Every valid configuration of a points or stripes task.

    Returns
    -------
    positions : float64 ``(M, 2, p)``
        Each unordered pair of distinct integer positions with label +-1 once, in canonical order
        (first feature lexicographically smaller), pairs sorted lexicographically.
    labels : int8 ``(M,)``

    Raises
    ------
    ScaleDetectError
        For blobs, when a class is empty, or when there are more than ``MAX_PAIRS`` pairs.
    """
    require_instance("task", task, TaskSpec)
    require_discrete(task, "enumeration")
    require(n_pairs(task) <= MAX_PAIRS, "size", f"give at most {MAX_PAIRS} position pairs to "
            "enumerate (use sample_positions)", task.size, f"dim={task.dim}, shape={task.shape}")
    require_both_classes(task)
    pos, y = _enumerate(task)
    return pos.copy(), y.copy()


def _block_sides(size: int, xi: int) -> list[int]:
    return [xi] * (size // xi) + ([size % xi] if size % xi else [])


@functools.lru_cache(maxsize=32)
def class_counts(task: TaskSpec) -> tuple[int, int]:
    """Exact numbers ``(n_plus, n_minus)`` of valid configurations of a points or stripes task.

    Notes
    -----
    Block rule: blocks have sides ``xi`` (``N // xi`` of them per axis) and, if ``xi`` does not
    divide ``N``, one partial side ``N mod xi``; ``n_plus = sum over blocks C(|block|, 2)`` with
    ``|block|`` the product of its sides, and ``n_minus = C(N^p, 2) - n_plus``.

    Distance rule: a sum over offsets ``o != 0``. Without periodicity, ``prod_c (N - |o_c|)``
    ordered pairs have offset ``o`` (``o_c`` in ``-(N-1)..N-1``); on the torus every residue
    ``o`` in ``Z_N^p`` has ``N^p`` ordered pairs. Each unordered pair is counted twice.
    This is independent of the pair enumeration, which the tests compare it with.
    """
    require_discrete(task, "counting")
    N, p = task.size, task.coords
    if task.rule == "block":
        sides = _block_sides(N, int(task.xi))
        sizes = np.array(sides, dtype=object)
        if p == 2:
            sizes = np.outer(sizes, sizes).ravel()
        plus = sum(math.comb(int(s), 2) for s in sizes)
        return plus, n_pairs(task) - plus
    o = np.arange(N) if task.periodic else np.arange(-(N - 1), N)
    offs = o[:, None] if p == 1 else np.stack(np.meshgrid(o, o, indexing="ij"), -1).reshape(-1, 2)
    if task.periodic:
        m = np.full(len(offs), N**p, dtype=np.int64)
    else:
        m = np.prod(N - np.abs(offs), axis=1)
    d = pair_distance(task, np.zeros_like(offs, dtype=np.float64), offs.astype(np.float64))
    nonzero = np.any(offs != 0, axis=1)
    plus = int(m[nonzero & (d < task.xi - task.gap / 2)].sum()) // 2
    minus = int(m[nonzero & (d >= task.xi + task.gap / 2)].sum()) // 2
    return plus, minus


def _class_nonempty(task: TaskSpec) -> tuple[bool, bool]:
    """Whether the +1 and -1 classes have a valid configuration (positive measure for blobs)."""
    if task.shape != "blobs":
        plus, minus = class_counts(task)
        return plus > 0, minus > 0
    N, d = task.size, task.dim
    if task.rule == "block":
        return True, task.xi < N
    half = N / 2 if task.periodic else N
    dmax = half * (math.sqrt(d) if task.norm == "l2" else 1.0)
    return task.xi - task.gap / 2 > 0, dmax > task.xi + task.gap / 2


def require_both_classes(task: TaskSpec) -> None:
    """Raise a ``ScaleDetectError`` naming xi and gap if a class has no valid configuration."""
    for ok, y in zip(_class_nonempty(task), (+1, -1), strict=True):
        if not ok:
            raise ScaleDetectError(
                f"xi and gap must leave a valid configuration with label {y:+d} "
                f"(size={task.size}, dim={task.dim}, shape={task.shape}, rule={task.rule}, "
                f"norm={task.norm}, periodic={task.periodic}); got xi={task.xi}, gap={task.gap}")


def _box(task: TaskSpec, y: int) -> float | None:
    """Half-width R of an offset box holding every offset of a class-*y* pair (None: any)."""
    if y == -1:
        return None
    N, discrete = task.size, task.shape != "blobs"
    r = task.xi if task.rule == "block" else task.xi - task.gap / 2
    R = math.ceil(r) - 1 if discrete else r  # |o_c| <= d < r
    if _periodic(task):  # residues: one representative per class needs a box narrower than N
        full = 2 * R + 1 > N if discrete else 2 * R >= N
    else:
        full = R >= (N - 1 if discrete else N)
    return None if full else R


def _periodic(task: TaskSpec) -> bool:
    return task.periodic and task.rule == "distance"


def _rejection(task: TaskSpec, y: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` pairs uniform over the valid class-*y* configurations, ``(count, 2, p)``.

    Notes
    -----
    Proposal: first feature uniform over the image, second at an offset uniform in a box
    ``[-R, R]^p`` that contains every class-*y* offset (on the torus, taken modulo N; the box is
    then narrower than N so each residue has one representative), or uniform over the image.
    This is uniform over ordered pairs with offset in the box; rejecting every pair that is
    outside the image, coincident or of the other label leaves the uniform law on ordered valid
    class-*y* pairs, hence (symmetry) on unordered ones.
    """
    N, p = task.size, task.coords
    discrete = task.shape != "blobs"
    R = _box(task, y)
    found, have, proposed, batch = [np.empty((0, 2, p))], 0, 0, max(256, 2 * count)
    while have < count:
        if discrete:
            a = rng.integers(0, N, (batch, p)).astype(np.float64)
            b = (rng.integers(0, N, (batch, p)).astype(np.float64) if R is None
                 else a + rng.integers(-R, R + 1, (batch, p)))
        else:
            a = rng.uniform(0, N, (batch, p))
            b = rng.uniform(0, N, (batch, p)) if R is None else a + rng.uniform(-R, R, (batch, p))
        if _periodic(task):
            b = np.mod(b, N)
        pos = np.stack([a, b], 1)
        pos = pos[label_codes(task, pos) == y]  # 0 for a feature outside the image
        found.append(pos)
        have += len(pos)
        proposed += batch
        if have < count and proposed > MAX_PROPOSALS:
            raise ScaleDetectError(
                f"xi must leave label {y:+d} frequent enough to sample: {have} of {proposed} "
                f"proposals accepted (size={task.size}); got xi={task.xi}")
        rate = max(have, 1) / proposed
        batch = int(min(2_000_000, max(256, 1.2 * (count - have) / rate)))
    return canonical(np.concatenate(found)[:count])


def sample_positions(task: TaskSpec, n: int,
                     rng: np.random.Generator | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` configurations from the class-balanced uniform distribution.

    Half of the samples (``n // 2``; for odd ``n`` the extra one goes to a random class) are
    uniform over the valid +1 configurations, the rest uniform over the valid -1 ones; the
    order is shuffled. Small points/stripes tasks (at most ``MAX_PAIRS`` pairs) draw from the
    exact enumeration, the others by rejection (see ``_rejection``); both are exact samplers.

    Parameters
    ----------
    task : TaskSpec
    n : int
        Number of samples, ``n >= 0``.
    rng : Generator, int or None

    Returns
    -------
    positions : float64 ``(n, 2, p)``, canonical order
    labels : int8 ``(n,)``
    """
    require_instance("task", task, TaskSpec)
    require_int("n", n, 0)
    rng = as_rng(rng)
    require_both_classes(task)
    n_plus = n // 2 + (int(rng.integers(2)) if n % 2 else 0)
    counts = {1: n_plus, -1: n - n_plus}
    parts = []
    for y, count in counts.items():
        if task.shape != "blobs" and n_pairs(task) <= MAX_PAIRS:
            pos, lab = _enumerate(task)
            idx = np.flatnonzero(lab == y)
            parts.append(pos[idx[rng.integers(0, len(idx), count)]])
        else:
            parts.append(_rejection(task, y, count, rng))
    pos = np.concatenate(parts)
    y = np.repeat(np.array([1, -1], np.int8), [counts[1], counts[-1]])
    order = rng.permutation(n)
    return pos[order], y[order]
