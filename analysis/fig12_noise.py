"""F12 — noise-corrupted training: test error and the output's D, G, R against sigma, trained/init.

Usage: ``python analysis/fig12_noise.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig12_noise.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig12_noise"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
