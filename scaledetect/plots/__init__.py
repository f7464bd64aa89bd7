"""Figures: one module per figure, each with ``render(out_dir, runs, results, arrays_of)``.

Every ``render`` draws theory as lines and simulation as markers with error bars and writes
``<id>.png``, ``<id>.pdf`` and ``<id>.json`` (the plotted numbers) atomically into ``out_dir``,
returning those three paths. Arguments:

- ``runs``: the figure's ``Run`` list, ``experiments.preset(name)[id]`` (ignored by F1 and F7,
  which compute what they show directly);
- ``results``: ``{run.key: result}`` as returned by ``experiments.run_all``;
- ``arrays_of``: ``key -> {name: ndarray}`` giving a run's cached arrays, e.g.
  ``lambda key: cache.get(key)[1]`` (used by F11).

``figures_index()`` maps each figure id to its render function and a one-sentence caption;
``make(id, out_dir, preset=...)`` runs the figure's experiments through the cache and draws it.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import require_choice
from ..extras import missing_message
from . import (
    fig1_gallery,
    fig2_init_vs_trained,
    fig3_strided,
    fig4_unstrided,
    fig5_relu_vs_tanh,
    fig7_pileup,
    fig8_maxent,
    fig9_architectures,
    fig10_layers,
    fig11_spectra,
    fig12_noise,
    fig13_scaling,
    fig14_width,
    fig15_xi,
)


@dataclass(frozen=True)
class FigureInfo:
    """One figure of the reproduction.

    Attributes
    ----------
    id : str
        File stem and key in ``experiments.preset(...)`` (when ``needs_runs``).
    render : callable
        ``render(out_dir, runs, results, arrays_of) -> [png, pdf, json]``.
    caption : str
        One sentence saying what the figure shows.
    needs_runs : bool
        False for figures computed directly (F1 gallery, F7 pile-up).
    """

    id: str
    render: Callable
    caption: str
    needs_runs: bool


_MODULES = (fig1_gallery, fig2_init_vs_trained, fig3_strided, fig4_unstrided, fig5_relu_vs_tanh,
            fig7_pileup, fig8_maxent, fig9_architectures, fig10_layers, fig11_spectra,
            fig12_noise, fig13_scaling, fig14_width, fig15_xi)
_NO_RUNS = (fig1_gallery.ID, fig7_pileup.ID)


def figures_index() -> dict[str, FigureInfo]:
    """Every figure, in order: ``{id: FigureInfo(id, render, caption, needs_runs)}``."""
    return {m.ID: FigureInfo(m.ID, m.render, m.CAPTION, m.ID not in _NO_RUNS) for m in _MODULES}


FIGURES = tuple(m.ID for m in _MODULES)

#: Figures holding standard CNNs (``deep`` runs, PyTorch): without the ``torch`` extra F9 and F10
#: are drawn empty and F11, F12 without their standard-CNN panels.
WITH_STANDARD_CNNS = (fig9_architectures.ID, fig10_layers.ID, fig11_spectra.ID, fig12_noise.ID)


def without_torch_note(fig_ids) -> str:
    """One line: *fig_ids* are drawn without their standard CNNs, and how to install PyTorch."""
    return missing_message("torch", f"the standard CNNs of {', '.join(fig_ids)}", "need") + \
        "; drawn without them"


def make(fig_id: str, out_dir="figures", preset: str = "quick", cache_dir=None,
         workers: int = 1, executor: str = "local", scheduler: str | None = None,
         progress: bool = True) -> list[Path]:
    """Run one figure's experiments (cached, resumable) and draw it.

    Parameters
    ----------
    fig_id : str
        One of ``FIGURES``.
    out_dir : path
        Where ``<fig_id>.png/.pdf/.json`` go.
    preset : str
        ``tiny``, ``quick`` or ``paper`` (see ``experiments.preset``).
    cache_dir : path, optional
        Results cache; default ``out_dir/.cache`` (share one between figures to reuse runs).
    workers, executor, scheduler, progress
        Passed to ``experiments.run_all``.

    Returns
    -------
    list of Path
        The files written.
    """
    from ..experiments import Cache, run_all
    from ..experiments import preset as get_preset

    require_choice("fig_id", fig_id, FIGURES)
    info = figures_index()[fig_id]
    runs, results, arrays_of = [], {}, None
    if info.needs_runs:
        per_figure = get_preset(preset)
        if fig_id in WITH_STANDARD_CNNS and fig9_architectures.ID not in per_figure:
            print(without_torch_note([fig_id]), file=sys.stderr)  # no standard-CNN runs: no torch
        runs = per_figure.get(fig_id, [])
        cache = Cache(Path(cache_dir) if cache_dir is not None else Path(out_dir) / ".cache")
        results = run_all(runs, cache, workers=workers, executor=executor, scheduler=scheduler,
                          progress=progress)

        def arrays_of(key):
            return cache.get(key)[1]

    return info.render(out_dir, runs, results, arrays_of)


__all__ = ["FIGURES", "WITH_STANDARD_CNNS", "FigureInfo", "figures_index", "make",
           "without_torch_note"]
