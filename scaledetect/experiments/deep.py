"""Standard architectures in the experiments layer: the ``deep`` run kind and its presets (F9, F10).

A ``deep`` run trains one architecture on the two-point task (``DEEP_TASK``) with
``deep.train.train_arch`` and measures D, G, R at every node of its forward pass
(``deep.layers.measure_module``) three times: at initialization, trained (the best-test model)
and trained with channels shuffled (mode 1, ``diagnostics.shuffle``). Its ``Run.train`` holds the
``DeepTrainSpec`` fields (``arch``, ``width_factor``, ...); ``Run.net`` is ``None``.

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

import numpy as np

from ..sensitivity.result import depth_profile
from ..tasks.spec import TaskSpec
from .config import Run
from .stats import LEARNED_TEST_ERROR, below, ci_text, combine, interval, verdict

#: Petrini et al.'s two-point task: side 28, xi 14, gap 2, L2 distance, image mean 1.
DEEP_TASK = TaskSpec(dim=2, size=28, rule="distance", xi=14, gap=2, norm="l2", amplitude="mean")
#: The architectures F10 draws layer by layer (those of the paper's layer-wise figure).
LAYERWISE = ("vgg11", "vgg11bn", "vgg13bn", "lenet")
PAPER_ARCHS = ("vgg11", "vgg11bn", "vgg13bn", "vgg16bn", "vgg19bn", "resnet18", "resnet34",
               "resnet50", "alexnet", "lenet", "efficientnetb0")


def deep_runs(name: str) -> list[Run]:
    """The ``deep`` runs of preset *name* (``tiny``, ``quick`` or ``paper``).

    ``tiny``: LeNet at width 1/2, 256 points, 3 epochs, 1 seed (seconds, for tests).
    ``quick``: LeNet (width 1), VGG11 (1/4), ResNet18 (1/8); 2 seeds, 1024 points, 20 epochs
    (each reached < 1% (VGG, ResNet) and ~4-6% (LeNet) test error on both seeds), 512 probes.
    ``paper``: every architecture at width 1, 10 seeds, 300 epochs, 1024 probes.
    """
    if name == "tiny":
        archs, seeds, probe = (("lenet", 0.5),), range(1), 128
        train = {"n_train": 256, "n_test": 256, "epochs": 3}
    elif name == "quick":
        archs, seeds, probe = (("lenet", 1.0), ("vgg11", 0.25), ("resnet18", 0.125)), range(2), 512
        train = {"n_train": 1024, "n_test": 1024, "epochs": 20}
    else:
        archs, seeds, probe = tuple((a, 1.0) for a in PAPER_ARCHS), range(10), 1024
        train = {"n_train": 1024, "n_test": 1024, "epochs": 300}
    return [Run("deep", DEEP_TASK, None, probe=probe, seed=s,
                train={**train, "arch": a, "width_factor": w}, tag=a)
            for a, w in archs for s in seeds]


def deep_presets(name: str) -> dict[str, list[Run]]:
    """``{"fig9_architectures": [...], "fig10_layers": [...]}`` for preset *name*; empty without
    PyTorch (the optional backend these runs need), so the other figures still reproduce.
    """
    if importlib.util.find_spec("torch") is None:
        return {}
    runs = deep_runs(name)
    return {"fig9_architectures": runs,
            "fig10_layers": [r for r in runs if r.train["arch"] in LAYERWISE]}


def execute_deep(run: Run) -> dict:
    """Train and measure one ``deep`` run; return its JSON result (see the module docstring).

    Result keys: ``init``, ``trained``, ``shuffled`` (``Sensitivities.to_dict()`` with layer
    names and relative depths), ``history`` (``training.TrainHistory.to_dict()``) and
    ``spectra`` (``{"init", "trained"}``: ``diagnostics.spectrum.spectra`` of every conv layer as
    ``LayerSpectrum.to_dict()``; F11).
    """
    import torch

    from ..deep.layers import measure_module
    from ..deep.train import DeepTrainSpec, train_arch
    from ..diagnostics.shuffle import shuffle_channels
    from ..diagnostics.spectrum import spectra

    out = train_arch(run.task, DeepTrainSpec(**run.train), rng=run.seed, progress=False,
                     threads=1)

    def measured(module) -> dict:
        # probes with a seed of their own, independent of the training data; one thread, as
        # the runner's workers share the cores
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return measure_module(module, task=run.task, pert=run.pert, probe=run.probe,
                                  rng=10_000 + run.seed).to_dict()
        finally:
            torch.set_num_threads(before)

    return {"init": measured(out.init), "trained": measured(out.model),
            "shuffled": measured(shuffle_channels(out.model, 1, rng=run.seed)),
            "history": out.history.to_dict(),
            "spectra": {w: [x.to_dict() for x in spectra(m)]
                        for w, m in (("init", out.init), ("trained", out.model))}}


#: "R trained << init": log10 of R_out(trained) / R_out(init) below log10 of this.
R_DROP = 0.5
#: "D falls with depth": late / early D below this.
D_FALL = 0.7
#: Shuffled D_k "unchanged" within a factor KEEP of the trained D_k.
KEEP = 1.5


def _profile(result: dict, which: str, q: str):
    return depth_profile(result[which], q)[:2]


def _by_arch(runs, results) -> dict:
    """``{arch: [results of the seeds that learned]}`` of the F9/F10 runs, and
    ``{arch: "n/m seeds learned"}`` (noise-corrupted training has rows of its own).
    """
    out: dict = {}
    for r in runs:
        if r.kind == "deep" and r.key in results and "train_noise" not in r.train:
            out.setdefault(r.train["arch"], {})[r.key] = results[r.key]
    groups, learned = {}, {}
    for arch, d in out.items():
        res = [x for x in d.values() if x["history"]["test_error"] < LEARNED_TEST_ERROR]
        groups[arch], learned[arch] = res, f"{len(res)}/{len(d)} seeds learned"
    return groups, learned


def _claim(text: str, groups: dict, learned: dict, per_seed, threshold: float,
           name: str) -> tuple[str, str, str]:
    """Per architecture, the verdict on "mean of per_seed(result) < threshold" over the seeds
    that learned; the claim holds if it holds for every architecture (``stats.combine``).
    """
    votes, parts = [], []
    for arch, res in groups.items():
        v, ci = below([per_seed(x) for x in res], threshold)
        votes.append(v)
        parts.append(f"{arch} {v}: {ci_text(name, ci)}, {learned[arch]}")
    return text, combine(votes), "; ".join(parts)


def _late_early(x: dict, which: str) -> float:
    """log10 of mean D at depth >= 0.75 over mean D at depth <= 0.25 (0 < depth < 1)."""
    d, v = _profile(x, which, "D")
    inner = (d > 0) & (d < 1)
    return math.log10(np.nanmean(v[inner & (d >= 0.75)]) / np.nanmean(v[inner & (d <= 0.25)]))


def _shuffle_log_ratios(x: dict) -> tuple[np.ndarray, np.ndarray]:
    """log10 shuffled / trained D_k over the first half (0 < depth <= 0.5) and the second."""
    d, shuffled = _profile(x, "shuffled", "D")
    r = np.log10(shuffled / _profile(x, "trained", "D")[1])
    return r[(d > 0) & (d <= 0.5)], r[d > 0.5]


def shuffle_claim(groups: dict, learned: dict) -> tuple[str, str, str]:
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
    return ("Shuffling channels leaves D_k of the first half unchanged (within a factor "
            f"{KEEP:g}) and raises it in the second half", combine(votes), "; ".join(parts))


def deep_claims(runs, results: dict) -> list[tuple[str, str, str]]:
    """The report rows on standard CNNs (empty without ``deep`` results): yes / no /
    inconclusive from confidence intervals over the seeds that learned (``stats``).
    """
    groups, learned = _by_arch(runs, results)
    if not groups:
        return []
    return [
        _claim(f"R of the output: trained below {R_DROP:g} x init for every architecture",
               groups, learned, lambda x: math.log10(_profile(x, "trained", "R")[1][-1]
                                                     / _profile(x, "init", "R")[1][-1]),
               math.log10(R_DROP), "log10 R_out trained/init"),
        _claim(f"After training D_k falls with depth (last quarter of the nodes below {D_FALL:g}"
               " x the first quarter)", groups, learned, lambda x: _late_early(x, "trained"),
               math.log10(D_FALL), "log10 D late/early"),
        shuffle_claim(groups, learned)]
