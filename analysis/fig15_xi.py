"""F15 — xi sweep: the layer where trained CNNs lose D_k tracks log_s(xi).

Usage: ``python analysis/fig15_xi.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig15_xi.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig15_xi"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
