"""F9 — test error and the output's D, G, R of standard CNNs, trained vs initialization.

Usage: ``python analysis/fig9_architectures.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig9_architectures.png``, ``.pdf`` and ``.json`` (the plotted numbers)
into OUT (default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig9_architectures"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
