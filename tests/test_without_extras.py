"""Without the optional extras every command says in one line what is missing and how to install it.

The commands run in a child Python in which ``torch`` and ``dask`` cannot be imported
(``sys.modules[name] = None`` makes ``import name`` raise ``ModuleNotFoundError``): in the
minimal install (``pip install -e '.[test]'``) they are absent anyway, with every extra they are
hidden, so both installs run the same checks. Expected: exit status 2 and exactly one line on
stderr naming the extra and ``pip install -e '.[<extra>]'`` (never a traceback), nothing written;
``reproduce`` and the figure scripts draw what they can and say in one line what they left out.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scaledetect import cli
from scaledetect.commands import theory as theory_command
from scaledetect.extras import extra_of, missing_message

ROOT = Path(__file__).resolve().parents[1]
HIDE = "import sys\nsys.modules['torch'] = sys.modules['dask'] = None\n"
TORCH = missing_message("torch", "{}")  # "{} needs the 'torch' extra (PyTorch), not ..."
NOTE = ("the standard CNNs of {} need the 'torch' extra (PyTorch), not installed: "
        "pip install -e '.[torch]'; drawn without them")


def _hidden(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -c HIDE + <the CLI> args`` in *cwd*."""
    code = HIDE + "from scaledetect.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def deep_model(tmp_path_factory) -> Path:
    """A deep (``train --arch``) model file: its config is all the commands read before torch."""
    path = tmp_path_factory.mktemp("deep") / "deep.npz"
    np.savez(path, config=np.array(json.dumps({"format": "scaledetect-arch-model", "version": 1,
                                               "arch": "lenet", "width_factor": 1, "size": 28})))
    return path


def _one_line_error(r: subprocess.CompletedProcess, command: str, message: str) -> None:
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"scaledetect {command}: error: {message}\n"
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_train_arch(tmp_path):
    r = _hidden(["train", "--arch", "vgg11", "--out", "x"], tmp_path)
    _one_line_error(r, "train", TORCH.format("--arch vgg11"))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("command", [
    ["sensitivity", "--dim", "2", "--size", "28", "--probe", "256"], ["spectrum"]],
    ids=["sensitivity", "spectrum"])
def test_deep_model_commands(tmp_path, deep_model, command):
    r = _hidden([*command, "--model", str(deep_model)], tmp_path)
    _one_line_error(r, command[0], TORCH.format(f"model {deep_model} (a PyTorch model)"))


@pytest.mark.parametrize("flags,message", [
    (["--backend", "torch"], TORCH.format("--backend torch")),
    (["--executor", "dask"], missing_message("dask", "--executor dask"))], ids=["torch", "dask"])
def test_reproduce_refuses_what_needs_an_extra(tmp_path, flags, message):
    r = _hidden(["reproduce", "--preset", "tiny", *flags, "--out", "out"], tmp_path)
    _one_line_error(r, "reproduce", message)
    assert not (tmp_path / "out").exists()


def test_reproduce_names_what_it_leaves_out(tmp_path):
    # F1 only (no runs, seconds): the note comes once, F9 and F10 are drawn empty
    r = _hidden(["reproduce", "--preset", "tiny", "--figure", "fig1_gallery", "--out", "out",
                 "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    note = "reproduce: " + NOTE.format(
        "fig9_architectures, fig10_layers, fig11_spectra, fig12_noise")
    assert r.stdout.splitlines().count(note) == 1
    assert "Traceback" not in r.stderr
    data = json.loads((tmp_path / "out" / "fig9_architectures.json").read_text())
    assert data["architectures"] == []


def test_figure_script_says_what_is_missing(tmp_path):
    fig = "fig9_architectures"  # every script runs plots.make, which prints the note
    code = HIDE + f"import runpy\nrunpy.run_path({str(ROOT / 'analysis' / fig)!r} + '.py', " \
                  "run_name='__main__')"
    r = subprocess.run([sys.executable, "-c", code, "--preset", "tiny", "--out", "f"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == NOTE.format(fig) + "\n"
    assert r.stdout.split() == [f"f/{fig}.png", f"f/{fig}.pdf", f"f/{fig}.json"]


@pytest.mark.parametrize("missing", [
    ModuleNotFoundError("No module named 'torch'", name="torch"),
    ModuleNotFoundError("No module named 'torch.nn'", name="torch.nn")], ids=["torch", "torch.nn"])
def test_any_import_of_a_missing_extra_is_one_line(monkeypatch, capsys, missing):
    # a code path that imports an extra without asking first still ends in one line, exit 2
    def run(args):
        raise missing

    monkeypatch.setattr(theory_command, "run", run)
    assert cli.main(["theory"]) == 2
    assert capsys.readouterr().err == f"scaledetect theory: error: {TORCH.format('theory')}\n"


def test_import_errors_of_other_modules_are_not_hidden(monkeypatch):
    def run(args):
        raise ModuleNotFoundError("No module named 'torchvision'", name="torchvision")

    monkeypatch.setattr(theory_command, "run", run)
    with pytest.raises(ModuleNotFoundError, match="torchvision"):
        cli.main(["theory"])


def test_extra_of_follows_the_cause():
    # the runner re-raises dask's import error with a message of its own, "from" the original
    try:
        try:
            raise ModuleNotFoundError("No module named 'dask'", name="dask.distributed")
        except ImportError as err:
            raise ImportError("executor=dask needs the 'dask' extra") from err
    except ImportError as outer:
        assert extra_of(outer) == "dask"
    assert extra_of(ImportError("no name")) is None
    try:  # an import error while one of torch is being handled, not raised from it
        try:
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        except ImportError:
            raise ImportError("No module named 'yaml'", name="yaml")  # noqa: B904
    except ImportError as other:
        assert extra_of(other) is None
    assert extra_of(ValueError("x")) is None
