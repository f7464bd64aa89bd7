"""F1 — task gallery: every shape and rule, clean and perturbed (shift, maxent, matched noise).

Usage: ``python analysis/fig1_gallery.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig1_gallery.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig1_gallery"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
