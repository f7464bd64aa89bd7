"""F3 — strided pooling (s = F): theory vs pooling-net Monte Carlo vs trained nets, dim 1 and 2.

Usage: ``python analysis/fig3_strided.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig3_strided.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig3_strided"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
