"""The README's install and test commands and ``.ci/run`` stay in step (both files are read).

``.ci/run`` must first run, in a fresh virtual environment and before anything installs an
extra, the README's two commands ("Two commands" section) verbatim, the install line with
``--preset tiny`` in place of ``--preset quick`` exactly when the README says CI does so.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> tuple[str, str, str]:
    """``(install line, test line, the section's text)`` of the README's "Two commands"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands\n", 1)[1].split("\n## ", 1)[0]
    code = [line[4:] for line in section.splitlines() if line.startswith("    ")]
    return code[0], code[1], section


def _ci_lines() -> list[str]:
    """``.ci/run``'s commands, stripped, without comments and blank lines."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def test_readme_has_the_two_commands():
    install, test, _ = _readme_commands()
    assert install == "pip install -e '.[test]' && scaledetect reproduce --preset quick"
    assert test == "pytest"


def test_ci_runs_the_readme_commands_first_in_a_fresh_venv():
    install, test, section = _readme_commands()
    if "--preset tiny" in section:  # the README says CI runs the tiny preset instead
        assert "`--preset tiny` in place of `quick`" in " ".join(section.split())
        install = install.replace("--preset quick", "--preset tiny")
    lines = _ci_lines()
    i = lines.index(install)  # verbatim, alone on its line
    assert lines[i + 1] == test
    before = lines[:i]
    venv = [j for j, s in enumerate(before) if re.fullmatch(r"python -m venv (\S+)", s)]
    assert venv, "no fresh venv before the README's commands"
    path = before[venv[-1]].split()[-1].strip('"')
    assert any(s.replace('"', "") == f"source {path}/bin/activate" for s in before[venv[-1]:])
    # nothing installs anything before them, and the extras come only after
    assert not any("pip install" in s for s in before)
    first_extra = next(j for j, s in enumerate(lines) if re.search(r"pip install.*torch", s))
    assert first_extra > i + 1


def test_ci_is_strict_about_skips_and_threads():
    lines = _ci_lines()
    exports = " ".join(s for s in lines if s.startswith("export "))
    assert "NUMBA_NUM_THREADS=2" in exports and "SCALEDETECT_STRICT_SKIPS=1" in exports
    assert "set -euo pipefail" in lines
    python_pass = [s for s in lines if s.startswith("NUMBA_DISABLE_JIT=1 pytest")]
    assert python_pass and "tests/test_kernels_python.py" in python_pass[0]


def test_session_has_a_per_test_timeout(request):
    # pyproject.toml: 10 minutes a test, by a watchdog thread (see the next test)
    assert request.config.pluginmanager.hasplugin("timeout")
    assert float(request.config.getini("timeout")) == 600
    assert request.config.getini("timeout_method") == "thread"


HANG = """
import numpy as np
import pytest

from scaledetect._kernels.conv import _barrier

_barrier(np.zeros(2, np.int64), 1)  # compiled (or loaded) before the test's clock starts


@pytest.mark.timeout(3)
def test_hang():
    _barrier(np.zeros(2, np.int64), 2)  # waits in compiled code for a second thread: forever
"""


def test_a_hang_in_compiled_code_fails_the_run(pytester):
    # the barrier's spin loop never returns to Python, so only the watchdog thread can end it
    pytester.makepyfile(test_hang=HANG)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "timeout_method=thread",
                                           timeout=120)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*Timeout*"])
