"""The layout shows the architecture: layers import downwards only, kinds meet through a registry.

The import graph is read with ``ast`` (every import statement, lazy ones inside functions too),
as ``experiments.version`` reads it to hash a run kind's code.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scaledetect"

#: Rank of each top-level module or subpackage: a module may import its own rank or lower ones
#: (and no two units may import each other: tests/test_import_graph.py).
LAYERS = {
    "errors": 0, "_random": 0, "io": 0, "_gaussian": 0, "_memory": 0, "extras": 0,
    "activations": 0,
    "_kernels": 1, "engine": 1,
    "tasks": 2,
    "perturb": 3,
    "training": 4,
    "nn": 5, "sensitivity": 5, "diagnostics": 5,
    "theory": 6, "deep": 6,
    "experiments": 7,
    "plots": 8,
    "studies": 9,
    "commands": 10, "bench": 10, "cli": 10, "__init__": 10, "__main__": 10,
}


def _unit(path: Path) -> str:
    """Top-level unit of a file: ``nn`` for scaledetect/nn/model.py, ``cli`` for cli.py."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> set[str]:
    """Top-level units of scaledetect imported anywhere in *path* (lazy imports included)."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = rel[:-1] if path.name != "__init__.py" else rel[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            names = [name] if node.module else [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for n in names:
            parts = n.split(".")
            if parts[0] == "scaledetect" and len(parts) > 1:
                out.add(parts[1])
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        graph.setdefault(unit, set()).update(_imports(path) - {unit})
    return graph


def test_every_unit_has_a_layer():
    assert set(_graph()) <= set(LAYERS), set(_graph()) - set(LAYERS)


def test_imports_go_down_the_layers_only():
    graph = _graph()
    upward = sorted((a, b) for a, deps in graph.items() for b in deps
                    if LAYERS[b] > LAYERS[a])
    assert upward == [], "imports from a lower layer into a higher one: " + ", ".join(
        f"{a} -> {b}" for a, b in upward)


def test_run_kinds_are_never_compared_as_strings():
    # capabilities meet through the registry (experiments.kinds), not `kind == "train"` tests
    from scaledetect.experiments import KINDS

    names = "|".join(KINDS)
    pattern = re.compile(rf"(?<!dtype)\.kind\s*[!=]=|\bkind\s*[!=]=\s*[\"'](?:{names})[\"']|"
                         rf"[\"'](?:{names})[\"']\s*[!=]=\s*\w*\.?kind\b")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in PACKAGE.rglob("*.py")
            if p.name != "kinds.py"
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line) and "dtype" not in line]  # numpy's dtype.kind is not ours
    assert hits == []


def test_tests_use_the_public_theory_api():
    private = re.compile(r"from scaledetect\.theory[\w.]* import[^\n]*\b_\w+|"
                         r"scaledetect\.theory\.\w+\._\w+|\bexact\._\w+")
    hits = [p.name for p in (ROOT / "tests").glob("test_*.py") if private.search(p.read_text())]
    assert hits == []


#: A library function longer than this (its def to its last line, docstring included) is a class
#: or a few functions waiting to be named.
MAX_FUNCTION_LINES = 60


def test_library_functions_fit_on_a_screen():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_report_renders_and_the_model_module_holds_the_cnn():
    report = PACKAGE / "experiments" / "report.py"
    assert len(report.read_text().splitlines()) < 250
    tree = ast.parse((PACKAGE / "nn" / "model.py").read_text())
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert classes == {"CNN"}, classes  # the engine, its buffers and the pooling net live apart
