"""Closed-form theory of the idealized pooling net and of random CNNs at infinite width.

``predict`` gives exact finite-size D_k, G_k, R_k of the pooling net (SPEC section 6),
``nngp`` the infinite-width prediction for the trainable CNN at initialization, ``symbolic``
the sympy closed forms of the leading behaviour in depth (``closed_form``, ``closed_forms``;
imported lazily so that sympy is loaded only when asked for).
"""

import importlib

from .exact import predict
from .nngp import nngp

__all__ = ["ClosedForm", "closed_form", "closed_forms", "nngp", "predict", "symbolic"]

_LAZY = {"ClosedForm", "closed_form", "closed_forms"}


def __getattr__(name):
    if name == "symbolic":
        return importlib.import_module(".symbolic", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(".symbolic", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
