"""Trained numba CNNs: F2, the report's trained-network claims, F11 and the channel-sum claim."""

import math
from dataclasses import dataclass

import numpy as np

from ..experiments.report import Claim, Section, Table
from ..experiments.stats import (
    CONFIDENCE,
    D_FALL,
    KEEP,
    LEARNED_TEST_ERROR,
    below,
    ci_text,
    combine,
    interval,
    verdict,
    welch,
)
from ..plots import fig2_init_vs_trained, fig11_spectra
from .base import Plan, Results, Study
from .preset import Preset, nngp_of, trained


def learned(result) -> bool:
    """Whether a trained net learned its task (test error below ``LEARNED_TEST_ERROR``)."""
    err = result.record.test_error
    return err is not None and err < LEARNED_TEST_ERROR


@dataclass(frozen=True)
class InitTrainedPlan(Plan):
    """F2: the recipe's ReLU nets (one per seed) and their infinite-width prediction."""

    trained: tuple
    nngp: tuple


def plan_init_vs_trained(p: Preset) -> InitTrainedPlan:
    """The recipe ReLU nets and the NNGP of the same net."""
    return InitTrainedPlan(trained(p, "relu"), (nngp_of(p, "relu"),))


def draw_init_vs_trained(out_dir, plan: InitTrainedPlan, results: Results):
    """F2 from its plan."""
    nngp = results.all(plan.nngp)
    return fig2_init_vs_trained.render(out_dir, results.all(plan.trained),
                                       nngp[0] if nngp else None)


@dataclass(frozen=True)
class ActsPlan(Plan):
    """The recipe nets trained with ReLU and with tanh (the report's trained-network claims)."""

    relu: tuple
    tanh: tuple


def plan_trained_claims(p: Preset) -> ActsPlan:
    """The F2 ReLU nets and F5's tanh nets."""
    return ActsPlan(trained(p, "relu"), trained(p, "tanh"))


def _findings(results: list) -> dict:
    """Per-seed quantities of the claims, seeds in order: ``learned``, and log10 ratios
    ``R_K/R_0`` and ``G_K/G_1`` at initialization and trained.
    """
    res = sorted(results, key=lambda r: r.run.seed)
    f = {"results": res, "learned": [learned(r) for r in res]}
    for state in ("init", "trained"):
        sens = [getattr(r.record, state) for r in res]
        f[f"R_{state}"] = [math.log10(s.profile("R")[1][-1] / s.profile("R")[1][0])
                           for s in sens]
        f[f"G_{state}"] = [math.log10(s.profile("G")[1][-1] / s.profile("G")[1][1])
                           for s in sens]
    return f


def _kept(f: dict, values: list) -> list:
    return [v for v, ok in zip(values, f["learned"], strict=True) if ok]


def _n_learned(f: dict, act: str) -> str:
    return f"{sum(f['learned'])}/{len(f['learned'])} {act} seeds learned"


def r_claim(f: dict) -> Claim:
    """R_K/R_0 falls more after training than at initialization (ReLU seeds that learned)."""
    diff = interval(_kept(f, [t - i for t, i in zip(f["R_trained"], f["R_init"], strict=True)]))
    return Claim("R_k falls with depth more after training than at initialization",
                 verdict(-diff[2], -diff[1]),
                 ci_text("log10(R_K/R_0) trained - init", diff) + "; " + _n_learned(f, "relu"))


def g_claim(relu: dict, tanh: dict | None) -> Claim:
    """G_K/G_1 > 1 for trained ReLU nets, and larger than for tanh nets (Welch interval)."""
    g = interval(_kept(relu, relu["G_trained"]))
    text, ok = ci_text("ReLU log10(G_K/G_1)", g), verdict(g[1], g[2])
    if tanh is not None:
        h = interval(_kept(tanh, tanh["G_trained"]))
        gap = welch(g, _kept(relu, relu["G_trained"]), _kept(tanh, tanh["G_trained"]))
        text += "; " + ci_text("tanh", h) + "; " + ci_text("ReLU - tanh", gap)
        ok = combine([ok, verdict(gap[1], gap[2])])
        text += "; " + _n_learned(tanh, "tanh")
    return Claim("G_k rises with depth for ReLU and not (as much) for tanh", ok,
                 text + "; " + _n_learned(relu, "relu"))


