"""F3 — strided pooling (s = F): theory vs pooling-net Monte Carlo vs trained nets, dim 1 and 2.

Usage: python analysis/fig3_strided.py [--quick] [--preset tiny|quick|paper]
       [--out DIR] [--cache DIR] [--workers N]

Runs the figure's experiments (preset ``paper`` by default, ``quick`` with --quick) through a
results cache in ``OUT/.cache`` (finished runs are never redone) and writes
``fig3_strided.png``, ``.pdf`` and
``.json`` (the plotted numbers) into OUT (default ``figures``).
"""

import sys
from pathlib import Path

from scaledetect.plots import make
from scaledetect.plots._script import parse_args

FIG_ID = "fig3_strided"


def main(out_dir="figures", quick=False, preset=None, cache_dir=None, workers=1,
         progress=True) -> list[Path]:
    """Build and draw fig3_strided; return the written files. *preset* overrides *quick*."""
    name = preset or ("quick" if quick else "paper")
    return make(FIG_ID, out_dir, preset=name, cache_dir=cache_dir, workers=workers,
                progress=progress)


if __name__ == "__main__":
    for path in main(**parse_args(__doc__, sys.argv[1:])):
        print(path)
