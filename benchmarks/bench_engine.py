"""Time one SGD step of the numba engine against PyTorch (same process, same threads).

Usage: python benchmarks/bench_engine.py [--json] [--threads 2] [--repeats 100] [--no-jit]
Same as ``scaledetect bench``; see ``scaledetect/bench.py`` for what is measured.
"""

import argparse
import sys

from scaledetect.commands import bench as command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
