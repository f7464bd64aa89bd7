"""``scaledetect reproduce`` end to end on the tiny preset: figures, CSV and report."""

import csv
import math
import re

import pytest

from scaledetect.cli import main
from scaledetect.experiments import kind_of
from scaledetect.studies import FIGURES, plans


def all_runs(name: str) -> list:
    """Every run of a preset, each once."""
    return list({r.key: r for plan in plans(name).values() for r in plan.runs()}.values())


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    return out


def test_every_figure_file_is_written(reproduced):
    for fig_id in FIGURES:
        for ext in ("png", "pdf", "json"):
            assert (reproduced / f"{fig_id}.{ext}").stat().st_size > 0, (fig_id, ext)


def test_csv_has_every_run_and_layer(reproduced):
    rows = list(csv.DictReader(open(reproduced / "results.csv")))
    runs = all_runs("tiny")
    assert {r["key"] for r in rows} == {r.key for r in runs}
    # every run has rows for layers 0..K and out; train runs twice (init and trained)
    numba = [r for r in runs if kind_of(r).backend == "numba"]
    expected = sum((r.net.depth + 2) * (2 if kind_of(r).trains else 1) for r in numba)
    assert sum(row["key"] in {r.key for r in numba} for row in rows) == expected
    # deep runs (standard CNNs): every node at init, trained and shuffled, named, depth 0 .. 1
    for r in (r for r in runs if kind_of(r).backend == "torch"):
        states = {s: [row for row in rows if row["key"] == r.key and row["state"] == s]
                  for s in ("init", "trained", "shuffled")}
        n = len(states["init"])
        assert n > 2 and all(len(v) == n for v in states.values())
        assert [row["name"] for row in states["trained"]][0] == "input"
        assert float(states["trained"][0]["rel_depth"]) == 0
        assert float(states["trained"][-1]["rel_depth"]) == 1


def _table(md: str, title: str, which: int = 0) -> list[list[str]]:
    """Rows of the *which*-th table of a section (header and rule left out)."""
    section = md.split(f"## {title}")[1].split("\n## ")[0]
    tables = [t for t in section.split("\n\n") if t.startswith("|")]
    header, _, *lines = tables[which].splitlines()
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", ln.strip()[1:-1])]
             for ln in [header, *lines]]
    # an unescaped | inside a cell (|dev|, |log10 ratio|) would add columns to its row
    assert all(len(row) == len(cells[0]) for row in cells), (title, which)
    return cells[1:]


def test_report_tables_are_present_and_numeric(reproduced):
    md = (reproduced / "report.md").read_text()
    rows = _table(md, "Theory vs simulation (idealized pooling nets)")
    assert len(rows) == len(plans("tiny")["theory_vs_mc"].theory)
    # one row per activation of the registry, and the approximate ones layer by layer
    from scaledetect.activations import names

    assert {r[0].rsplit(", ", 1)[1] for r in rows} >= set(names())
    approximate = [r[0] for r in rows if r[6] == "approximate"]
    per_layer = _table(md, "Theory vs simulation (idealized pooling nets)", 1)
    assert [r[0] for r in per_layer] == approximate and approximate
    for row in rows:
        numbers = [float(c) for c in row[2:6]]
        assert all(math.isfinite(x) and x >= 0 for x in numbers), row
        if row[6] == "exact":  # theory and simulation agree within a few standard errors
            assert numbers[0] < 4 and numbers[2] < 4, row
    exps = _table(md, "Scaling exponents")
    assert exps and all(math.isfinite(float(r[3])) for r in exps)
    claims = _table(md, "Trained networks: which claims reproduce")
    assert len(claims) == 3 and all(r[1] in ("yes", "no", "inconclusive") for r in claims)
    assert all(re.search(r"\d+/\d+ relu seeds learned", r[2]) for r in claims)
    seeds = _table(md, "Training runs, seed by seed")
    # the claims' runs: the F2/F5 recipe nets (not the F = 4, noise, width or xi studies)
    claims_plan = plans("tiny")["trained_claims"]
    assert len(seeds) == len(claims_plan.relu) + len(claims_plan.tanh) == 4
    for _act, _seed, test, learned, fit, epochs, _ in seeds:
        assert learned == ("yes" if float(test) < 0.1 else "no")
        assert fit == "n/a" or 1 <= int(fit) <= int(epochs)


