"""Local Sphinx extension of the scaledetect docs.

- ``.. scaledetect-cli::`` renders every sub-command of ``scaledetect.cli.build_parser()``: its
  description, usage and one entry per option with its help, default and choices;
- ``.. scaledetect-api-index::`` tabulates ``scaledetect.__all__`` with the first line of each
  docstring and a link to where the object is documented (its subpackage);
- at ``builder-inited`` the tour ``analysis/tour.py`` (jupytext percent cells) is executed cell by
  cell and written with its printed output and plots to ``generated/tour.md``.
"""

import argparse
import contextlib
import importlib
import io
import os
import re
import sys
import time
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
SUBPACKAGES = ("tasks", "perturb", "training", "nn", "sensitivity", "diagnostics", "theory",
               "experiments", "plots", "studies")
# Docstrings cite sections of the project's internal specification ("SPEC section 3"); readers
# of these pages do not have it: each section is rendered as a link to the page that covers it.
SPEC_PAGES = {"2": "tasks", "3": "perturbations", "4": "theory", "5": "sensitivities",
              "6": "theory", "7": "cli", "8": "training"}
SPEC_REF = re.compile(r"SPEC (?:sections? |§ ?)?(\d+)(?: and (\d+))?")


def spec_links(text: str, role: str = "rst") -> str:
    """Replace "SPEC section N" (and "SPEC sections N and M", "SPEC §N") by links to the pages."""
    def link(num):
        page = SPEC_PAGES.get(num)
        if page is None:
            return "the documentation"
        return f":doc:`/{page}`" if role == "rst" else f"{{doc}}`/{page}`"

    def repl(m):
        return link(m[1]) + (f" and {link(m[2])}" if m[2] else "")

    text = text.replace("the recipe of SPEC section 8", "the SPEC-8-RECIPE")
    text = SPEC_REF.sub(repl, text).replace("SPEC-8-RECIPE", link("8").replace(
        "`/training`", "`training recipe </training>`"))
    return text.replace("SPEC", "the documented")


def _docstring_spec_links(app, what, name, obj, options, lines) -> None:
    """autodoc-process-docstring: rewrite SPEC references in place."""
    lines[:] = [spec_links(line) for line in lines]


def _rst(directive: SphinxDirective, lines: list[str]) -> list[nodes.Node]:
    """Parse generated reStructuredText *lines* (use the directives from ``.rst`` pages)."""
    container = nodes.section()
    container.document = directive.state.document
    directive.state.nested_parse(StringList(lines, "<scaledetect-docs>"), 0, container,
                                 match_titles=True)
    return container.children


def _option_lines(action: argparse.Action) -> list[str]:
    """One definition-list entry for an argparse action."""
    if action.help == argparse.SUPPRESS:
        return []
    names = ", ".join(action.option_strings) or action.dest
    if action.nargs != 0 and action.option_strings:
        names += f" {action.metavar or action.dest.upper()}"
    text = (action.help or "").replace("%(default)s", str(action.default)).strip()
    if text and text[-1] not in ".)":
        text += "."
    if action.choices is not None:
        text += " Choices: " + ", ".join(f"``{c}``" for c in action.choices) + "."
    if action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0 \
            and "default" not in text.lower():
        text += f" Default: ``{action.default}``."
    body = text.replace("*", r"\*").replace("`", "'").replace("''", "``") or "(no help)"
    return [f"``{names}``", f"   {body}", ""]


class CliDirective(SphinxDirective):
    """Render each sub-command of the ``scaledetect`` parser as a section."""

    def run(self) -> list[nodes.Node]:
        """Sections generated from ``build_parser()``."""
        from scaledetect.cli import build_parser

        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        lines = []
        for name, p in sub.choices.items():
            title = f"scaledetect {name}"
            lines += [title, "-" * len(title), "", p.description or "", "", ".. code-block:: text",
                      ""]
            lines += ["   " + u for u in p.format_usage().strip().splitlines()] + [""]
            for group in p._action_groups:
                actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                           and not isinstance(a, argparse._HelpAction)]
                if not actions:
                    continue
                lines += [f"**{group.title}**", ""]
                for action in actions:
                    lines += _option_lines(action)
        return _rst(self, lines)


class ApiIndexDirective(SphinxDirective):
    """A table of ``scaledetect.__all__``: name (linked to its home) and docstring summary."""

    def run(self) -> list[nodes.Node]:
        """The table, one row per public name."""
        import scaledetect

        homes = {}
        for pkg in SUBPACKAGES:
            mod = importlib.import_module(f"scaledetect.{pkg}")
            homes.update({n: f"scaledetect.{pkg}" for n in getattr(mod, "__all__", ())
                          if n not in homes})
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 75", "",
                 "   * - name", "     - what it is"]
        for name in scaledetect.__all__:
            obj = getattr(scaledetect, name)
            home = homes.get(name, "scaledetect")
            summary = spec_links((obj.__doc__ or "").strip().splitlines()[0]) if obj.__doc__ else ""
            lines += [f"   * - :py:obj:`scaledetect.{name} <{home}.{name}>`", f"     - {summary}"]
        return _rst(self, lines)


