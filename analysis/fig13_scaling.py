"""F13 — finite-size scaling: fitted exponents of D_k, G_k against system size, data collapse.

Usage: ``python analysis/fig13_scaling.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig13_scaling.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig13_scaling"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
