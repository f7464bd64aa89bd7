"""F1 — task gallery: every shape and rule, clean and perturbed (shift, maxent, matched noise).

Usage: python analysis/fig1_gallery.py [--quick] [--preset tiny|quick|paper]
       [--out DIR] [--cache DIR] [--workers N]

Computed directly from the library (no experiment runs; the preset, cache and worker options
are accepted for uniformity and ignored); writes
``fig1_gallery.png``, ``.pdf`` and
``.json`` (the plotted numbers) into OUT (default ``figures``).
"""

import sys
from pathlib import Path

from scaledetect.plots import make
from scaledetect.plots._script import parse_args

FIG_ID = "fig1_gallery"


def main(out_dir="figures", quick=False, preset=None, cache_dir=None, workers=1,
         progress=True) -> list[Path]:
    """Build and draw fig1_gallery; return the written files. *preset* overrides *quick*."""
    name = preset or ("quick" if quick else "paper")
    return make(FIG_ID, out_dir, preset=name, cache_dir=cache_dir, workers=workers,
                progress=progress)


if __name__ == "__main__":
    for path in main(**parse_args(__doc__, sys.argv[1:])):
        print(path)
