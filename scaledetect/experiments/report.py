"""Theory-vs-simulation report: ``report.md`` and a self-contained ``report.html``.

The numbers are computed here from the cached results; nothing in the text is typed in by hand.
"""

import base64
import html
import math
import os
from pathlib import Path

import numpy as np

from ..io import atomic_path
from ..sensitivity.result import profile
from .config import Run


def layer_arrays(sens: dict) -> dict[str, np.ndarray]:
    """``{"D": (L,), "G": ..., "R": ..., "D_se": ... (nan if absent)}`` over conv layers 0..K."""
    out = {}
    for q in ("D", "G", "R"):
        _, out[q], se = profile(sens, q)
        out[q + "_se"] = np.full_like(out[q], np.nan) if se is None else se
    return out


def _label(run: Run) -> str:
    t, n = run.task, run.net
    geo = "strided" if n.stride == n.filter else "unstrided" if n.stride == 1 else "overlapping"
    return (f"{t.dim}D {t.shape}/{t.rule} N={t.size} xi={t.xi:g}, {geo} F={n.filter} s={n.stride}"
            f" K={n.depth}, {n.act}")


def theory_vs_mc(runs: list[Run], results: dict[str, dict]) -> list[dict]:
    """Pair each ``theory`` run with the ``pooling`` Monte Carlo of the same task, net and
    perturbation; per pair the largest deviation over layers in standard errors and relative
    (relative only where the simulated value exceeds 1e-3).
    """
    rows = []
    mcs = {(r.task, r.net, r.pert): r for r in runs if r.kind == "pooling"}
    for th in (r for r in runs if r.kind == "theory"):
        mc = mcs.get((th.task, th.net, th.pert))
        if mc is None or th.key not in results or mc.key not in results:
            continue
        t = layer_arrays(results[th.key]["init"])
        m = layer_arrays(results[mc.key]["init"])
        row = {"config": _label(th), "probe": mc.probe,
               "theory": "exact" if th.net.act in ("relu", "linear") else "approximate"}
        for q in ("D", "G"):
            # layers where either side is undefined (den_k = 0 at a one-unit layer: theory gives
            # inf or nan, Monte Carlo nan) are left out of the comparison
            ok = np.isfinite(t[q]) & np.isfinite(m[q])
            t[q], m[q], m[q + "_se"] = t[q][ok], m[q][ok], m[q + "_se"][ok]
            dev = np.abs(t[q] - m[q])
            se = m[q + "_se"]
            z = np.divide(dev, se, out=np.where(dev == 0, 0.0, np.inf), where=se > 0)
            big = np.abs(m[q]) > 1e-3
            row[f"{q}_max_z"] = float(np.nanmax(z))
            row[f"{q}_max_rel"] = float(np.nanmax(dev[big] / np.abs(m[q][big]))) if big.any() \
                else 0.0
        rows.append(row)
    return rows


def fit_slope(x: np.ndarray, y: np.ndarray, se: np.ndarray | None = None) -> tuple[float, float]:
    """Weighted least-squares slope of ``log y`` against ``x`` and its standard error.

    Weights are ``(y / se)^2`` (the delta method: var(log y) = (se / y)^2); without standard
    errors (theory) the fit is unweighted and its standard error is 0 by convention.
    """
    ly = np.log(y)
    if se is None or not np.all(np.isfinite(se)) or np.any(se <= 0):
        slope = np.polyfit(x, ly, 1)[0]
        return float(slope), 0.0
    w = (y / se) ** 2
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * ly) / sxx
    return float(slope), float(1.0 / math.sqrt(sxx))


