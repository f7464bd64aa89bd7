"""Standard CNNs (PyTorch) on the two-point task: F9, F10 and their claims.

A ``deep`` run trains one architecture on ``DEEP_TASK`` and measures every node of its forward
pass at initialization, trained (the best-test model) and trained with channels shuffled.
Without PyTorch these studies plan no runs, so every other figure still reproduces.

Cost (CPU seconds, measured on 2 heavily loaded cores, 1024 training points, 512 probes): the
quick preset's six runs (LeNet, VGG11 width 1/4, ResNet18 width 1/8; 2 seeds; 20 epochs) took
193 CPU-s in all, training included (LeNet ~4 s, VGG11 ~35 s, ResNet18 ~45 s of training per
run). ``paper`` (11 architectures at width 1, 10 seeds, the authors' 300 epochs) is GPU work:
one SGD step on 128 images costs, on one thread, 1.5 s (VGG11), 4.0 s (ResNet18), 15 s
(ResNet50), 1.4 s (EfficientNetB0), 0.5 s (AlexNet), so 300 epochs of 8 steps are ~1, 2.7, 10,
1 and 0.4 CPU-hours; about 30 CPU-hours per seed over the 11 nets, ~300 for 10 seeds.
"""

import importlib.util
import math
from dataclasses import dataclass

import numpy as np

from ..experiments.config import Run
from ..experiments.report import Claim, Section
from ..experiments.stats import (
    D_FALL,
    KEEP,
    LEARNED_TEST_ERROR,
    R_DROP,
    below,
    ci_text,
    combine,
    interval,
    verdict,
)
from ..plots import fig9_architectures, fig10_layers
from ..tasks.spec import TaskSpec
from .base import Plan, Results, Study
from .preset import Preset

#: Petrini et al.'s two-point task: side 28, xi 14, gap 2, L2 distance, image mean 1.
DEEP_TASK = TaskSpec(dim=2, size=28, rule="distance", xi=14, gap=2, norm="l2", amplitude="mean")
#: The architectures F10 draws layer by layer (those of the paper's layer-wise figure).
LAYERWISE = ("vgg11", "vgg11bn", "vgg13bn", "lenet")
PAPER_ARCHS = ("vgg11", "vgg11bn", "vgg13bn", "vgg16bn", "vgg19bn", "resnet18", "resnet34",
               "resnet50", "alexnet", "lenet", "efficientnetb0")


def has_torch() -> bool:
    """Whether the optional PyTorch backend is installed."""
    return importlib.util.find_spec("torch") is not None


def _spec(**kw):
    from ..deep.spec import DeepTrainSpec

    return DeepTrainSpec(**kw)


def clean_runs(p: Preset) -> tuple:
    """The architectures trained on clean images (none without PyTorch).

    ``tiny``: LeNet at width 1/2, 256 points, 3 epochs, 1 seed (seconds, for tests).
    ``quick``: LeNet (width 1), VGG11 (1/4), ResNet18 (1/8); 2 seeds, 1024 points, 20 epochs
    (each reached < 1% (VGG, ResNet) and ~4-6% (LeNet) test error on both seeds), 512 probes.
    ``paper``: every architecture at width 1, 10 seeds, 300 epochs, 1024 probes.
    """
    if not has_torch():
        return ()
    if p.tiny:
        archs, seeds, probe, n, epochs = (("lenet", 0.5),), range(1), 128, 256, 3
    elif p.paper:
        archs, seeds, probe, n, epochs = tuple((a, 1.0) for a in PAPER_ARCHS), range(10), \
            1024, 1024, 300
    else:
        archs, seeds, probe, n, epochs = (("lenet", 1.0), ("vgg11", 0.25),
                                          ("resnet18", 0.125)), range(2), 512, 1024, 20
    return tuple(Run("deep", DEEP_TASK, probe=probe, seed=s,
                     train=_spec(n_train=n, n_test=n, epochs=epochs, arch=a, width_factor=w))
                 for a, w in archs for s in seeds)


def noise_runs(p: Preset, sigmas, seeds) -> tuple:
    """LeNet on the 2D task at each noise level (none without PyTorch): tiny width 1/2, 256
    points, 3 epochs; quick width 1, 1024 points, 20 epochs (~5 CPU-seconds of training each);
    paper 300 epochs.
    """
    if not has_torch():
        return ()
    kw = {"n_train": 256, "n_test": 256, "epochs": 3, "width_factor": 0.5} if p.tiny else \
        {"n_train": 1024, "n_test": 1024, "epochs": 300 if p.paper else 20, "width_factor": 1.0}
    return tuple(Run("deep", DEEP_TASK, probe=128 if p.tiny else 512, seed=s,
                     train=_spec(**kw, arch="lenet", train_noise=sigma))
                 for sigma in sigmas for s in seeds)


@dataclass(frozen=True)
class DeepPlan(Plan):
    """Standard architectures trained on clean images."""

    deep: tuple


