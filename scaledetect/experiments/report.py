"""Theory-vs-simulation report: ``report.md`` and a self-contained ``report.html``.

The report is a list of ``Section`` s written by the studies (``scaledetect.studies``), each with
paragraphs, ``Table`` s and ``Claim`` rows (a claim's verdict comes from ``experiments.stats``);
this module only renders them. Nothing in the text is typed in by hand.
"""

import base64
import html
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_path


@dataclass(frozen=True)
class Claim:
    """A claim of the paper tested on the runs: ``verdict`` is ``yes``, ``no`` or
    ``inconclusive`` (``stats.verdict``); ``evidence`` says which numbers decide it.
    """

    text: str
    verdict: str
    evidence: str


@dataclass(frozen=True)
class Table:
    """A table: column names and rows of cells (numbers, strings, bools, None)."""

    header: tuple
    rows: tuple


@dataclass(frozen=True)
class Section:
    """A part of the report: a heading, paragraphs, tables and claims (in that order).

    Consecutive sections with the same heading are rendered as one, their claims in one table.
    """

    heading: str
    paragraphs: tuple = ()
    tables: tuple = ()
    claims: tuple = ()


CLAIM_HEADER = ("claim", "reproduced", "evidence")


def _fmt(c) -> str:
    if isinstance(c, bool):
        return "yes" if c else "no"
    if isinstance(c, float):
        return "inf" if math.isinf(c) else f"{c:.3g}"
    return "n/a" if c is None else str(c)


def _table(t: Table) -> tuple:
    return ("table", list(t.header), [[_fmt(c) for c in row] for row in t.rows])


def _merged(sections: list[Section]) -> list[Section]:
    """Consecutive sections with one heading merged (paragraphs, tables, claims concatenated)."""
    out: list[Section] = []
    for s in sections:
        if out and out[-1].heading == s.heading:
            last = out[-1]
            out[-1] = Section(s.heading, last.paragraphs + s.paragraphs, last.tables + s.tables,
                              last.claims + s.claims)
        else:
            out.append(s)
    return out


def build(sections: list[Section], figures: list[tuple[Path, str]], meta: dict) -> list[tuple]:
    """The report as blocks: ``("title", text)``, ``("h", text)``, ``("p", text)``,
    ``("table", header, rows)``, ``("img", path, caption)``. Text may use the plain notation
    ``D_k``, ``s^(e k)``, ``+-``, ``xi``; the HTML renders it as symbols (``math_html``).
    """
    blocks: list[tuple] = [("title", "scaledetect report"), ("h", "This run"),
                           _table(Table(("setting", "value"), tuple(meta.items())))]
    for s in _merged(sections):
        blocks.append(("h", s.heading))
        blocks += [("p", p) for p in s.paragraphs]
        blocks += [_table(t) for t in s.tables]
        if s.claims:
            blocks.append(_table(Table(CLAIM_HEADER, tuple((c.text, c.verdict, c.evidence)
                                                           for c in s.claims))))
    if figures:
        blocks.append(("h", "Figures"))
        blocks += [("img", path, caption) for path, caption in figures]
    return blocks


def to_markdown(blocks: list[tuple], base: Path) -> str:
    """Render blocks as Markdown (figures linked relative to *base*)."""
    out = []
    for b in blocks:
        if b[0] == "title":
            out.append("# " + b[1])
        elif b[0] == "h":
            out.append("## " + b[1])
        elif b[0] == "p":
            out.append(b[1])
        elif b[0] == "table":  # a | inside a cell (|dev|, |log10 ratio|) must not end it
            out.append("| " + " | ".join(c.replace("|", r"\|") for c in b[1]) + " |")
            out.append("|" + "---|" * len(b[1]))
            out += ["| " + " | ".join(c.replace("|", r"\|") for c in r) + " |" for r in b[2]]
        else:
            out.append(f"![{b[2]}]({os.path.relpath(b[1], base)})\n\n*{b[2]}*")
        out.append("")
    return "\n".join(out)