def _cell_markdown(cell, outputs: str) -> list[str]:
    """Markdown for one executed tour cell: the code, then what it printed."""
    if cell.cell_type == "markdown":
        return [spec_links(cell.source, role="myst"), ""]
    out = ["```python", cell.source, "```", ""]
    if outputs.strip():
        out += ["```text", outputs.rstrip(), "```", ""]
    return out


def run_tour(app) -> None:
    """Execute ``analysis/tour.py`` cell by cell; write ``generated/tour.md`` with its output."""
    import jupytext
    import matplotlib

    matplotlib.use("Agg")
    gen = Path(app.srcdir) / "generated"
    plots = gen / "tour"
    plots.mkdir(parents=True, exist_ok=True)
    for old in plots.iterdir():  # a fresh run: every plot listed is one this build made
        old.unlink()
    notebook = jupytext.read(ROOT / "analysis" / "tour.py")
    namespace = {"__name__": "__main__", "__file__": str(ROOT / "analysis" / "tour.py")}
    md, start = [], time.perf_counter()
    saved = sys.argv, os.environ.get("SCALEDETECT_TOUR_OUT")
    sys.argv, os.environ["SCALEDETECT_TOUR_OUT"] = ["tour.py"], str(plots)
    try:
        for cell in notebook.cells:
            buffer = io.StringIO()
            if cell.cell_type == "code":
                with contextlib.redirect_stdout(buffer):
                    exec(compile(cell.source, "tour.py", "exec"), namespace)  # noqa: S102
            md += _cell_markdown(cell, buffer.getvalue())
            md += [f"![{p.stem}](tour/{p.name})\n" for p in _new_plots(plots, namespace)]
    finally:
        sys.argv = saved[0]
        if saved[1] is None:
            os.environ.pop("SCALEDETECT_TOUR_OUT", None)
        else:
            os.environ["SCALEDETECT_TOUR_OUT"] = saved[1]
    header = ["<!-- generated by docs/_ext/scaledetect_docs.py from analysis/tour.py: "
              "do not edit -->", "",
              "*Executed while these pages were built: every number and plot below is what "
              "this version of scaledetect computes.*", ""]
    # the tour's own title comes first, then the note on how it was produced
    first, rest = md[0].split("\n", 1)
    _write_if_changed(gen / "tour.md", "\n".join([first, "", *header, rest, *md[1:]]))
    LOG.info("tour executed in %.1f s", time.perf_counter() - start)


def write_gallery(app) -> None:
    """Write ``generated/gallery.md``: every figure of ``scaledetect.studies`` with its caption."""
    from scaledetect.studies import FIGURES, STUDIES

    md = ["<!-- generated by docs/_ext/scaledetect_docs.py from scaledetect.studies: do not edit "
          "-->", "", "# Figure gallery", "",
          "The figures of `scaledetect reproduce --preset quick`, as committed in `figures/` "
          "(each also as PDF, with the plotted numbers in JSON). `python analysis/<id>.py "
          "--quick` redraws one of them; `figures/report.html` sets the theory next to the "
          "simulations.", ""]
    for fig_id in FIGURES:
        title = fig_id.split("_", 1)[0].replace("fig", "F")
        md += [f"## {title}: {fig_id}", "", f"![{fig_id}](../../figures/{fig_id}.png)", "",
               STUDIES[fig_id].caption, ""]
    gen = Path(app.srcdir) / "generated"
    gen.mkdir(exist_ok=True)
    _write_if_changed(gen / "gallery.md", "\n".join(md))


def _new_plots(plots: Path, namespace: dict) -> list[Path]:
    """PNG files the tour wrote since the last call (tracked in the namespace)."""
    seen = namespace.setdefault("_docs_seen_plots", set())
    new = sorted(p for p in plots.glob("*.png") if p.name not in seen)
    seen.update(p.name for p in new)
    return new


def _write_if_changed(path: Path, text: str) -> None:
    """Write *text* unless the file already holds it (keeps incremental builds incremental)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app):
    """Register the directives and the tour run."""
    app.add_directive("scaledetect-cli", CliDirective)
    app.add_directive("scaledetect-api-index", ApiIndexDirective)
    app.connect("builder-inited", run_tour)
    app.connect("builder-inited", write_gallery)
    app.connect("autodoc-process-docstring", _docstring_spec_links)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