def exponents(runs: list[Run], results: dict[str, dict]) -> list[dict]:
    """Fitted scaling exponents of D_k and G_k for pooling nets, next to the predicted ones.

    Strided nets (s = F): ``V_k ~ s^(e k)``, fitted on log V against k ln s, D over layers 1-3
    (far below the block scale) and G over the last three layers before the blocks reach xi
    (s^k < xi, where the pile-up dominates); predicted e = -1 for D and dim for G.
    Unstrided nets (s = 1): ``V_k ~ k^e``, fitted on log V against log k over the second half of
    the layers; predicted e = -1 for D and dim/2 for G. The exact theory is fitted over the same
    layers, which separates finite-depth curvature from disagreement.
    """
    rows = []
    by_geo = {}
    for r in runs:
        if (r.kind in ("theory", "pooling") and r.net.act == "relu" and r.key in results
                and r.task.shape != "blobs" and r.pert.diffeo == "shift"):
            by_geo.setdefault((r.task, r.net, r.pert), {})[r.kind] = r
    for (task, net, _), pair in by_geo.items():
        if "pooling" not in pair or net.stride not in (1, net.filter):
            continue
        strided = net.stride == net.filter > 1
        layers = np.arange(1, net.depth + 1)
        if strided:
            below = layers[net.stride ** layers < task.xi]
            fit_layers = {"D": below[:3], "G": below[-3:]}
        else:
            fit_layers = dict.fromkeys("DG", layers[len(layers) // 2:])
        mc = layer_arrays(results[pair["pooling"].key]["init"])
        th = layer_arrays(results[pair["theory"].key]["init"]) if "theory" in pair else None
        for q, predicted in (("D", -1.0), ("G", task.dim if strided else task.dim / 2)):
            ks = fit_layers[q]
            if len(ks) < 2:
                continue
            x = ks * math.log(net.stride) if strided else np.log(ks)
            slope, se = fit_slope(x, mc[q][ks], mc[q + "_se"][ks])
            rows.append({"config": _label(pair["pooling"]), "quantity": q,
                         "layers": f"{ks[0]}-{ks[-1]}", "fitted": slope, "ci95": 1.96 * se,
                         # same layers and the same weights as the Monte Carlo fit
                         "theory_same_layers": fit_slope(
                             x, th[q][ks], th[q][ks] * mc[q + "_se"][ks] / mc[q][ks])[0]
                         if th else float("nan"),
                         "asymptotic": predicted})
    return rows


#: A trained seed "learned" the task if its final test error is below this (chance: 0.5).
LEARNED_TEST_ERROR = 0.1
#: Confidence level of the intervals behind every verdict.
CONFIDENCE = 0.95


def trained_findings(runs: list[Run], results: dict[str, dict]) -> list[dict]:
    """Per activation (1D training runs): per-seed values of the quantities the claims use.

    Each entry: ``act``, ``seeds`` (seed numbers), ``learned`` (bool per seed: test error <
    ``LEARNED_TEST_ERROR``), ``test_error``, ``epochs``, ``epochs_to_stop`` (epoch the training
    set was interpolated, None if never), ``stop_reason`` and the per-seed ``log10`` ratios
    ``R_K/R_0`` and ``G_K/G_1`` at initialization and trained; ``net`` and ``train`` settings.
    """
    groups: dict[str, list[tuple[Run, dict]]] = {}
    for r in runs:
        if r.kind == "train" and r.key in results and r.task.dim == 1:
            groups.setdefault(r.net.act, []).append((r, results[r.key]))
    out = []
    for act, pairs in sorted(groups.items()):
        pairs.sort(key=lambda p: p[0].seed)
        res = [x for _, x in pairs]
        hist = [x["history"] for x in res]
        test = [h["final"]["test_error"] for h in hist]
        f = {"act": act, "seeds": [r.seed for r, _ in pairs], "test_error": test,
             "learned": [t is not None and t < LEARNED_TEST_ERROR for t in test],
             "epochs": [h["epochs"] for h in hist],
             "epochs_to_stop": [h["epochs_to_stop"] for h in hist],
             "stop_reason": [h["stop_reason"] for h in hist],
             "net": res[0]["run"]["net"], "train": res[0]["run"]["train"]}
        for state in ("init", "trained"):
            arrays = [layer_arrays(x[state]) for x in res]
            f[f"R_{state}"] = [math.log10(a["R"][-1] / a["R"][0]) for a in arrays]
            f[f"G_{state}"] = [math.log10(a["G"][-1] / a["G"][1]) for a in arrays]
        out.append(f)
    return out


def interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float, int]:
    """Mean and Student-t confidence interval of the mean of *values*: ``(mean, lo, hi, n)``.

    With fewer than 2 values the interval is ``(-inf, inf)``: nothing can be concluded.
    """
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    n = len(v)
    if n < 2:
        return (float(v[0]) if n else float("nan")), -math.inf, math.inf, n
    half = t.ppf(0.5 + confidence / 2, n - 1) * np.std(v, ddof=1) / math.sqrt(n)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half), n


