"""``scaledetect bench``: time one SGD step of the numba engine against PyTorch."""

import argparse

from ..errors import require
from ._common import print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--json --threads --repeats --rounds --no-jit``."""
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--threads", type=int, default=2,
                   help="numba and torch threads, measured besides 1 thread (default 2)")
    p.add_argument("--repeats", type=int, default=100,
                   help="timed steps per engine and case (default 100)")
    p.add_argument("--rounds", type=int, default=5,
                   help="alternating numba/torch rounds the repeats are split in (default 5)")
    p.add_argument("--no-jit", dest="jit", action="store_false",
                   help="skip the cold/warm JIT start-up measurement (two subprocesses)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print JSON or a table."""
    import numba

    from .. import bench

    require(args.threads >= 1, "threads", "be >= 1", args.threads)
    require(args.threads <= numba.config.NUMBA_NUM_THREADS, "threads",
            f"be <= NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}", args.threads)
    require(args.repeats >= 1, "repeats", "be >= 1", args.repeats)
    require(args.rounds >= 1, "rounds", "be >= 1", args.rounds)
    result = bench.run(threads=args.threads, repeats=args.repeats, rounds=args.rounds,
                       jit=args.jit)
    if args.json:
        print_json(result)
    else:
        print(bench.table(result))
    return 0
