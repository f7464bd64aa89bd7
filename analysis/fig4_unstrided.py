"""F4 — unstrided pooling (s = 1): theory vs pooling-net Monte Carlo, log-log, dim 1 and 2.

Usage: ``python analysis/fig4_unstrided.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig4_unstrided.png``, ``.pdf`` and ``.json`` (the plotted numbers) into
OUT (default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig4_unstrided"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
