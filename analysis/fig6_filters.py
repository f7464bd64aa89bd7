"""F6 — learned filters: layer-1 filters and the per-layer uniform (pooling) share, before/after.

Usage: ``python analysis/fig6_filters.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig6_filters.png``, ``.pdf`` and ``.json`` (the plotted numbers) into OUT
(default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.plots._script import figure_main, run_script

FIG_ID = "fig6_filters"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
