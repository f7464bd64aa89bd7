"""The ``deep`` run kind: a standard architecture trained with PyTorch and measured node by node.

A ``deep`` run trains ``run.train.arch`` on the run's task with ``deep.train.train_arch`` and
measures D, G, R at every node of its forward pass (``deep.layers.measure_module``) three times:
at initialization, trained (the best-test model) and trained with channels shuffled (mode 1,
``diagnostics.shuffle``), with the filter spectra of both nets (F11).
"""

from .compute import PROBE_SEED_OFFSET
from .records import DeepTrained, FilterStats


def run_deep(run, workdir=None, on_epoch=None) -> DeepTrained:
    """Train and measure one ``deep`` run (one torch thread: the runner's workers share the
    cores).
    """
    import torch

    from ..deep.layers import measure_module
    from ..deep.train import train_arch
    from ..diagnostics.shuffle import shuffle_channels

    out = train_arch(run.task, run.train, rng=run.seed, progress=False, threads=1)

    def measured(module):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return measure_module(module, task=run.task, pert=run.pert, probe=run.probe,
                                  rng=PROBE_SEED_OFFSET + run.seed)
        finally:
            torch.set_num_threads(before)

    return DeepTrained(init=measured(out.init), trained=measured(out.model),
                       shuffled=measured(shuffle_channels(out.model, 1, rng=run.seed)),
                       history=out.history, filters_init=FilterStats.of(out.init, False),
                       filters_trained=FilterStats.of(out.model, False))