def share_claim(f: dict) -> Claim:
    """The first layer's uniform (pooling) share of the filter norm grows with training."""
    diff = interval(_kept(f, [r.record.filters_trained.uniform_share[0]
                              - r.record.filters_init.uniform_share[0] for r in f["results"]]))
    return Claim("The first layer learns pooling (uniform share of the filter norm grows)",
                 verdict(diff[1], diff[2]),
                 ci_text("layer-1 uniform share trained - init", diff) + "; "
                 + _n_learned(f, "relu"))


def _seed_table(groups: dict) -> Table:
    rows = []
    for act, f in groups.items():
        for r, ok in zip(f["results"], f["learned"], strict=True):
            h = r.record.history
            rows.append((act, r.run.seed, h.test_error, ok, h.epochs_to_stop, h.epochs,
                         h.stop_reason))
    return Table(("activation", "seed", "test error", "learned", "interpolated at epoch",
                  "epochs trained", "stopped by"), tuple(rows))


def _settings_table(groups: dict) -> Table:
    """One row per setting (net, then training), one column per activation."""
    columns = {act: {**{f"net: {k}": v for k, v in f["results"][0].run.net.to_dict().items()},
                     **{f"training: {k}": v for k, v in
                        f["results"][0].run.train.to_dict().items()}}
               for act, f in groups.items()}
    names = list(dict.fromkeys(k for d in columns.values() for k in d))
    return Table(("setting", *columns), tuple((n, *(d.get(n) for d in columns.values()))
                                              for n in names))


def trained_claims(plan: ActsPlan, results: Results) -> list[Section]:
    """The claims on trained networks, the seed-by-seed table and the training settings."""
    groups = {act: _findings(res) for act, res in (("relu", results.of(plan.relu)),
                                                   ("tanh", results.of(plan.tanh))) if res}
    if not groups:
        return []
    claims = []
    if "relu" in groups:
        claims += [r_claim(groups["relu"]), g_claim(groups["relu"], groups.get("tanh")),
                   share_claim(groups["relu"])]
    return [Section("Trained networks: which claims reproduce", (
        f"Verdicts: yes if the whole {CONFIDENCE:.0%} Student-t confidence interval over seeds "
        "supports the claim, no if it contradicts it, inconclusive otherwise. Only seeds that "
        f"learned the task (final test error < {LEARNED_TEST_ERROR:g}; chance is 0.5) count as "
        "evidence.",), claims=tuple(claims)),
        Section("Training runs, seed by seed", ("Interpolated at: the first epoch with zero "
                                                "training error (n/a: never within the epoch "
                                                "budget).",), (_seed_table(groups),)),
        Section("Training configuration", tables=(_settings_table(groups),))]


@dataclass(frozen=True)
class SpectraPlan(Plan):
    """F11: the recipe's ReLU nets with F = 2 and F = 4, and a standard CNN's runs."""

    f2: tuple
    f4: tuple
    deep: tuple = ()


def filter4(p: Preset) -> tuple:
    """The recipe net with F = s = 4 (four Laplacian modes per filter): K = 3 on N = 128 (sides
    128, 32, 8, 2), K = 2 on tiny's N = 32; 2 seeds in quick (about 40 s each on a quiet core).
    """
    runs = trained(p, "relu", filter=4, stride=4, depth=2 if p.tiny else 3)
    return runs if p.paper else runs[:2]


def plan_spectra(p: Preset) -> SpectraPlan:
    """F2's nets, the F = 4 nets and VGG11's (else the first architecture's) standard runs."""
    from .standard import clean_runs

    deep = clean_runs(p)
    archs = [r.train.arch for r in deep]
    arch = "vgg11" if "vgg11" in archs else archs[0] if archs else None
    return SpectraPlan(trained(p, "relu"), filter4(p),
                       tuple(r for r in deep if r.train.arch == arch))


def draw_spectra(out_dir, plan: SpectraPlan, results: Results):
    """F11 from its plan (panel d only when the standard runs have finished)."""
    return fig11_spectra.render(out_dir, results.all(plan.f2), results.all(plan.f4),
                                results.of(plan.deep))


