"""One boundary convention per task: its ``periodic`` flag decides, for blobs, whether rendering,
labels and the max-entropy deformation wrap around the image edges (all three) or not (none).

References are independent of the code under test: the Gaussian formula written out, and
``np.roll`` for a translation on the torus.
"""

import numpy as np
import pytest

from scaledetect import TaskSpec
from scaledetect.perturb import Perturbation, deform, diffeo
from scaledetect.tasks import labels, render

N, W = 16, 1.5


def _task(periodic: bool, dim: int = 1) -> TaskSpec:
    return TaskSpec(dim=dim, size=N, shape="blobs", rule="distance", xi=4, blob_width=W,
                    periodic=periodic)


def _bump(centre: float, periodic: bool) -> np.ndarray:
    """sqrt(N/2) g / ||g|| with g the Gaussian (and its periodic images, if periodic)."""
    x = np.arange(N, dtype=np.float64)
    images = range(-3, 4) if periodic else [0]
    g = sum(np.exp(-(x - centre + m * N) ** 2 / (2 * W**2)) for m in images)
    return np.sqrt(N / 2) * g / np.linalg.norm(g)


@pytest.mark.parametrize("periodic", [False, True])
def test_blob_rendering_follows_the_flag(periodic):
    # two blobs: one at the left edge, one in the middle; float32 images, so rtol 1e-6
    pos = np.array([[[0.4], [5.0]]])
    x = render(_task(periodic), pos)[0, 0].astype(np.float64)
    np.testing.assert_allclose(x, _bump(0.4, periodic) + _bump(5.0, periodic), rtol=1e-6,
                               atol=1e-6)
    # the last pixel is 1.4 px from the first blob on the torus; otherwise 10 px from the
    # nearest one (exp(-100 / 4.5) ~ 2e-10)
    assert (x[-1] > 0.3) if periodic else (x[-1] < 1e-6)


@pytest.mark.parametrize("periodic", [False, True])
def test_labels_follow_the_flag(periodic):
    # features at 0.5 and 14.5: 2 px apart on the torus (< xi = 4: +1), 14 px on the line (-1)
    y = labels(_task(periodic), np.array([[[0.5], [14.5]]]))
    assert y.tolist() == ([1] if periodic else [-1])


@pytest.mark.parametrize("interp", ["linear", "nearest", "gaussian"])
def test_deformation_wraps_iff_periodic(interp):
    # a uniform field of +3 px translates the image by 3 px: on the torus exactly np.roll
    # (gaussian interpolation smooths even at integer shifts, so it is compared with the rolled
    # zero-field result); on the line the first 3 pixels repeat the edge pixel
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, N))
    field = np.full((1, 1, N), 3.0)
    zero = np.zeros_like(field)
    rolled = np.roll(deform(x, zero, interp, periodic=True), 3, axis=-1)
    np.testing.assert_allclose(deform(x, field, interp, periodic=True), rolled, atol=1e-12)
    if interp != "gaussian":
        clamped = deform(x, field, interp, periodic=False)
        np.testing.assert_allclose(clamped[..., 3:], x[..., :-3], atol=1e-12)
        np.testing.assert_allclose(clamped[..., :3], np.repeat(x[..., :1], 3, -1), atol=1e-12)


def test_periodic_task_is_translation_invariant_in_all_three():
    # On the torus, translating every feature by t (mod N) rolls the rendered image by t, keeps
    # every label, and commutes with the maxent deformation by the rolled field.
    task, t = _task(True, dim=2), 5
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, N, size=(6, 2, 2))
    moved = np.mod(pos + t, N)
    x, x_moved = render(task, pos), render(task, moved)
    np.testing.assert_allclose(x_moved, np.roll(x, (t, t), axis=(-2, -1)), atol=1e-5)
    assert labels(task, moved).tolist() == labels(task, pos).tolist()
    field = rng.normal(scale=2.0, size=(6, 2, N, N))
    out = deform(x.astype(np.float64), field, "linear", periodic=True)
    out_moved = deform(x_moved.astype(np.float64), np.roll(field, (t, t), axis=(-2, -1)),
                       "linear", periodic=True)
    np.testing.assert_allclose(out_moved, np.roll(out, (t, t), axis=(-2, -1)), atol=1e-5)


def test_maxent_diffeo_uses_the_task_flag():
    # diffeo() deforms with the task's flag: it equals deform() of the same field (same seed)
    # with periodic=task.periodic, and at a high temperature (displacements of several pixels
    # near a blob at the corner) wrapping and clamping give different images
    pert = Perturbation(diffeo="maxent", temperature=50.0, cutoff=3.0)
    out = {}
    for periodic in (False, True):
        task = _task(periodic, dim=2)
        pos = np.array([[[0.5, 0.5], [8.0, 8.0]]] * 4)
        out[periodic] = diffeo(task, pert, render(task, pos), pos, rng=3)
        ref = deform(render(task, pos), _field(task, pert, 3), "linear", periodic=periodic)
        np.testing.assert_allclose(out[periodic], ref, atol=1e-6)
    assert not np.allclose(out[False], out[True])


def _field(task, pert, seed):
    from scaledetect.perturb import maxent_field

    return maxent_field(task.dim, task.size, 4, pert.temperature, pert.cutoff,
                        np.random.default_rng(seed))