def verdict(lo: float, hi: float, above: float = 0.0) -> str:
    """``yes`` if the whole interval ``[lo, hi]`` lies above *above*, ``no`` if below, else
    ``inconclusive``.
    """
    return "yes" if lo > above else "no" if hi < above else "inconclusive"


def _ci_text(name: str, ci: tuple) -> str:
    mean, lo, hi, n = ci
    if n < 2:
        return f"{name} = {mean:.2f} ({n} seed{'s' if n != 1 else ''}: no interval)"
    return f"{name} = {mean:.2f}, {CONFIDENCE:.0%} CI [{lo:.2f}, {hi:.2f}] ({n} seeds)"


def _learned(f: dict, values: list) -> list:
    return [v for v, ok in zip(values, f["learned"], strict=True) if ok]


def claims(findings: list[dict], shares: dict[str, list[float]]) -> list[tuple[str, str, str]]:
    """The paper's trained-network claims: ``(claim, verdict, evidence)``.

    Every verdict is ``yes``/``no``/``inconclusive`` from a ``CONFIDENCE`` Student-t interval
    over the seeds that learned (test error < ``LEARNED_TEST_ERROR``): a seed that did not learn
    the task is not evidence about trained networks. The evidence says how many learned.
    """
    rows = []
    by = {f["act"]: f for f in findings}
    learned = {a: f"{sum(f['learned'])}/{len(f['learned'])} {a} seeds learned"
               for a, f in by.items()}
    if "relu" in by:
        f = by["relu"]
        diff = interval(_learned(f, [t - i for t, i in zip(f["R_trained"], f["R_init"],
                                                           strict=True)]))
        rows.append(("R_k falls with depth more after training than at initialization",
                     verdict(-diff[2], -diff[1]),
                     _ci_text("log10(R_K/R_0) trained - init", diff) + "; " + learned["relu"]))
        g = interval(_learned(f, f["G_trained"]))
        text = _ci_text("ReLU log10(G_K/G_1)", g)
        ok = verdict(g[1], g[2])
        if "tanh" in by:
            h = interval(_learned(by["tanh"], by["tanh"]["G_trained"]))
            gap = _welch(g, _learned(f, f["G_trained"]), _learned(by["tanh"],
                                                                  by["tanh"]["G_trained"]))
            text += "; " + _ci_text("tanh", h) + "; " + _ci_text("ReLU - tanh", gap)
            both = (ok, verdict(gap[1], gap[2]))
            ok = "no" if "no" in both else "yes" if both == ("yes", "yes") else "inconclusive"
            text += "; " + learned["tanh"]
        rows.append(("G_k rises with depth for ReLU and not (as much) for tanh", ok,
                     text + "; " + learned["relu"]))
    if shares:
        diff = interval(_learned(by["relu"], [a - b for a, b in zip(
            shares["trained"], shares["init"], strict=True)])) if "relu" in by else \
            interval([])
        rows.append(("The first layer learns pooling (uniform share of the filter norm grows)",
                     verdict(diff[1], diff[2]),
                     _ci_text("layer-1 uniform share trained - init", diff)
                     + ("; " + learned["relu"] if "relu" in by else "")))
    return rows


def _welch(first: tuple, a: list, b: list) -> tuple[float, float, float, int]:
    """Difference of the means of *a* and *b* with a Welch-Satterthwaite t interval."""
    from scipy.stats import t

    if len(a) < 2 or len(b) < 2:
        return first[0] - (np.mean(b) if b else np.nan), -math.inf, math.inf, min(len(a), len(b))
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else 1
    half = t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(va + vb)
    d = float(np.mean(a) - np.mean(b))
    return d, d - half, d + half, len(a) + len(b)


def uniform_shares(runs: list[Run], arrays_of) -> dict[str, list[float]]:
    """Layer-1 uniform share per ReLU trained seed (in seed order), before and after training."""
    vals = {"init": [], "trained": []}
    train = sorted((r for r in runs if r.kind == "train" and r.net.act == "relu"
                    and r.task.dim == 1), key=lambda r: r.seed)
    for r in train:
        arr = arrays_of(r.key)
        if not all(f"{state}.uniform_share" in arr for state in vals):
            return {}
        for state in vals:
            vals[state].append(float(arr[f"{state}.uniform_share"][0]))
    return vals if vals["init"] else {}


# ---------------------------------------------------------------------------------- rendering

def _table(header: list[str], rows: list[list]) -> list[tuple]:
    return [("table", header, [[_fmt(c) for c in row] for row in rows])]


