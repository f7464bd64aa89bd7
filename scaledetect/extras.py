"""The optional extras (``torch``, ``dask``): whether each is installed, one-line errors without.

``pip install -e '.[test]'`` installs everything the numba engine, the theory, the figures and
the tests need. Two extras add backends: ``torch`` (PyTorch: the standard CNNs of F9-F12, the
parity tests, the benchmark's comparison) and ``dask`` (distributed sweeps). Code that needs one
calls ``require_extra`` first, so that a user without it reads one line naming the extra and the
command that installs it, never a ``ModuleNotFoundError`` traceback.
"""

import importlib

from .errors import ScaleDetectError

#: ``{extra: (module the extra makes importable, what it is)}``.
EXTRAS = {"torch": ("torch", "PyTorch"), "dask": ("dask.distributed", "Dask distributed")}


def install_hint(extra: str) -> str:
    """The command that installs *extra* into a clone: ``pip install -e '.[torch]'``."""
    return f"pip install -e '.[{extra}]'"


def available(extra: str) -> bool:
    """True when *extra*'s module imports (an installed but broken package counts as missing)."""
    module, _ = EXTRAS[extra]
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def missing_message(extra: str, what: str, verb: str = "needs") -> str:
    """``"<what> needs the 'torch' extra (PyTorch), not installed: pip install -e '.[torch]'"``."""
    return (f"{what} {verb} the '{extra}' extra ({EXTRAS[extra][1]}), not installed: "
            f"{install_hint(extra)}")


def require_extra(extra: str, what: str) -> None:
    """Raise ``ScaleDetectError(missing_message(extra, what))`` unless *extra* is importable.

    Examples
    --------
    >>> require_extra("torch", "--arch vgg11")  # doctest: +SKIP
    ScaleDetectError: --arch vgg11 needs the 'torch' extra (PyTorch), not installed: pip install
    -e '.[torch]'
    """
    if not available(extra):
        raise ScaleDetectError(missing_message(extra, what))


def extra_of(err: BaseException | None) -> str | None:
    """The extra whose missing module raised *err*, or the error it was raised from, else None.

    An ``ImportError`` names the module it could not import (``err.name``): ``torch``,
    ``torch.nn``, ``dask.distributed``, ... belong to the extras of ``EXTRAS``. Only explicit
    causes (``raise ... from err``) are followed, not errors merely being handled meanwhile.
    """
    tops = {module.split(".")[0]: extra for extra, (module, _) in EXTRAS.items()}
    while err is not None:
        if isinstance(err, ImportError):
            top = (err.name or "").split(".")[0]
            if top in tops:
                return tops[top]
        err = err.__cause__
    return None
