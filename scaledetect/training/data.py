"""The arrays a training run reads, and the noise schedule of noise-corrupted training."""

from dataclasses import dataclass, replace

import numpy as np

from ..perturb.noise import corrupt


def noise_seed(stream: np.random.Generator) -> int:
    """The seed of a run's noise schedule, drawn from its noise stream (one draw)."""
    return int(stream.integers(2 ** 62))


@dataclass
class TrainData:
    """Training and test arrays, with the training noise of each epoch.

    Attributes
    ----------
    x_train : ndarray (n, C, N[, N])
        Clean training images, in the stepper's dtype.
    y_train : ndarray (n,)
        Training labels (whatever the stepper's loss takes).
    x_test, y_test : ndarray or None
        Test images and labels, None without a test set. With noise, ``x_test`` carries its
        fixed draw (see ``with_noise``): these are the images the test error is measured on.
    sigma : float
        Relative noise level of noise-corrupted training (``perturb.corrupt``); 0: clean.
    noise_seed : int
        Seed of the noise schedule.

    Notes
    -----
    The training images of epoch e >= 1 are ``corrupt(x_train, sigma, default_rng([noise_seed,
    e]))``: a function of (seed, epoch) alone, so a resumed run draws the noise an uninterrupted
    one draws. The test images carry the draw of ``default_rng([noise_seed, 0])``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    sigma: float = 0.0
    noise_seed: int = 0
    epoch: int = 0
    x_epoch: np.ndarray | None = None

    def with_noise(self, sigma: float, seed: int) -> "TrainData":
        """A copy that trains with noise *sigma* keyed by *seed*, its test images noisy."""
        x_test = self.x_test
        if x_test is not None and sigma > 0:
            x_test = corrupt(x_test, sigma, np.random.default_rng([seed, 0]))
        return replace(self, x_test=x_test, sigma=float(sigma), noise_seed=int(seed), epoch=0,
                       x_epoch=None)

    def images(self, epoch: int) -> np.ndarray:
        """Training images of *epoch* (>= 1): clean, or with that epoch's noise draw (cached)."""
        if self.sigma == 0:
            return self.x_train
        if self.x_epoch is None or self.epoch != epoch:
            rng = np.random.default_rng([self.noise_seed, epoch])
            self.x_epoch, self.epoch = corrupt(self.x_train, self.sigma, rng), epoch
        return self.x_epoch

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return len(self.x_train)

    @property
    def has_test(self) -> bool:
        """Whether there is a test set."""
        return self.x_test is not None and len(self.x_test) > 0
