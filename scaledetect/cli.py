"""Command line: ``scaledetect <command> ...`` (SPEC section 7). Each command lives in
``scaledetect/commands/<name>.py`` with ``add_arguments(parser)`` and ``run(args) -> int``.
"""

import argparse
import importlib
import importlib.util
import sys

from .errors import ScaleDetectError

COMMANDS = {
    "data": "generate a scale-detection data set (and optionally show examples)",
    "theory": "exact predictions of D_k, G_k, R_k for the idealized pooling net",
    "sensitivity": "measure D_k, G_k, R_k of a pooling net or a saved model",
    "train": "train a CNN on a scale-detection task",
    "predict": "every layer's representation of a saved model on input images",
    "reproduce": "run every experiment, render the figures and the report",
    "bench": "time the numba engine against PyTorch",
    "spectrum": "filter spectra of a saved model: power on each grid-Laplacian mode",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per command."""
    parser = argparse.ArgumentParser(prog="scaledetect", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_ in COMMANDS.items():
        if importlib.util.find_spec(f"{__package__}.commands.{name}") is None:
            continue  # command not built in this checkout
        module = importlib.import_module(f".commands.{name}", __package__)
        p = sub.add_parser(name, help=help_, description=help_)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, turn a ``ScaleDetectError`` into one line on stderr and status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args._run(args) or 0
    except BrokenPipeError:  # e.g. `scaledetect theory --json | head`: the reader left
        sys.stderr.close()
        return 0
    except (ScaleDetectError, OSError) as err:
        print(f"scaledetect {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
