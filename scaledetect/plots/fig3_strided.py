"""F3 — strided pooling (s = F): theory vs pooling-net Monte Carlo vs trained nets, dim 1 and 2."""

from pathlib import Path

from ._scaling import render_scaling
from .style import styled

ID = "fig3_strided"
CAPTION = ("Strided pooling (s = F = 2): the closed-form prediction for the idealized pooling net "
           "(lines) matches its Monte Carlo simulation (circles); D_k decays like s^-k while G_k "
           "grows like s^(dim k) as rectified noise piles up, and trained ReLU CNNs (squares) "
           "follow the same trends.")


@styled
def render(out_dir, theory: list, pooling: list, trained: list = ()) -> list[Path]:
    """Draw F3 from the strided pooling nets' theory and Monte Carlo (RunResults) and the
    trained ReLU nets (returns ``[png, pdf, json]``).
    """
    return render_scaling(out_dir, list(theory), list(pooling), list(trained),
                          fig_id=ID, mode="strided", caption=CAPTION,
                          title="F3  Strided pooling: sensitivities vs depth "
                                "(lines: theory; markers: simulation; dotted: scaling guides)")
