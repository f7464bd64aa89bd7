"""F8 — max-entropy diffeomorphisms on blobs: examples at several temperatures and D_k vs T.

Usage: ``python analysis/fig8_maxent.py [--quick] [--preset P] [--out DIR] [--cache DIR] [--workers
N]``. Writes ``fig8_maxent.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT (default
``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig8_maxent"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
