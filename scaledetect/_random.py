"""Explicit randomness: every random function takes ``rng: Generator | int | None``."""

import numpy as np


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a Generator: an int is a seed, ``None`` means seed 0 (reproducible)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)
