"""Scale-detection tasks, CNNs in numba, layer-wise sensitivities and their exact theory.

Command line ``scaledetect <command> ...``; each command lives in ``scaledetect/commands/<name>.py``
with ``add_arguments(parser)`` and ``run(args) -> int``, and optionally ``engine(args) -> Engine``,
the engine policy it runs under (default ``Engine()``: numba's thread count, compiling aside, BLAS
single-threaded), installed here once for the whole command.
"""

import argparse
import contextlib
import importlib
import importlib.util
import signal
import sys
import threading

from .engine import Engine
from .extras import extra_of, missing_message

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


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        """Print ``<prog>: error: <message> (see <prog> --help)`` and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per command."""
    parser = _Parser(prog="scaledetect", description=__doc__.splitlines()[0],
                     epilog="Run 'scaledetect <command> --help' for the flags of a command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_ in COMMANDS.items():
        if importlib.util.find_spec(f"{__package__}.commands.{name}") is None:
            continue  # command not built in this checkout
        module = importlib.import_module(f".commands.{name}", __package__)
        p = sub.add_parser(name, help=help_, description=help_)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p, _engine=getattr(module, "engine", None))
    return parser


@contextlib.contextmanager
def _one_interrupt(keep_ignoring: bool):
    """The first Ctrl-C raises ``KeyboardInterrupt``; later ones are ignored while the command
    cleans up (stops its workers, removes temporary files), so that a second Ctrl-C cannot cut
    the clean-up short or print "Exception ignored ... KeyboardInterrupt".

    After an interrupt, SIGINT stays ignored until the process exits when *keep_ignoring*
    (``scaledetect`` run as a program: the interpreter's own shutdown joins threads too);
    otherwise (``main([...])`` called from Python) the previous handler comes back.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield  # not ours to change (another thread, or the caller has its own handler)
        return
    interrupted = []

    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        interrupted.append(True)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if not (interrupted and keep_ignoring):
            signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run; any invalid input becomes one line on stderr and status 2.

    Invalid input is a usage error of the flags, a ``ScaleDetectError`` or other ``ValueError``
    raised by the library, an ``OSError`` (missing or unwritable file), or an ``ImportError`` of
    an optional extra's module (torch, dask) that is not installed. Ctrl-C gives 130.
    """
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra:  # reported by the command's parser, so the message names the command
            args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return stop.code if isinstance(stop.code, int) else 2
    try:
        with _one_interrupt(keep_ignoring=argv is None), \
                (args._engine(args) if args._engine else Engine()):
            return args._run(args) or 0
    except BrokenPipeError:  # e.g. `scaledetect theory --json | head`: the reader left
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"scaledetect {args.command}: interrupted", file=sys.stderr)
        return 130
    except ImportError as err:  # a code path that needs an extra without asking first
        extra = extra_of(err)
        if extra is None:
            raise
        print(f"scaledetect {args.command}: error: {missing_message(extra, args.command)}",
              file=sys.stderr)
        return 2
    except OSError as err:
        what = f"{err.strerror}: {err.filename!r}" if err.filename and err.strerror else err
        print(f"scaledetect {args.command}: error: {what}", file=sys.stderr)
        return 2
    except ValueError as err:  # ScaleDetectError, or a library check (e.g. numpy's on a seed)
        text = " ".join(str(err).split()) or type(err).__name__
        print(f"scaledetect {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
