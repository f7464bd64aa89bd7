"""F4 — unstrided pooling (s = 1): theory vs pooling-net Monte Carlo, log-log, dim 1 and 2."""

from pathlib import Path

from ._scaling import render_scaling
from .style import styled

ID = "fig4_unstrided"
CAPTION = ("Unstrided pooling (s = 1, F = 2): each layer widens a binomial averaging profile, so "
           "D_k decays only like 1/k while G_k grows like k^(dim/2); the exact prediction "
           "(lines) matches the Monte Carlo simulation (circles) on log-log axes.")


@styled
def render(out_dir, theory: list, pooling: list, trained: list = ()) -> list[Path]:
    """Draw F4 from the unstrided pooling nets' theory and Monte Carlo (RunResults) and the
    trained ReLU nets (returns ``[png, pdf, json]``).
    """
    return render_scaling(out_dir, list(theory), list(pooling), list(trained),
                          fig_id=ID, mode="unstrided", caption=CAPTION,
                          title="F4  Unstrided pooling: sensitivities vs depth, log-log "
                                "(lines: theory; markers: simulation; dotted: scaling guides)")
