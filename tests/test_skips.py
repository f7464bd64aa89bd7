"""The allow-list of skip reasons (tests/skips.py), run on small pytest sessions (pytester).

Under SCALEDETECT_STRICT_SKIPS=1 a skip must name a missing extra that really is missing here, or
CUDA where no CUDA device is usable; every other skip, at setup, in the test or of a whole
module, fails. Without the variable every skip stays a skip (a developer's machine with one
core may skip the thread tests).
"""

from skips import STRICT_ENV, reason

from scaledetect.extras import available

# Imported here, before any session: pytester's in-process sessions restore sys.modules when
# they end, and a torch first imported inside one (by the allow-list) cannot be imported twice.
MISSING = (not available("torch")) + (not available("dask"))
SESSION = '''
import pytest
from skips import reason

def test_passes():
    pass

def test_threads():
    pytest.skip("NUMBA_NUM_THREADS=1: no second thread to compare with")

@pytest.mark.skipif(True, reason="needs /proc")
def test_proc():
    pass

def test_torch():
    pytest.skip(reason("torch"))

def test_dask():
    pytest.skip(reason("dask"))

def test_other_extra():
    pytest.skip("needs the 'jax' extra: pip install jax")

@pytest.mark.skipif(True, reason="needs a CUDA device")
def test_cuda():
    pass

@pytest.mark.xfail(reason="known", strict=False)
def test_xfail():
    assert False
'''


def test_reason_names_the_extra_and_its_install_command():
    assert reason("torch") == "needs the 'torch' extra: pip install -e '.[torch]'"
    assert reason("dask") == "needs the 'dask' extra: pip install -e '.[dask]'"


def test_strict_session_fails_unexpected_skips(pytester, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    pytester.makepyfile(test_session=SESSION)
    result = pytester.runpytest("-p", "skips", "-rs")
    # allowed: CUDA (no device on a machine without torch or without CUDA; always so in CI),
    # each extra where it does not import; the threads (call) and /proc (setup) skips and
    # the unknown extra are not
    result.assert_outcomes(passed=1, skipped=1 + MISSING, failed=4 - MISSING,
                           errors=1, xfailed=1)
    result.stdout.fnmatch_lines(["*unexpected skip*needs /proc",  # errors are listed first
                                 "*unexpected skip*NUMBA_NUM_THREADS=1*",
                                 "*unexpected skip*needs the 'jax' extra*"])


def test_strict_session_fails_unexpected_module_skip(pytester, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    pytester.makepyfile(test_module='import pytest\npytest.importorskip("no_such_module_x")\n'
                                    'def test_a():\n    pass\n')
    result = pytester.runpytest("-p", "skips")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unexpected skip*could not import 'no_such_module_x'*"])


def test_without_strict_every_skip_stays_a_skip(pytester, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "0")  # only "1" is strict
    pytester.makepyfile(test_session=SESSION)
    result = pytester.runpytest("-p", "skips")
    result.assert_outcomes(passed=1, skipped=6, xfailed=1)