def spectra_claim(plan: SpectraPlan, results: Results) -> list[Section]:
    """Trained filters concentrate on the constant mode where D_k falls (the F = 4 nets).

    In every layer k whose trained D_k / D_{k-1} (mean over seeds) is below ``D_FALL``, the
    per-seed increase of the constant-mode fraction of the filter power (trained - init) has its
    confidence interval above 0; ``yes`` if it does in every such layer (and there is one).
    """
    f4 = results.of(plan.f4)
    if not f4:
        return []
    frac = {w: np.stack([getattr(r.record, f"filters_{w}").constant_fraction() for r in f4])
            for w in ("init", "trained")}
    d = np.stack([r.record.trained.profile("D")[1] for r in f4])
    ratio = (d[:, 1:] / d[:, :-1]).mean(0)
    votes, parts = [], []
    for k in range(1, len(ratio) + 1):
        ci = interval(frac["trained"][:, k - 1] - frac["init"][:, k - 1])
        if ratio[k - 1] < D_FALL:
            votes.append(verdict(ci[1], ci[2]))
        parts.append(f"k={k}: D_k/D_k-1 {ratio[k - 1]:.2f}, "
                     + ci_text("const. fraction trained - init", ci))
    return [Section(POOLING_ORIGIN, claims=(Claim(
        "Trained filters concentrate on the constant mode in the layers where D_k falls "
        f"(F = s = 4, {len(f4)} seeds)", combine(votes), "; ".join(parts)),))]


#: The report section of the claims on where invariance comes from.
POOLING_ORIGIN = "Spatial vs channel pooling, noise-corrupted training"


@dataclass(frozen=True)
class TrainedPlan(Plan):
    """Trained numba nets (any geometry)."""

    trained: tuple


