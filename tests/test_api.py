"""The public surface: ``__all__`` keeps the documented names, every documented command exists
and errors cleanly."""

import importlib
import inspect
import subprocess
import sys

import scaledetect
from scaledetect.cli import COMMANDS, build_parser

#: The public API of 0.1.0 (README, SPEC): names may be added, none removed or changed in kind.
CLASSES = {"CNN", "NetSpec", "Perturbation", "ScaleDetectError", "Sensitivities", "TaskSpec",
           "TrainSpec"}
FUNCTIONS = {"diffeo", "enumerate_configs", "init_cnn", "labels", "load_model", "matched_noise",
             "measure", "nngp", "pooling_net", "predict", "render", "sample", "save_model",
             "shift", "train"}


def test_all_names_resolve_to_documented_objects_of_the_package():
    # every name once; the 0.1.0 names all present, classes still classes, functions still
    # functions; each is the very object its defining scaledetect module holds under that name
    # (not a stale copy or a shadowing alias) and has a docstring
    names = scaledetect.__all__
    assert len(names) == len(set(names))
    assert CLASSES | FUNCTIONS <= set(names)
    for name in names:
        obj = getattr(scaledetect, name)
        if name in CLASSES:
            assert isinstance(obj, type), name
        if name in FUNCTIONS:
            assert inspect.isfunction(obj), name
        module = obj.__module__
        assert module.startswith("scaledetect."), (name, module)
        assert getattr(importlib.import_module(module), obj.__name__) is obj, name
        assert obj.__name__ == name and (obj.__doc__ or "").strip(), name
    assert issubclass(scaledetect.ScaleDetectError, ValueError)  # SPEC section 2


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
