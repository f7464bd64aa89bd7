"""Command-line parsing shared by the ``analysis/fig_*.py`` scripts."""

import argparse

from .preset import PRESETS


def parse_args(doc: str, argv: list[str]) -> dict:
    """Parse ``[--quick] [--preset P] [--out DIR] [--cache DIR] [--workers N]`` for ``main``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="use the quick preset (minutes)")
    p.add_argument("--preset", choices=PRESETS, default=None, help="overrides --quick")
    p.add_argument("--out", default="figures", help="output folder (default: figures)")
    p.add_argument("--cache", default=None, help="results cache (default: OUT/.cache)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    a = p.parse_args(argv)
    return {"out_dir": a.out, "quick": a.quick, "preset": a.preset, "cache_dir": a.cache,
            "workers": a.workers}


def figure_main(fig_id: str):
    """The ``main(out_dir, quick=False, ...)`` of ``analysis/<fig_id>.py``.

    It runs the figure's experiments (preset ``paper`` by default, ``quick`` with ``quick=True``,
    or any *preset*) through the results cache (``out_dir/.cache`` unless *cache_dir*), draws the
    figure and returns the written files.
    """

    def main(out_dir="figures", quick=False, preset=None, cache_dir=None, workers=1,
             progress=True):
        from . import make

        name = preset or ("quick" if quick else "paper")
        return make(fig_id, out_dir, preset=name, cache_dir=cache_dir, workers=workers,
                    progress=progress)

    main.__doc__ = f"Build and draw {fig_id}; return the written files. *preset* overrides *quick*."
    return main


def run_script(main, doc: str, argv: list[str]) -> None:
    """Command-line entry of an analysis script: parse *argv*, run *main*, print the files."""
    for path in main(**parse_args(doc, argv)):
        print(path)
