"""F7 — noise pile-up (teaching figure): rectified noise keeps its mean under pooling, tanh not.

Usage: python analysis/fig7_pileup.py [--quick] [--preset tiny|quick|paper]
       [--out DIR] [--cache DIR] [--workers N]

Computed directly from the library (no experiment runs; the preset, cache and worker options
are accepted for uniformity and ignored); writes
``fig7_pileup.png``, ``.pdf`` and
``.json`` (the plotted numbers) into OUT (default ``figures``).
"""

import sys
from pathlib import Path

from scaledetect.plots import make
from scaledetect.plots._script import parse_args

FIG_ID = "fig7_pileup"


def main(out_dir="figures", quick=False, preset=None, cache_dir=None, workers=1,
         progress=True) -> list[Path]:
    """Build and draw fig7_pileup; return the written files. *preset* overrides *quick*."""
    name = preset or ("quick" if quick else "paper")
    return make(FIG_ID, out_dir, preset=name, cache_dir=cache_dir, workers=workers,
                progress=progress)


if __name__ == "__main__":
    for path in main(**parse_args(__doc__, sys.argv[1:])):
        print(path)
