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
from .stats import (
    CONFIDENCE,
    LEARNED_TEST_ERROR,
    below,
    ci_text,
    combine,
    interval,
    verdict,
    welch,
)


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
    """Fitted scaling exponents of D_k and G_k at the largest system size, with a verdict.

    System-size series of pooling nets on the block task with xi = N/4 (``experiments.scaling``).
    Strided nets (s = F = 2, depth log2(xi) + 1, k* = log2(xi)): ``V_k ~ s^(e k)`` fitted on
    log V against k ln s, D over layers 1 to max(2, k* - 4) (at most 1/16 of a block per unit,
    away from the block-boundary correction), G over max(1, min(ceil(k*/2), k* - 3)) to k* - 2
    (away from the pixel-scale offset); predicted e = -1 for D and dim for G. Unstrided nets
    (s = 1, depth N/4): ``V_k ~ k^e`` fitted on log V against log k over the second half of the
    layers; predicted e = -1 for D and dim/2 for G. The exact theory and the Monte Carlo are
    each shown at the largest size they were run at; the verdict says whether the theory's
    exponent there is within 5% of the prediction, and otherwise lists its trend with N.
    """
    from .scaling import exponent_series
    from .scaling import verdict as exponent_verdict

    rows = []
    for (dim, geometry, q), entry in sorted(exponent_series(runs, results).items()):
        th, mc = entry["theory"], entry["mc"]
        if not mc["N"]:
            continue
        n_th = th["N"][-1] if th["N"] else float("nan")
        rows.append({"config": f"{dim}D points/block xi=N/4, {geometry} F=2, relu",
                     "quantity": q, "layers": entry["layers"].get(th["N"][-1] if th["N"]
                                                                 else mc["N"][-1], ""),
                     "fitted": mc["e"][-1], "ci95": 1.96 * mc["se"][-1], "mc_size": mc["N"][-1],
                     "theory": th["e"][-1] if th["N"] else float("nan"), "theory_size": n_th,
                     "asymptotic": entry["predicted"],
                     "verdict": exponent_verdict(entry["predicted"], th["N"] or mc["N"],
                                        th["e"] or mc["e"])})
    return rows


def trained_findings(runs: list[Run], results: dict[str, dict]) -> list[dict]:
    """Per activation (1D training runs): per-seed values of the quantities the claims use.

    Each entry: ``act``, ``seeds`` (seed numbers), ``learned`` (bool per seed: test error <
    ``LEARNED_TEST_ERROR``), ``test_error``, ``epochs``, ``epochs_to_stop`` (epoch the training
    set was interpolated, None if never), ``stop_reason`` and the per-seed ``log10`` ratios
    ``R_K/R_0`` and ``G_K/G_1`` at initialization and trained; ``net`` and ``train`` settings.
    """
    groups: dict[str, list[tuple[Run, dict]]] = {}
    for r in runs:
        if _main_trained(r) and _recipe(r) and r.key in results:
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


def width_distances(runs: list[Run], results: dict[str, dict]) -> list[dict]:
    """Per width of the trained 1D ReLU nets: RMS log10 distance of their channel-averaged
    D_k and G_k to the pooling theory of the same task (``plots._trained.log_distance``),
    mean +- s.e. over seeds. Empty without a theory run of the trained task.
    """
    from ..plots._trained import CHANNEL_MEAN, log_distance, mean_se

    trained = list({r.key: r for r in runs if r.kind == "train" and r.task.dim == 1 and _recipe(r)
                    and r.net.act == "relu" and CHANNEL_MEAN in results.get(r.key, {})}.values())
    rows = []
    for task, depth, stride in sorted({(r.task, r.net.depth, r.net.stride) for r in trained},
                                      key=lambda g: g[0].xi):
        same = [r for r in trained if (r.task, r.net.depth, r.net.stride) == (task, depth, stride)]
        theory = [r for r in runs if r.kind == "theory" and r.task == task and r.key in results
                  and (r.net.depth, r.net.stride) == (depth, stride)]
        if not theory:
            continue
        th = results[theory[0].key]["init"]
        for w in sorted({r.net.width for r in same}):
            sens = [results[r.key][CHANNEL_MEAN] for r in same if r.net.width == w]
            row = {"task": f"N={task.size} xi={task.xi:g} K={depth}", "width": w,
                   "seeds": len(sens)}
            for q in ("D", "G"):
                row[q] = mean_se([log_distance(s, th, q) for s in sens])
            rows.append(row)
    return rows