def by_arch(results: list) -> dict:
    """``{arch: [results]}`` in the order they appear."""
    out: dict = {}
    for r in results:
        out.setdefault(r.run.train.arch, []).append(r)
    return out


def plan_architectures(p: Preset) -> DeepPlan:
    """F9: every architecture of the preset."""
    return DeepPlan(clean_runs(p))


def plan_layers(p: Preset) -> DeepPlan:
    """F10: the architectures of the paper's layer-wise figure."""
    return DeepPlan(tuple(r for r in clean_runs(p) if r.train.arch in LAYERWISE))


def draw_architectures(out_dir, plan: DeepPlan, results: Results):
    """F9 from its plan."""
    return fig9_architectures.render(out_dir, by_arch(results.of(plan.deep)))


def draw_layers(out_dir, plan: DeepPlan, results: Results):
    """F10 from its plan."""
    return fig10_layers.render(out_dir, by_arch(results.of(plan.deep)))


def _late_early(sens) -> float:
    """log10 of mean D at depth >= 0.75 over mean D at depth <= 0.25 (0 < depth < 1)."""
    d, v, _ = sens.depth_profile("D")
    inner = (d > 0) & (d < 1)
    return math.log10(np.nanmean(v[inner & (d >= 0.75)]) / np.nanmean(v[inner & (d <= 0.25)]))


def _shuffle_log_ratios(x) -> tuple[np.ndarray, np.ndarray]:
    """log10 shuffled / trained D_k over the first half (0 < depth <= 0.5) and the second."""
    d, shuffled, _ = x.record.shuffled.depth_profile("D")
    r = np.log10(shuffled / x.record.trained.depth_profile("D")[1])
    return r[(d > 0) & (d <= 0.5)], r[d > 0.5]


def _per_arch(text: str, groups: dict, learned: dict, per_seed, threshold: float,
              name: str) -> Claim:
    """Per architecture, "mean of per_seed(result) < threshold" over the seeds that learned;
    the claim holds if it holds for every architecture (``stats.combine``).
    """
    votes, parts = [], []
    for arch, res in groups.items():
        v, ci = below([per_seed(x) for x in res], threshold)
        votes.append(v)
        parts.append(f"{arch} {v}: {ci_text(name, ci)}, {learned[arch]}")
    return Claim(text, combine(votes), "; ".join(parts))


def shuffle_claim(groups: dict, learned: dict) -> Claim:
    """Shuffled / trained D_k: unchanged in the first half of the net, raised in the second.

    Per architecture two verdicts over the seeds that learned: the largest |log10 ratio| of the
    first half below log10 ``KEEP``, and the mean log10 ratio of the second half above 0.
    """
    votes, parts = [], []
    for arch, res in groups.items():
        halves = [_shuffle_log_ratios(x) for x in res]
        kept, kci = below([np.nanmax(np.abs(a)) for a, _ in halves], math.log10(KEEP))
        rci = interval([np.nanmean(b) for _, b in halves])
        raised = verdict(rci[1], rci[2])
        votes.append(combine([kept, raised]))
        parts.append(f"{arch}: first half kept {kept} ({ci_text('max |log10 ratio|', kci)}), "
                     f"second half raised {raised} ({ci_text('mean log10 ratio', rci)}), "
                     f"{learned[arch]}")
    return Claim("Shuffling channels leaves D_k of the first half unchanged (within a factor "
                 f"{KEEP:g}) and raises it in the second half", combine(votes), "; ".join(parts))


def deep_claims(plan: DeepPlan, results: Results) -> list[Section]:
    """The claims on standard CNNs (over the seeds that learned, per architecture)."""
    archs = by_arch(results.of(plan.deep))
    if not archs:
        return []
    groups = {a: [x for x in res if x.record.test_error < LEARNED_TEST_ERROR]
              for a, res in archs.items()}
    learned = {a: f"{len(groups[a])}/{len(res)} seeds learned" for a, res in archs.items()}
    claims = (
        _per_arch(f"R of the output: trained below {R_DROP:g} x init for every architecture",
                  groups, learned, lambda x: math.log10(x.record.trained.output("R")
                                                        / x.record.init.output("R")),
                  math.log10(R_DROP), "log10 R_out trained/init"),
        _per_arch(f"After training D_k falls with depth (last quarter of the nodes below "
                  f"{D_FALL:g} x the first quarter)", groups, learned,
                  lambda x: _late_early(x.record.trained), math.log10(D_FALL),
                  "log10 D late/early"),
        shuffle_claim(groups, learned))
    return [Section("Standard CNNs on the two-point task (F9, F10)", claims=claims)]


ARCHITECTURES = Study(fig9_architectures.ID, fig9_architectures.CAPTION, plan_architectures,
                      draw_architectures, deep_claims, extras=("torch",))
LAYERS = Study(fig10_layers.ID, fig10_layers.CAPTION, plan_layers, draw_layers,
               extras=("torch",))