def test_html_report_is_self_contained(reproduced):
    page = (reproduced / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(FIGURES)
    assert "src=\"http" not in page and "src='http" not in page and "<script" not in page


def test_html_report_is_readable(reproduced):
    # a contents list linking every section, symbols rendered, no RST markup or dict reprs
    page = (reproduced / "report.html").read_text()
    sections = re.findall(r'<h2 id="(s\d+)">', page)
    assert len(sections) >= 5 and all(f'href="#{s}"' in page for s in sections)
    assert "V<sub>k</sub> ∝ s<sup>e k</sup>" in page and "``" not in page
    assert "{'dim'" not in page and "'act':" not in page
    assert "<th>setting</th><th>relu</th><th>tanh</th>" in page


def test_second_run_redoes_nothing(reproduced, capsys):
    assert main(["reproduce", "--preset", "tiny", "--out", str(reproduced), "--no-progress"]) == 0
    n = len(all_runs("tiny"))
    assert f"{n} runs ({n} cached)" in capsys.readouterr().out


def test_rerun_computes_one_figure_again(reproduced, capsys):
    runs = {r.key for r in plans("tiny")["fig8_maxent"].runs()}
    before = {k: (reproduced / ".cache" / f"{k}.json").stat().st_mtime_ns for k in runs}
    argv = ["reproduce", "--preset", "tiny", "--out", str(reproduced), "--no-progress"]
    assert main(argv + ["--rerun", "fig8_maxent"]) == 0
    n, k = len(all_runs("tiny")), len(runs)
    assert f"{n} runs ({n - k} cached, {k} to run again)" in capsys.readouterr().out
    assert all((reproduced / ".cache" / f"{key}.json").stat().st_mtime_ns > before[key]
               for key in runs)


def test_figure_by_figure(tmp_path, capsys):
    """``--figure`` computes that figure's runs only; the others are not drawn until theirs are."""
    f4 = {r.key for r in plans("tiny")["fig4_unstrided"].runs()}
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path), "--no-progress"]
    assert main(argv + ["--figure", "fig4_unstrided"]) == 0
    out = capsys.readouterr().out
    assert f"{len(f4)} runs of {len(all_runs('tiny'))} (0 cached)" in out
    assert {p.stem for p in (tmp_path / ".cache").glob("*.json")} == f4
    assert (tmp_path / "fig4_unstrided.png").stat().st_size > 0
    assert not (tmp_path / "fig3_strided.png").exists()
    assert "fig3_strided not drawn" in out


def test_backend_splits_numba_and_torch_runs(tmp_path, capsys):
    """``--backend numba`` leaves the standard CNNs out and draws F12 from its numba runs;
    ``--backend torch`` then computes only those."""
    plan = plans("tiny")["fig12_noise"]
    runs, deep = plan.runs(), {r.key for r in plan.deep}
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path), "--no-progress",
            "--figure", "fig12_noise"]
    assert main(argv + ["--backend", "numba"]) == 0
    cached = {p.stem for p in (tmp_path / ".cache").glob("*.json")}
    assert cached == {r.key for r in runs} - deep
    assert (tmp_path / "fig12_noise.png").stat().st_size > 0
    if not deep:  # without PyTorch there is nothing for the torch backend
        return
    capsys.readouterr()
    assert main(argv + ["--backend", "torch"]) == 0
    assert f"{len(deep)} runs of" in capsys.readouterr().out
    assert {p.stem for p in (tmp_path / ".cache").glob("*.json")} == cached | deep
