"""Explicit randomness: every random function takes ``rng: Generator | int | None``."""

import numpy as np

from .errors import ScaleDetectError, is_int


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a Generator: an int is a seed, ``None`` means seed 0 (reproducible).

    Also accepted as seeds: a ``SeedSequence``, a ``BitGenerator`` or a list/tuple of
    integers >= 0 (what ``numpy.random.default_rng`` takes). Anything else (a float, a string,
    a bool, a negative integer) raises ``ScaleDetectError`` naming ``rng``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    seq = isinstance(rng, list | tuple) and len(rng) > 0 and all(
        is_int(v) and v >= 0 for v in rng)
    if (is_int(rng) and rng >= 0) or seq or isinstance(
            rng, np.random.SeedSequence | np.random.BitGenerator):
        return np.random.default_rng(rng)
    text = " ".join(repr(rng).split())[:80]
    raise ScaleDetectError(f"rng must be a numpy Generator, an integer seed >= 0 or None; got "
                           f"rng={text} ({type(rng).__name__})")
