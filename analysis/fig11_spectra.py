"""F11 — filter spectra per layer (constant-mode share, power per Laplacian mode), trained vs init.

Usage: ``python analysis/fig11_spectra.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig11_spectra.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig11_spectra"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