def channel_sum_claim(plan: TrainedPlan, results: Results) -> list[Section]:
    """Channel-summed nets keep the trained net's D_k in the early layers (k = 1 .. K // 2).

    Per geometry (dim, K, F, activation), over the seeds that learned: the largest
    |log10 D_k(summed) / D_k(trained)| of the early layers has its confidence interval below
    log10 ``KEEP`` (``stats.below``); the claim holds if it does for every geometry.
    """
    groups: dict = {}
    for r in results.of(plan.trained):
        n = r.run.net
        groups.setdefault((r.run.task.dim, n.depth, n.filter, n.act), []).append(r)
    if not groups:
        return []
    votes, parts = [], []
    for (dim, depth, f, act), res in sorted(groups.items()):
        kept = [r for r in res if learned(r)]
        early = np.arange(1, max(2, depth // 2 + 1))
        worst = [float(np.nanmax(np.abs(np.log10(r.record.channel_sum.profile("D")[1][early]
                                                 / r.record.trained.profile("D")[1][early]))))
                 for r in kept]
        v, ci = below(worst, math.log10(KEEP))
        votes.append(v)
        parts.append(f"{dim}D K={depth} F={f} {act} {v}: "
                     f"{ci_text(f'max |log10 ratio| at k=1..{early[-1]}', ci)}, "
                     f"{len(kept)}/{len(res)} seeds learned")
    return [Section(POOLING_ORIGIN, claims=(Claim(
        "Channel-summed nets keep the trained net's D_k in the early layers (within a factor "
        f"{KEEP:g})", combine(votes), "; ".join(parts)),))]


INIT_VS_TRAINED = Study(fig2_init_vs_trained.ID, fig2_init_vs_trained.CAPTION,
                        plan_init_vs_trained, draw_init_vs_trained)
TRAINED_CLAIMS = Study("trained_claims", None, plan_trained_claims, report=trained_claims)
SPECTRA = Study(fig11_spectra.ID, fig11_spectra.CAPTION, plan_spectra, draw_spectra,
                spectra_claim, extras=("torch",))


#: Relative noise levels of noise-corrupted training (||eta|| = sigma ||x|| on average).
NOISE_SIGMAS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class NoisePlan(Plan):
    """F12: nets trained on noise-corrupted images, at each noise level."""

    cnn: tuple
    deep: tuple = ()


def noise_sigmas(p: Preset) -> tuple:
    """The levels: tiny 2, quick 4, paper all of ``NOISE_SIGMAS``."""
    return (0.0, 0.3) if p.tiny else NOISE_SIGMAS if p.paper else (0.0, 0.1, 0.3, 1.0)


def plan_noise(p: Preset) -> NoisePlan:
    """The recipe net trained for a fixed number of epochs at each sigma (interpolation is not
    reachable at every sigma with fresh noise every epoch): quick 4 levels, 1 seed, 40 epochs;
    paper 6 levels, 3 seeds, 200 epochs; and LeNet on the 2D task (``standard.noise_runs``).
    """
    from dataclasses import replace

    from ..experiments.config import Run
    from ..nn.train import TrainSpec, recipe_net
    from .standard import noise_runs

    n = 256 if p.tiny else 1024
    spec = TrainSpec(n_train=n, n_test=n, stop="epochs",
                     max_epochs=20 if p.tiny else 200 if p.paper else 40)
    net = recipe_net(width=p.width, size=p.train_task.size, depth=p.train_depth)
    seeds = range(3 if p.paper else 1)
    cnn = tuple(Run("train", p.train_task, net, probe=p.probe_trained, seed=s,
                    train=replace(spec, train_noise=sigma))
                for sigma in noise_sigmas(p) for s in seeds)
    return NoisePlan(cnn, noise_runs(p, noise_sigmas(p), seeds))


def draw_noise(out_dir, plan: NoisePlan, results: Results):
    """F12 from its plan (the standard CNN's row only when its runs have finished)."""
    from ..plots import fig12_noise

    return fig12_noise.render(out_dir, results.all(plan.cnn), results.of(plan.deep))


def _probe_interval(result) -> tuple[float, float, float, int]:
    """Normal interval of log10 R_out trained/init from one net's probe standard errors."""
    from scipy.stats import norm

    logs, var = 0.0, 0.0
    for sens, sign in ((result.record.trained, 1), (result.record.init, -1)):
        r, se = sens.output("R"), sens.output("R_se")
        logs += sign * math.log10(r)
        var += (se / (r * math.log(10))) ** 2 if np.isfinite(se) else math.inf
    half = norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(var)
    return logs, logs - half, logs + half, 1


def _noise_level(results: list, name: str) -> tuple[str | None, str]:
    """Verdict and evidence at one noise level (None: the nets did not learn)."""
    sigma = results[0].run.train.train_noise
    err = float(np.mean([r.record.test_error for r in results]))
    if err >= LEARNED_TEST_ERROR:
        return None, f"{name} sigma={sigma:g}: test error {err:.3f}, not learned"
    logs = [math.log10(r.record.trained.output("R") / r.record.init.output("R"))
            for r in results]
    ci = interval(logs) if len(results) > 1 else _probe_interval(results[0])
    text = ci_text("log10 R_out trained/init", ci) if len(results) > 1 else (
        f"log10 R_out trained/init = {ci[0]:.2f}, {CONFIDENCE:.0%} CI [{ci[1]:.2f}, "
        f"{ci[2]:.2f}] from the probe s.e. (1 seed)")
    return verdict(-ci[2], -ci[1]), f"{name} sigma={sigma:g}: test error {err:.3f}, {text}"


def noise_claim(plan: NoisePlan, results: Results) -> list[Section]:
    """R of the output is below its initial value at every sigma where the test error < 10%:
    per net and level, the confidence interval of log10 R_out(trained) / R_out(init) lies below
    0 (a t interval over seeds, or with one seed the normal interval of the probe estimate).
    """
    levels: dict = {}
    for name, runs in (("CNN", plan.cnn), (None, plan.deep)):
        for r in results.of(runs):
            levels.setdefault((name or r.run.train.arch, r.run.train.train_noise), []).append(r)
    if not levels:
        return []
    votes, parts = [], []
    for (name, _), res in sorted(levels.items()):
        v, text = _noise_level(res, name)
        votes += [v] if v is not None else []
        parts.append(text)
    return [Section(POOLING_ORIGIN, claims=(Claim(
        "R of the output is below its initial value at every sigma where test error < 10%",
        combine(votes), "; ".join(parts)),))]


def plan_channel_sum(p: Preset) -> TrainedPlan:
    """Every numba net trained on clean images (their channel-summed measurement)."""
    from .pooling import trained_2d

    runs = (trained(p, "relu") + trained_2d(p) + trained(p, "tanh") + filter4(p)
            + plan_width(p).trained + plan_xi(p).trained)
    return TrainedPlan(tuple({r.key: r for r in runs}.values()))


@dataclass(frozen=True)
class WidthPlan(Plan):
    """F14: the pooling theory of the recipe task (with its Monte Carlo check) and trained ReLU
    nets of several widths.
    """

    theory: tuple
    pooling: tuple
    trained: tuple


def _theory_of(p: Preset, task) -> tuple:
    """The pooling net of the recipe geometry on *task*: theory and its Monte Carlo check."""
    from .preset import pooling_spec, theory_and_mc

    return theory_and_mc(task, pooling_spec(1, task.size, p.train_depth, 2, 2),
                         2000 if p.tiny else 20_000, seed=4)


def plan_width(p: Preset) -> WidthPlan:
    """Widths: quick 64 (the F2 runs) and 128 (about 80 CPU-s per seed), 2 seeds; paper 32 to
    256 (10 seeds, 4 at width 256: about 4 CPU-minutes each; the cost grows like the width
    squared, so width 1000 would take about an hour per seed); tiny 8 and 16.
    """
    widths = (8, 16) if p.tiny else (32, 64, 128, 256) if p.paper else (64, 128)
    runs = ()
    for w in widths:
        runs += trained(p, "relu", width=w)[:4 if p.paper and w >= 256 else
                                            10 if p.paper else 2]
    theory, pooling = _theory_of(p, p.train_task)
    return WidthPlan((theory,), (pooling,), runs)


def plan_xi(p: Preset) -> WidthPlan:
    """xi: quick 32 (2 seeds, the F2 runs) and 16 (1 seed); paper 8 to 64, 10 seeds; tiny 4, 8."""
    from dataclasses import replace

    xis = (4, 8) if p.tiny else (8, 16, 32, 64) if p.paper else (16, 32)
    theory, pooling, runs = (), (), ()
    for xi in xis:
        task = replace(p.train_task, xi=xi)
        t, m = _theory_of(p, task)
        theory, pooling = theory + (t,), pooling + (m,)
        n = 10 if p.paper else 2 if xi == p.train_task.xi else 1
        runs += trained(p, "relu", task)[:n]
    return WidthPlan(theory, pooling, runs)


def plan_distances(p: Preset) -> WidthPlan:
    """Every trained 1D ReLU recipe net of F2, F14 and F15, with the theory of each task."""
    xi = plan_xi(p)
    runs = trained(p, "relu") + plan_width(p).trained + xi.trained
    return WidthPlan(xi.theory, xi.pooling, tuple({r.key: r for r in runs}.values()))


def width_distances(plan: WidthPlan, results: Results) -> list[Section]:
    """Per task and width: RMS log10 distance of the channel-averaged D_k and G_k of the trained
    nets to the pooling theory of their task (``plots._trained.log_distance``), mean +- s.e.
    over seeds.
    """
    from ..experiments.stats import mean_se
    from ..plots._trained import log_distance

    theory = {t.task: results[t] for t in plan.theory if t in results}
    done = [r for r in results.of(plan.trained) if r.run.task in theory]
    rows = []
    for task in sorted({r.run.task for r in done}, key=lambda t: t.xi):
        th = theory[task].record.sens
        for w in sorted({r.run.net.width for r in done if r.run.task == task}):
            sens = [r.record.channel_mean for r in done
                    if r.run.task == task and r.run.net.width == w]
            rows.append((f"N={task.size} xi={task.xi:g} K={theory[task].run.net.depth}", w,
                         len(sens),
                         *mean_se([log_distance(s, th, "D") for s in sens], finite=True),
                         *mean_se([log_distance(s, th, "G") for s in sens], finite=True)))
    if not rows:
        return []
    return [Section("Trained networks against the pooling theory", (
        "Distance of the channel-averaged D_k and G_k of trained 1D ReLU CNNs to the idealized "
        "pooling net's exact values: RMS over the layers below the block scale of "
        "log10(trained / theory), mean +- s.e. over seeds (0.3 is a typical factor of 2).",),
        (Table(("task", "width", "seeds", "D distance", "D s.e.", "G distance", "G s.e."),
               tuple(rows)),))]


def draw_width(out_dir, plan: WidthPlan, results: Results):
    """F14 from its plan."""
    from ..plots import fig14_width

    return fig14_width.render(out_dir, results[plan.theory[0]], results.all(plan.trained))


def draw_xi(out_dir, plan: WidthPlan, results: Results):
    """F15 from its plan."""
    from ..plots import fig15_xi

    return fig15_xi.render(out_dir, results.all(plan.theory), results.all(plan.trained))
