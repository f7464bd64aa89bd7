"""The package's import graph: no circles, diagnostics import no backend, numba runs hash no torch.

The graph is read from the sources with ``ast`` the way ``experiments/version.py`` reads it: every
``import`` and ``from ... import`` anywhere in a file (lazy imports inside functions included),
``from pkg import name`` meaning ``pkg/name.py`` when that module exists and ``pkg`` otherwise.
"""

import ast
from pathlib import Path

import scaledetect
from scaledetect.experiments import KINDS

PACKAGE = Path(scaledetect.__file__).resolve().parent
NUMBA_KINDS = ("theory", "nngp", "pooling", "init", "train")


def _exists(module: str) -> bool:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return (base / "__init__.py").exists() or base.with_suffix(".py").exists()


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__")


def _imports(path: Path) -> set[str]:
    """Every module *path* imports (any package; relative imports resolved)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1]) if node.level else ""
            mod = ".".join(p for p in (base, node.module or "") if p)
            found |= {f"{mod}.{a.name}" if _exists(f"{mod}.{a.name}") else mod
                      for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the scaledetect modules it imports."""
    return {_module(p): {m for m in _imports(p) if m.split(".")[0] == "scaledetect" and _exists(m)}
            for p in PACKAGE.rglob("*.py")}


def _unit(module: str) -> str:
    """``scaledetect.nn.model`` -> ``nn``; a top-level module is its own unit; the root ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index, low, stack, out = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while not comp or v not in comp:
                comp.add(stack.pop())
            if len(comp) > 1:
                out.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def _units() -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for mod, deps in _graph().items():
        units.setdefault(_unit(mod), set()).update(_unit(d) for d in deps if _unit(d) != _unit(mod))
    return units


def test_cycle_finder_finds_a_circle_and_only_circles():
    # a -> b -> c -> a is one circle; d hangs off it; e -> e is no circle between two nodes
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_that_imports_it_back():
    assert _cycles(_graph()) == []


def test_no_import_circle_between_subpackages():
    assert _cycles(_units()) == []


def test_diagnostics_import_no_backend():
    # the rules live in diagnostics; the numba CNN (nn) and PyTorch (deep) adapt to them
    for path in (PACKAGE / "diagnostics").glob("*.py"):
        bad = {m for m in _imports(path)
               if m.split(".")[0] == "torch"
               or m.startswith(("scaledetect.nn", "scaledetect.deep"))}
        assert bad == set(), path.name
    assert _units()["diagnostics"] <= {"errors", "_random"}


def _imports_torch(path: Path) -> bool:
    return any(m.split(".")[0] == "torch" for m in _imports(path))


def test_the_code_version_of_a_numba_run_kind_hashes_no_torch_file():
    deep = PACKAGE / "deep"
    for kind in NUMBA_KINDS:
        files = KINDS[kind].source_files()
        assert not [p for p in files if deep in p.parents], kind
        assert not [p for p in files if _imports_torch(p)], kind
    # the checks can fail: the PyTorch kind's closure has both
    files = KINDS["deep"].source_files()
    assert deep / "weights.py" in files and any(_imports_torch(p) for p in files)


def test_numba_training_hashes_the_code_of_its_channel_sum_and_spectra():
    # runner.execute stores the channel-summed net's sensitivities and the filter spectra of a
    # trained numba CNN: the rule and the CNN's backend are part of the kind's code version
    files = {p.relative_to(PACKAGE).as_posix() for p in KINDS["train"].source_files()}
    assert {"diagnostics/channel_sum.py", "diagnostics/spectrum.py", "diagnostics/weights.py",
            "nn/weights.py"} <= files
    assert "diagnostics/shuffle.py" not in files  # only PyTorch runs shuffle channels