_SYMBOLS = [(r"\+-", "±"), (r"(?<![\w])xi(?![\w])", "ξ"), (r"(?<![\w])tau(?![\w])", "τ"),
            (r"(?<![\w])sigma(?![\w])", "σ"), (r"(?<![\w])lambda(?![\w])", "λ"),
            (r" ~ ", " ∝ "), (r"&lt;=", "≤"), (r"&gt;=", "≥"), (r"!=", "≠"),
            (r"\blog10\b", "log<sub>10</sub>"),
            # V_k, R_K, G_{k+1}, D_(k): capital-letter symbols with a short subscript
            (r"\b([A-Z])_(\{[^}]*\}|\([^)]*\)|[A-Za-z0-9]{1,2}\b)",
             lambda m: f"{m[1]}<sub>{m[2].strip('{}()')}</sub>"),
            (r"\^(\([^)]*\)|-?[A-Za-z0-9.]+)", lambda m: f"<sup>{m[1].strip('()')}</sup>")]


def math_html(text: str) -> str:
    """Escape *text* for HTML and render its plain notation as symbols.

    Examples
    --------
    >>> math_html("V_k ~ s^(e k), 0.5 +- 0.1")
    'V<sub>k</sub> ∝ s<sup>e k</sup>, 0.5 ± 0.1'
    """
    import re

    out = html.escape(text.replace("``", ""), quote=False)
    for pattern, repl in _SYMBOLS:
        out = re.sub(pattern, repl, out)
    return out


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{math_html(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="v-{html.escape(c)}">{math_html(c)}</td>'
                                    if c in ("yes", "no", "inconclusive")
                                    else f"<td>{math_html(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1em;"
          "line-height:1.45;color:#222}h1{border-bottom:2px solid #ccc}h2{margin-top:2em}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
          "padding:3px 8px;font-size:90%;text-align:left}th{background:#f3f3f3}"
          "img{max-width:100%}figcaption{font-style:italic}nav{background:#f8f8f8;"
          "padding:.5em 1em;border:1px solid #ddd}.v-yes{background:#dff0d8}"
          ".v-no{background:#f2dede}.v-inconclusive{background:#fcf8e3}")


def to_html(blocks: list[tuple]) -> str:
    """Render blocks as one self-contained HTML page: a contents list, tables, symbols as
    HTML (no script, no external resource), PNG figures inlined as base64.
    """
    body, toc = [], []
    for b in blocks:
        if b[0] == "title":
            body.append(f"<h1>{math_html(b[1])}</h1><!--toc-->")
        elif b[0] == "h":
            anchor = f"s{len(toc) + 1}"
            toc.append(f'<li><a href="#{anchor}">{math_html(b[1])}</a></li>')
            body.append(f'<h2 id="{anchor}">{math_html(b[1])}</h2>')
        elif b[0] == "p":
            body.append(f"<p>{math_html(b[1])}</p>")
        elif b[0] == "table":
            body.append(_html_table(b[1], b[2]))
        else:
            data = base64.b64encode(Path(b[1]).read_bytes()).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data}" '
                        f'alt="{html.escape(b[2])}"><figcaption>{math_html(b[2])}</figcaption>'
                        "</figure>")
    nav = f"<nav><strong>Contents</strong><ol>{''.join(toc)}</ol></nav>"
    page = "".join(body).replace("<!--toc-->", nav, 1)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>scaledetect report</title>"
            f"<style>{_STYLE}</style></head><body>{page}</body></html>\n")


def write(out_dir: Path, blocks: list[tuple]) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into *out_dir* atomically."""
    md, page = out_dir / "report.md", out_dir / "report.html"
    with atomic_path(md) as tmp:
        tmp.write_text(to_markdown(blocks, out_dir))
    with atomic_path(page) as tmp:
        tmp.write_text(to_html(blocks))
    return md, page
