"""F10 — D_k, G_k, R_k against relative depth of standard CNNs: init, trained, channels shuffled.

Usage: ``python analysis/fig10_layers.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig10_layers.png``, ``.pdf`` and ``.json`` (the plotted numbers)
into OUT (default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig10_layers"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
