"""The one exception type of scaledetect."""

import numpy as np


class ScaleDetectError(ValueError):
    """Invalid parameter or input; the message names the parameter, the constraint and the value."""


def require(ok: bool, name: str, constraint: str, value: object, context: str = "") -> None:
    """Unless *ok*, raise ``ScaleDetectError("<name> must <constraint> (ctx); got <name>=<v>")``.

    Examples
    --------
    >>> require(3 <= 16, "xi", "satisfy 1 <= xi <= size", 3, "size=16")
    """
    if not ok:
        where = f" ({context})" if context else ""
        raise ScaleDetectError(f"{name} must {constraint}{where}; got {name}={value!r}")


def require_choice(name: str, value: object, allowed: tuple) -> None:
    """Raise unless *value* is one of *allowed*."""
    require(value in allowed, name, "be one of " + ", ".join(map(str, allowed)), value)


def require_int(name: str, value: object, low: int) -> None:
    """Raise unless *value* is an integer (not a bool) >= *low*."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low
    require(ok, name, f"be an integer >= {low}", value)
