"""The public surface: ``__all__`` resolves, every documented command exists and errors cleanly."""

import subprocess
import sys

import scaledetect
from scaledetect.cli import COMMANDS, build_parser


def test_all_names_resolve():
    assert sorted(scaledetect.__all__) == sorted(set(scaledetect.__all__))
    for name in scaledetect.__all__:
        assert getattr(scaledetect, name) is not None, name


def test_every_command_of_the_spec_is_built():
    # SPEC section 7's commands; the dispatcher skips missing modules, so check none is missing
    assert set(COMMANDS) == {"data", "theory", "sensitivity", "train", "predict", "reproduce",
                             "bench", "spectrum"}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


def test_console_error_is_one_line_and_status_2():
    proc = subprocess.run([sys.executable, "-m", "scaledetect.cli", "theory", "--act", "swish"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "act" in lines[0] and "relu" in lines[0]
