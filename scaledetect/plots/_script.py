"""Command-line parsing shared by the ``analysis/fig_*.py`` scripts."""

import argparse

from ..experiments.presets import PRESETS


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