def _fmt(c) -> str:
    if isinstance(c, bool):
        return "yes" if c else "no"
    if isinstance(c, float):
        return "inf" if math.isinf(c) else f"{c:.3g}"
    return "n/a" if c is None else str(c)


def _settings_table(columns: dict[str, dict]) -> list[tuple]:
    """One row per setting, one column per entry of *columns* (e.g. per activation)."""
    names = list(dict.fromkeys(k for d in columns.values() for k in d))
    return _table(["setting", *columns], [[n, *(d.get(n) for d in columns.values())]
                                          for n in names])


def _trained_blocks(runs, results, arrays_of) -> list[tuple]:
    findings = trained_findings(runs, results)
    if not findings:
        return []
    blocks = [("h", "Trained networks: which claims reproduce"),
              ("p", f"Verdicts: yes if the whole {CONFIDENCE:.0%} Student-t confidence interval "
                    "over seeds supports the claim, no if it contradicts it, inconclusive "
                    "otherwise. Only seeds that learned the task (final test error < "
                    f"{LEARNED_TEST_ERROR:g}; chance is 0.5) count as evidence.")]
    rows = claims(findings, uniform_shares(runs, arrays_of))
    blocks += _table(["claim", "reproduced", "evidence"], [list(r) for r in rows])
    blocks.append(("h", "Training runs, seed by seed"))
    blocks.append(("p", "Interpolated at: the first epoch with zero training error (n/a: never "
                        "within the epoch budget)."))
    blocks += _table(["activation", "seed", "test error", "learned", "interpolated at epoch",
                      "epochs trained", "stopped by"],
                     [[f["act"], *row] for f in findings for row in zip(
                         f["seeds"], f["test_error"], f["learned"], f["epochs_to_stop"],
                         f["epochs"], f["stop_reason"], strict=True)])
    blocks.append(("h", "Training configuration"))
    blocks += _settings_table({f["act"]: {**{f"net: {k}": v for k, v in f["net"].items()},
                                          **{f"training: {k}": v for k, v in f["train"].items()}}
                               for f in findings})
    return blocks


def build(runs: list[Run], results: dict[str, dict], arrays_of, figures: list[tuple[Path, str]],
          meta: dict) -> list[tuple]:
    """The report as blocks: ``("h", text)``, ``("p", text)``, ``("table", header, rows)``,
    ``("img", path, caption)``. Text may use the plain notation ``D_k``, ``s^(e k)``, ``+-``,
    ``xi``; the HTML renders it as symbols (``math_html``).
    """
    blocks: list[tuple] = [("title", "scaledetect report"), ("h", "This run")]
    blocks += _table(["setting", "value"], [[k, v] for k, v in meta.items()])
    blocks.append(("h", "Theory vs simulation (idealized pooling nets)"))
    blocks.append(("p", "Largest deviation over layers 0..K between the exact prediction "
                        "(scaledetect.theory.predict) and the Monte Carlo measurement "
                        "(scaledetect.sensitivity.measure), in standard errors and relative."))
    tvm = theory_vs_mc(runs, results)
    blocks += _table(["configuration", "P", "D max |dev|/se", "D max rel", "G max |dev|/se",
                      "G max rel", "theory"],
                     [[r["config"], r["probe"], r["D_max_z"], r["D_max_rel"], r["G_max_z"],
                       r["G_max_rel"], r["theory"]] for r in tvm])
    blocks.append(("p", "tanh: D_k, G_0 and G_1 are exact, deeper G_k use Gaussian moment "
                        "propagation, known to run a few percent low."))
    blocks.append(("h", "Scaling exponents"))
    blocks.append(("p", " ".join(exponents.__doc__.split("\n\n")[1].split()).replace("``", "")))
    blocks += _table(["configuration", "quantity", "layers", "fitted (MC)", "95% CI",
                      "exact theory, same layers", "asymptotic prediction"],
                     [[r["config"], r["quantity"], r["layers"], r["fitted"], r["ci95"],
                       r["theory_same_layers"], r["asymptotic"]] for r in exponents(runs, results)])
    blocks += _trained_blocks(runs, results, arrays_of)
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
        elif b[0] == "table":
            out.append("| " + " | ".join(b[1]) + " |")
            out.append("|" + "---|" * len(b[1]))
            out += ["| " + " | ".join(r) + " |" for r in b[2]]
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
