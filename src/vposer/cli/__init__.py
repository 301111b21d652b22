"""The ``vposer`` command.

Each sub-command lives in its own module of this package (``vposer/cli/<name>.py``) that defines
``register(subparsers)``; modules are discovered automatically, in alphabetical order, and keep
heavy imports inside their handlers so ``vposer --help`` stays fast.

Exit codes: 0 success, 1 a failure (bad input, unreadable file, ...), 2 a usage error.
Errors are printed on stderr as one line; ``--debug`` (or ``VPOSER_DEBUG=1`` in the environment)
adds the traceback. An unexpected exception raised while a file was being read names the file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence

from ..errors import VPoserError, file_of
from ._common import expand_path_args

EPILOG = """examples:
  vposer sample -n 10 --seed 0 -o poses.npz        sample 10 body poses with the default model
  vposer info PATH                                  describe a VPoser checkpoint or release folder
  vposer convert PATH -o model_dir                  convert a release to the native format
run 'vposer COMMAND --help' for the options of one command."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="vposer",
        description="VPoser, the variational human body-pose prior: sample, encode, decode, "
        "convert, render and train.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vposer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        expand_path_args(args)
        result = args.func(args)
        return int(result or 0)
    except VPoserError as exc:
        if _debug(args):
            traceback.print_exc()
        print(f"vposer {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into a program that stopped reading (head, less)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:  # Ctrl-C (130), or SIGTERM where a command catches it (143)
        sigterm = getattr(exc, "signal_name", "") == "SIGTERM"
        hint = getattr(exc, "hint", "")
        print(f"vposer {args.command}: {'stopped by SIGTERM' if sigterm else 'interrupted'}"
              f"{'; ' + hint if hint else ''}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        if _debug(args):
            traceback.print_exc()
        where = file_of(exc)
        print(
            f"vposer {args.command}: error: "
            + (f"{where}: unexpected error while reading this file: " if where else "")
            + f"{type(exc).__name__}: {_one_line(exc)} (a bug in vposer; run with --debug or "
            "VPOSER_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


def _debug(args: argparse.Namespace) -> bool:
    """Tracebacks wanted: ``--debug``, or ``VPOSER_DEBUG`` set to anything but empty or 0."""
    import os

    return bool(getattr(args, "debug", False)) or os.environ.get("VPOSER_DEBUG", "") not in ("", "0")


def _one_line(exc: BaseException, limit: int = 2000) -> str:
    """The exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split("\n"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
