"""F7 — noise pile-up (teaching figure): rectified noise keeps its mean under pooling, tanh not.

Usage: ``python analysis/fig7_pileup.py [--quick] [--preset P] [--out DIR] [--cache DIR] [--workers
N]``. Writes ``fig7_pileup.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT (default
``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig7_pileup"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
