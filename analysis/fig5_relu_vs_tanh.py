"""F5 — ReLU vs tanh: noise sensitivity G_k of pooling nets (theory + MC) and of trained CNNs.

Usage: ``python analysis/fig5_relu_vs_tanh.py [--quick] [--preset P] [--out DIR] [--cache DIR]
[--workers N]``. Writes ``fig5_relu_vs_tanh.png``, ``.pdf`` and ``.json`` (the plotted numbers)
into OUT (default ``figures``); finished experiment runs are cached and never redone.
"""

import sys

from scaledetect.studies.script import figure_main, run_script

FIG_ID = "fig5_relu_vs_tanh"
main = figure_main(FIG_ID)

if __name__ == "__main__":
    run_script(main, __doc__, sys.argv[1:])
