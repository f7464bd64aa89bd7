"""Skipping a test for a missing extra, and the allow-list of skip reasons CI accepts.

A test that needs an optional extra skips with a reason naming it and its install command:
``torch = skip_without("torch")`` (in a test or at module level) or ``@needs("torch")``.

With ``SCALEDETECT_STRICT_SKIPS=1`` (``.ci/run`` sets it) the hooks below (a pytest plugin that
``conftest.py`` loads) turn every skip whose reason is not allowed here into a failure, so that
a skip cannot hide a test CI meant to run (e.g. a thread test skipped because numba was given
one thread). Allowed, each only where it is
true on this machine:

- ``needs the '<extra>' extra: ...`` where that extra's module really does not import;
- a reason mentioning CUDA where no CUDA device is usable (PyTorch absent or without one).
"""

import importlib
import os
import re

import pytest

from scaledetect.extras import EXTRAS, available, install_hint

STRICT_ENV = "SCALEDETECT_STRICT_SKIPS"


def reason(extra: str) -> str:
    """``"needs the 'torch' extra: pip install -e '.[torch]'"``."""
    return f"needs the '{extra}' extra: {install_hint(extra)}"


def skip_without(extra: str):
    """The extra's module (``torch``, ``dask.distributed``), or skip with ``reason(extra)``."""
    __tracebackhide__ = True  # the skip is reported at the caller's line
    return pytest.importorskip(EXTRAS[extra][0], reason=reason(extra))


def needs(extra: str):
    """Mark: skip with ``reason(extra)`` unless the extra imports."""
    return pytest.mark.skipif(not available(extra), reason=reason(extra))


def _cuda_absent() -> bool:
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return True
    return not torch.cuda.is_available()


_EXTRA = re.compile(r"needs the '(\w+)' extra")


def allowed(text: str) -> bool:
    """Whether a skip with reason *text* is expected on this machine (see the module doc)."""
    m = _EXTRA.search(text)
    if m:
        return m.group(1) in EXTRAS and not available(m.group(1))
    return "CUDA" in text and _cuda_absent()


def _reason_of(report) -> str | None:
    """The reason of a skipped test or collector report (None if it is no skip, or an xfail)."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ")


def fail_unexpected_skip(report) -> None:
    """Under ``SCALEDETECT_STRICT_SKIPS=1``, turn *report* into a failure if it is a skip whose
    reason ``allowed`` rejects (the message names the reason and this allow-list).
    """
    text = _reason_of(report)
    if text is None or os.environ.get(STRICT_ENV) != "1" or allowed(text):
        return
    report.outcome = "failed"
    report.longrepr = (f"unexpected skip ({STRICT_ENV}=1; allowed are missing extras and absent "
                       f"CUDA, see tests/skips.py): {text}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A test's setup, call or teardown report: an unexpected skip becomes a failure."""
    report = yield
    fail_unexpected_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A module's collection report (``importorskip`` at module level): likewise."""
    report = yield
    fail_unexpected_skip(report)
    return report
