"""The one exception type of scaledetect, and the argument checks that raise it.

Every check names the parameter, the constraint and the value received, on one line, e.g.
``xi must satisfy 1 <= xi <= size (size=16); got xi=40``. Types are strict: a bool is not an
integer, a string is not a number, a complex number is not real; numpy integer and floating
scalars count as integers and reals.
"""

import math
import os

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
        raise ScaleDetectError(f"{name} must {constraint}{where}; got {name}={_short(value)}")


def _short(value: object) -> str:
    """``repr`` of *value*, arrays and long texts summarized so the message stays one line."""
    if isinstance(value, np.ndarray):
        return f"<array dtype={value.dtype} shape={value.shape}>"
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def is_bool(value: object) -> bool:
    """Whether *value* is ``True``/``False`` (a Python or numpy bool)."""
    return isinstance(value, bool | np.bool_)


def is_int(value: object) -> bool:
    """Whether *value* is an integer (Python or numpy), not a bool."""
    return isinstance(value, int | np.integer) and not is_bool(value)


def is_real(value: object) -> bool:
    """Whether *value* is a real number (int or float, Python or numpy), not a bool."""
    return isinstance(value, int | float | np.integer | np.floating) and not is_bool(value)


def require_choice(name: str, value: object, allowed: tuple) -> None:
    """Raise unless *value* is one of *allowed* (a bool never stands for 0 or 1)."""
    try:
        ok = any(value == a and is_bool(value) == is_bool(a) for a in allowed)
    except (TypeError, ValueError):  # e.g. an array, whose == is elementwise
        ok = False
    require(bool(ok), name, "be one of " + ", ".join(map(str, allowed)), value)


def require_int(name: str, value: object, low: int, high: int | None = None) -> None:
    """Raise unless *value* is an integer (not a bool) with ``low <= value`` (``<= high``)."""
    if high is None:
        require(is_int(value) and value >= low, name, f"be an integer >= {low}", value)
    else:
        require(is_int(value) and low <= value <= high, name,
                f"be an integer with {low} <= {name} <= {high}", value)


def require_real(name: str, value: object, context: str = "") -> None:
    """Raise unless *value* is a finite real number (int or float, not a bool, NaN or inf)."""
    require(is_real(value) and math.isfinite(value), name, "be a finite number", value, context)


def require_bool(name: str, value: object) -> None:
    """Raise unless *value* is ``True`` or ``False``."""
    require(is_bool(value), name, "be True or False", value)


def require_instance(name: str, value: object, cls: type, what: str | None = None) -> None:
    """Raise unless *value* is an instance of *cls* (``what``: how the message names it)."""
    if not isinstance(value, cls):
        raise ScaleDetectError(f"{name} must be {what or 'a ' + cls.__name__}; got {name}="
                               f"{_short(value)} ({type(value).__name__})")


def require_path(name: str, value: object) -> None:
    """Raise unless *value* is a file path (``str`` or ``os.PathLike``)."""
    require(isinstance(value, str | os.PathLike), name, "be a file path (str or os.PathLike)",
            value)


def real_array(name: str, value: object, finite: bool = True) -> np.ndarray:
    """*value* as an array of real numbers (integer or floating dtype, no copy if it is one).

    Raises
    ------
    ScaleDetectError
        If it holds anything else (strings, objects, complex or bool values: named with the
        dtype and shape), or, with *finite*, NaN or inf.
    """
    try:
        x = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise ScaleDetectError(f"{name} must be an array of real numbers; got {name}="
                               f"{_short(value)} ({err})") from None
    if x.dtype.kind not in "iuf":
        kind = {"c": "complex", "b": "bool", "U": "string", "S": "bytes", "O": "object"}.get(
            x.dtype.kind, x.dtype.name)
        raise ScaleDetectError(f"{name} must be an array of real numbers; got a {kind} array "
                               f"(dtype {x.dtype}, shape {x.shape})")
    if finite and x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ScaleDetectError(f"{name} must be finite; got {np.sum(~np.isfinite(x))} NaN or "
                               f"inf values of {x.size} (shape {x.shape})")
    return x


def plain_scalars(spec: object) -> None:
    """Replace numpy scalars among the fields of the (frozen) dataclass *spec* by the Python
    scalars of the same value, so that its ``to_dict()`` is plain JSON; other values are kept.
    """
    for name, value in vars(spec).items():
        if isinstance(value, np.generic):
            object.__setattr__(spec, name, value.item())
