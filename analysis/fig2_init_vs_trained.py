"""F2 — D_k, G_k, R_k vs depth for trained ReLU CNNs and the same nets at initialization.

Usage: ``python analysis/fig2_init_vs_trained.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig2_init_vs_trained.png``, ``.pdf`` and ``.json`` (the plotted numbers)
into OUT (default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig2_init_vs_trained"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
