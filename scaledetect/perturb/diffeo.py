"""``diffeo``: apply the perturbation's diffeomorphism to a batch of task images."""

import numpy as np

from .._random import as_rng
from ..errors import real_array, require, require_bool, require_instance
from ..tasks.labels import check_positions
from ..tasks.render import render
from ..tasks.spec import TaskSpec
from .maxent import default_temperature, deform, maxent_field
from .shift import shift
from .spec import Perturbation


def temperature(pert: Perturbation, size: int) -> float:
    """Return the maxent T: ``pert.temperature``, else ``default_temperature(size, cutoff)``."""
    return pert.temperature if pert.temperature is not None else default_temperature(
        size, pert.cutoff)


def diffeo(task: TaskSpec, pert: Perturbation, images: np.ndarray, positions: np.ndarray,
           rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Deformed images ``tau x``.

    Parameters
    ----------
    task : TaskSpec
    pert : Perturbation
    images : ``(n, 1, N[, N])``
        The rendered images of *positions*.
    positions : ``(n, 2, p)``
    rng : Generator, int or None

    Returns
    -------
    float32 ``(n, 1, N[, N])``
        ``shift``: the features moved by ``shift(task, positions, rng, pert.delta,
        pert.shift_rule)`` and
        re-rendered (exact, no interpolation; *images* only fixes the shape). ``maxent``: *images*
        deformed by ``maxent_field`` at ``temperature(pert, N)`` with ``pert.cutoff`` and
        ``pert.interp``, wrapping around the edges iff ``task.periodic`` (else clamping).
    """
    require_instance("task", task, TaskSpec)
    require_instance("pert", pert, Perturbation)
    x = real_array("images", images)
    require(x.shape[1:] == task.image_shape, "images.shape", f"be (n,) + {task.image_shape}",
            x.shape)
    positions = check_positions(task, positions)
    require(len(positions) == len(x), "positions", f"have one row per image ({len(x)})",
            len(positions))
    rng = as_rng(rng)
    if pert.diffeo == "shift":
        return render(task, shift(task, positions, rng, pert.delta, pert.shift_rule)[0])
    return maxent_deform(x, pert, rng, periodic=task.periodic)


def maxent_deform(images: np.ndarray, pert: Perturbation,
                  rng: np.random.Generator | int | None = None,
                  periodic: bool = False) -> np.ndarray:
    """Images deformed by fresh max-entropy fields: one field per image, shared by its channels.

    Parameters
    ----------
    images : ``(n, C, N)`` or ``(n, C, N, N)``
        Any images (task renderings or a user's own, e.g. RGB).
    pert : Perturbation
        Its ``temperature`` (default ``default_temperature(N, cutoff)``), ``cutoff`` and
        ``interp``; ``pert.diffeo`` is not consulted.
    rng : Generator, int or None
    periodic : bool
        Wrap the displacements around the edges (a periodic task) instead of clamping at them.

    Returns
    -------
    float32, the shape of *images*
    """
    require_instance("pert", pert, Perturbation)
    require_bool("periodic", periodic)
    x = real_array("images", images)
    require(x.ndim in (3, 4), "images.shape", "be (n, C, N) or (n, C, N, N)", x.shape)
    size = x.shape[-1]
    field = maxent_field(x.ndim - 2, size, len(x), temperature(pert, size), pert.cutoff,
                         as_rng(rng))
    return deform(x, field, pert.interp, periodic=periodic).astype(np.float32)
