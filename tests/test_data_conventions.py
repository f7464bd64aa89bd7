"""Disjoint train/test draws, the noise of noise-corrupted training, the image-mean-1 amplitude."""

import numpy as np
import pytest

from scaledetect.errors import ScaleDetectError
from scaledetect.perturb import corrupt
from scaledetect.tasks import TaskSpec, amplitude, class_counts, render, sample, train_test

# The two-point task of Petrini et al. (side 28, xi 14, gap 2, L2): 2D, enumerable.
TASK9 = TaskSpec(dim=2, size=28, rule="distance", xi=14, gap=2, norm="l2")
SMALL = TaskSpec(dim=1, size=12, rule="block", xi=4)  # C(4,2)*3 = 18 plus pairs, 48 minus


def _keys(b):
    return {p.tobytes() for p in b.positions}


def test_train_test_disjoint_balanced_reproducible():
    tr, te = train_test(TASK9, 1024, 1001, rng=3)
    assert not _keys(tr) & _keys(te)  # no test configuration is a training one
    assert abs(int((tr.labels == 1).sum()) - 512) == 0
    assert int((te.labels == 1).sum()) in (500, 501)  # n//2 per class, the odd one random
    # training set is exactly the plain sample with the same seed
    ref = sample(TASK9, 1024, 3)
    np.testing.assert_array_equal(tr.images, ref.images)
    tr2, te2 = train_test(TASK9, 1024, 1001, rng=3)
    np.testing.assert_array_equal(te.positions, te2.positions)
    np.testing.assert_array_equal(te.images, render(TASK9, te.positions))


def test_train_test_small_task_forces_rejection():
    # 40 training draws of a class with 18 configurations cover most of it: the test set must
    # still avoid every one of them, and use only the unseen ones.
    plus, minus = class_counts(SMALL)
    assert (plus, minus) == (18, 48)
    tr, te = train_test(SMALL, 40, 200, rng=0)
    assert not _keys(tr) & _keys(te)
    seen_plus = {p.tobytes() for p, y in zip(tr.positions, tr.labels, strict=True) if y == 1}
    test_plus = {p.tobytes() for p, y in zip(te.positions, te.labels, strict=True) if y == 1}
    assert len(seen_plus) + len(test_plus) <= 18 and (te.labels == 1).sum() == 100


def test_train_test_refuses_when_a_class_is_used_up():
    with pytest.raises(ScaleDetectError, match="n_train"):
        train_test(SMALL, 4000, 10, rng=0)  # every +1 configuration is in the training set
    with pytest.raises(ScaleDetectError, match="n_test"):
        train_test(SMALL, 10, -1, rng=0)


def test_corrupt_noise_norm_and_identity():
    x = sample(TASK9, 400, 1).images
    assert corrupt(x, 0.0, rng=0).tobytes() == x.tobytes()  # bit-identical
    y = corrupt(x, 0.3, rng=0)
    assert y.dtype == np.float32 and y.shape == x.shape
    # E||eta||^2 = sigma^2 mean ||x||^2; 400 * 784 Gaussian squares: relative s.e. sqrt(2/313600)
    ratio = ((y - x).astype(np.float64) ** 2).sum() / (x.astype(np.float64) ** 2).sum()
    assert abs(ratio / 0.09 - 1) < 3 * np.sqrt(2 / x.size)
    np.testing.assert_array_equal(y, corrupt(x, 0.3, rng=0))
    for bad in (-0.1, float("nan")):
        with pytest.raises(ScaleDetectError, match="sigma"):
            corrupt(x, bad, rng=0)


def test_amplitude_mean_gives_image_mean_one():
    pos = np.array([[[0, 0], [3, 5]], [[2, 27], [27, 1]]], np.float64)
    for task, a in ((TASK9, 392.0), (TaskSpec(dim=1, size=16, xi=4, amplitude="mean"), 8.0)):
        t = TaskSpec(**{**task.to_dict(), "amplitude": "mean"})
        assert amplitude(t) == a  # N^dim / 2: 28^2/2 = 392, 16/2 = 8
        imgs = sample(t, 50, 0).images
        np.testing.assert_allclose(imgs.reshape(50, -1).mean(1), 1.0, rtol=1e-6)
    img = render(TaskSpec(**{**TASK9.to_dict(), "amplitude": "mean"}), pos)
    assert img.mean(axis=(1, 2, 3)).tolist() == [1.0, 1.0]
    st = TaskSpec(dim=2, size=16, shape="stripes", xi=4, amplitude="mean")
    np.testing.assert_allclose(sample(st, 20, 0).images.mean(axis=(1, 2, 3)), 1.0, rtol=1e-6)
    bl = TaskSpec(dim=2, size=16, shape="blobs", xi=4, blob_width=1.5, amplitude="mean")
    np.testing.assert_allclose(sample(bl, 20, 0).images.mean(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    # default convention unchanged: mean of x^2 is 1
    assert TASK9.amplitude == "rms"
    np.testing.assert_allclose((sample(TASK9, 20, 0).images ** 2).mean(axis=(1, 2, 3)), 1.0,
                               rtol=1e-6)
    with pytest.raises(ScaleDetectError, match="amplitude"):
        TaskSpec(amplitude="max")
