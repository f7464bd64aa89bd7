"""F14 — width convergence: channel-averaged trained CNNs against the pooling theory.

Usage: ``python analysis/fig14_width.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig14_width.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig14_width"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