def _main_trained(run: Run) -> bool:
    """The F2/F5 trained nets (1D, tagged by their activation); the width and block-size
    studies and the 2D nets are left out of the claims.
    """
    return run.kind == "train" and run.task.dim == 1 and run.tag == run.net.act


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
                     ci_text("log10(R_K/R_0) trained - init", diff) + "; " + learned["relu"]))
        g = interval(_learned(f, f["G_trained"]))
        text = ci_text("ReLU log10(G_K/G_1)", g)
        ok = verdict(g[1], g[2])
        if "tanh" in by:
            h = interval(_learned(by["tanh"], by["tanh"]["G_trained"]))
            gap = welch(g, _learned(f, f["G_trained"]), _learned(by["tanh"],
                                                                  by["tanh"]["G_trained"]))
            text += "; " + ci_text("tanh", h) + "; " + ci_text("ReLU - tanh", gap)
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
                     ci_text("layer-1 uniform share trained - init", diff)
                     + ("; " + learned["relu"] if "relu" in by else "")))
    return rows


def _recipe(run: Run) -> bool:
    """A run of the recipe's geometry (F = s = 2) trained by the recipe (not F11's F = 4 or
    F12's fixed-length noise-corrupted runs, which have findings of their own).
    """
    return run.net.filter == run.net.stride == 2 and "train_noise" not in run.train


#: A layer "reduces D" when the trained D_k / D_{k-1} is below this (mean over seeds).
D_FALL = 0.7
#: Channel-summed D_k "keeps" the trained net's when their ratio is within [1/KEEP, KEEP].
KEEP = 1.5


def spectra_claim(runs: list[Run], results: dict, arrays_of) -> tuple[str, str, str] | None:
    """Trained filters concentrate on the constant mode where D_k falls (F11's F = 4 nets).

    In every layer k whose trained D_k / D_{k-1} (mean over seeds) is below ``D_FALL``, the
    per-seed increase of the constant-mode fraction of the filter power (trained - init) has its
    confidence interval above 0; ``yes`` if it does in every such layer (and there is one).
    """
    f4 = list({r.key: r for r in runs if r.kind == "train" and r.net.filter == 4
               and r.key in results}.values())
    if not f4 or arrays_of is None:
        return None
    frac = {w: np.stack([a[f"{w}.spectrum.power"][:, 0] / a[f"{w}.spectrum.power"].sum(1)
                         for a in map(arrays_of, (r.key for r in f4))]) for w in ("init",
                                                                                  "trained")}
    d = np.stack([layer_arrays(results[r.key]["trained"])["D"] for r in f4])
    ratio = (d[:, 1:] / d[:, :-1]).mean(0)
    votes, parts = [], []
    for k in range(1, len(ratio) + 1):
        ci = interval(frac["trained"][:, k - 1] - frac["init"][:, k - 1])
        if ratio[k - 1] < D_FALL:
            votes.append(verdict(ci[1], ci[2]))
        parts.append(f"k={k}: D_k/D_k-1 {ratio[k - 1]:.2f}, "
                     + ci_text("const. fraction trained - init", ci))
    return ("Trained filters concentrate on the constant mode in the layers where D_k falls "
            f"(F = s = 4, {len(f4)} seeds)", combine(votes), "; ".join(parts))


def channel_sum_claim(runs: list[Run], results: dict) -> tuple[str, str, str] | None:
    """Channel-summed nets keep the trained net's D_k in the early layers (k = 1 .. K // 2).

    Per geometry (dim, K, F, activation) of the trained nets, over the seeds that learned: the
    largest |log10 D_k(summed) / D_k(trained)| of the early layers has its confidence interval
    below log10 ``KEEP`` (``stats.below``); the claim holds if it does for every geometry.
    """
    groups: dict = {}
    for r in {r.key: r for r in runs}.values():
        x = results.get(r.key)
        if r.kind == "train" and x and "channel_sum" in x and "train_noise" not in r.train:
            groups.setdefault((r.task.dim, r.net.depth, r.net.filter, r.net.act), []).append(x)
    if not groups:
        return None
    votes, parts = [], []
    for (dim, depth, f, act), res in sorted(groups.items()):
        learned = [x for x in res if x["history"]["final"]["test_error"] < LEARNED_TEST_ERROR]
        early = np.arange(1, max(2, depth // 2 + 1))
        worst = [float(np.nanmax(np.abs(np.log10(
            layer_arrays(x["channel_sum"]["trained"])["D"][early]
            / layer_arrays(x["trained"])["D"][early])))) for x in learned]
        v, ci = below(worst, math.log10(KEEP))
        votes.append(v)
        parts.append(f"{dim}D K={depth} F={f} {act} {v}: "
                     f"{ci_text(f'max |log10 ratio| at k=1..{early[-1]}', ci)}, "
                     f"{len(learned)}/{len(res)} seeds learned")
    return (f"Channel-summed nets keep the trained net's D_k in the early layers (within a "
            f"factor {KEEP:g})", combine(votes), "; ".join(parts))


def noise_claim(runs: list[Run], results: dict) -> tuple[str, str, str] | None:
    """R of the output is below its initial value at every sigma where the test error < 10%.

    Per net (F12's numba CNN and standard CNN) and noise level whose trained nets learned: the
    confidence interval of log10 R_out(trained) / R_out(init) lies below 0 — a t interval over
    seeds, or with one seed the normal interval of the probe estimate (delta method on the
    measurement's own standard errors). ``yes`` if it does at every such level.
    """
    levels: dict = {}
    for r in {r.key: r for r in runs}.values():
        if r.kind in ("train", "deep") and r.key in results and "train_noise" in r.train:
            net = r.train["arch"] if r.kind == "deep" else "CNN"
            levels.setdefault((net, r.train["train_noise"]), []).append(results[r.key])
    if not levels:
        return None
    votes, parts = [], []
    for (net, sigma), res in sorted(levels.items()):
        err = float(np.mean([_test_error(x) for x in res]))
        if err >= LEARNED_TEST_ERROR:
            parts.append(f"{net} sigma={sigma:g}: test error {err:.3f}, not learned")
            continue
        logs = [math.log10(_out_value(x["trained"], "R") / _out_value(x["init"], "R"))
                for x in res]
        ci = interval(logs) if len(res) > 1 else _probe_interval(res[0])
        votes.append(verdict(-ci[2], -ci[1]))
        text = ci_text("log10 R_out trained/init", ci) if len(res) > 1 else (
            f"log10 R_out trained/init = {ci[0]:.2f}, {CONFIDENCE:.0%} CI [{ci[1]:.2f}, "
            f"{ci[2]:.2f}] from the probe s.e. (1 seed)")
        parts.append(f"{net} sigma={sigma:g}: test error {err:.3f}, {text}")
    return ("R of the output is below its initial value at every sigma where test error < 10%",
            combine(votes), "; ".join(parts))


def _test_error(result: dict) -> float:
    h = result["history"]
    return h["test_error"] if "test_error" in h else h["final"]["test_error"]


def _probe_interval(result: dict) -> tuple[float, float, float, int]:
    """Normal interval of log10 R_out trained/init from one net's probe standard errors."""
    from scipy.stats import norm

    logs, var = 0.0, 0.0
    for w, sign in (("trained", 1), ("init", -1)):
        r, se = _out_value(result[w], "R"), _out_value(result[w], "R_se")
        logs += sign * math.log10(r)
        var += (se / (r * math.log(10))) ** 2 if np.isfinite(se) else math.inf
    half = norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(var)
    return logs, logs - half, logs + half, 1


def _out_value(sens: dict, q: str) -> float:
    """The network output's value of *q* (the ``k = "out"`` row)."""
    row = next(r for r in sens["layers"] if r["k"] == "out")
    return float("nan") if row.get(q) is None else float(row[q])


def uniform_shares(runs: list[Run], arrays_of) -> dict[str, list[float]]:
    """Layer-1 uniform share per ReLU trained seed (in seed order), before and after training."""
    vals = {"init": [], "trained": []}
    train = sorted((r for r in runs if _main_trained(r) and _recipe(r) and r.net.act == "relu"),
                   key=lambda r: r.seed)
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
    blocks += _table(["configuration", "quantity", "layers (theory size)", "fitted (MC)",
                      "95% CI", "MC size N", "exact theory", "theory size N",
                      "asymptotic prediction", "theory vs prediction"],
                     [[r["config"], r["quantity"], r["layers"], r["fitted"], r["ci95"],
                       r["mc_size"], r["theory"], r["theory_size"], r["asymptotic"],
                       r["verdict"]] for r in exponents(runs, results)])
    blocks += _trained_blocks(runs, results, arrays_of)
    widths = width_distances(runs, results)
    if widths:
        blocks.append(("h", "Trained networks against the pooling theory"))
        blocks.append(("p", "Distance of the channel-averaged D_k and G_k of trained 1D ReLU "
                            "CNNs to the idealized pooling net's exact values: RMS over the "
                            "layers below the block scale of log10(trained / theory), mean +- "
                            "s.e. over seeds (0.3 is a typical factor of 2)."))
        blocks += _table(["task", "width", "seeds", "D distance", "D s.e.", "G distance",
                          "G s.e."], [[r["task"], r["width"], r["seeds"], *r["D"], *r["G"]]
                                      for r in widths])
    pooling = [c for c in (spectra_claim(runs, results, arrays_of),
                           channel_sum_claim(runs, results), noise_claim(runs, results)) if c]
    if pooling:
        blocks.append(("h", "Spatial vs channel pooling, noise-corrupted training"))
        blocks += _table(["claim", "reproduced", "evidence"], [list(c) for c in pooling])
    from .deep import deep_claims

    deep = deep_claims(runs, results)
    if deep:
        blocks.append(("h", "Standard CNNs on the two-point task (F9, F10)"))
        blocks += _table(["claim", "reproduced", "evidence"], [list(c) for c in deep])
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
