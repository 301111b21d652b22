"""The package's exception types.

Every error raised on bad input is a :class:`VPoserError` subclass whose message names the file
(where there is one) and the problem, so the CLI can print it on one line and exit non-zero.
"""
from __future__ import annotations

import functools
import os
import re
from typing import Any, TypeVar
from collections.abc import Callable

from ._types import PathLike

_F = TypeVar("_F", bound=Callable[..., Any])

#: The longest problem an error states (values quoted from a damaged file are cut to fit).
MAX_MESSAGE = 1000
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(text: Any, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line of at most ``limit`` characters: control characters (newlines,
    carriage returns, NULs, which a damaged file can put into a quoted name) are escaped as
    ``\\n``, ``\\x00``, ..., and a longer text is cut with a note of how much was left out."""
    line = _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], str(text))
    if len(line) > limit:
        line = f"{line[:limit - 40]}... ({len(line) - limit + 40} more characters)"
    return line


class VPoserError(Exception):
    """Base class of every error this package raises on purpose.

    Args:
        message: what is wrong, in one sentence.
        path: the file or directory concerned, if any; it is put in front of the message.
    """

    def __init__(self, message: str, path: PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = one_line(message)
        where = one_line(self.path, MAX_MESSAGE) if self.path else ""
        super().__init__(f"{where}: {self.problem}" if where else self.problem)


class CheckpointError(VPoserError):
    """A checkpoint or release directory cannot be read: missing, corrupt, unsafe or foreign."""


class UnsafePickleError(CheckpointError):
    """A pickle tried to call or import something outside the allow-list."""


class ConfigError(VPoserError):
    """A configuration file or value is invalid."""


class BodyModelError(VPoserError):
    """A body-model file or its parameters are invalid."""


class InputError(VPoserError):
    """An argument (pose array, latent code, ...) has the wrong shape, dtype or values."""


class Interrupted(KeyboardInterrupt):
    """Work stopped by a signal after keeping what was finished.

    Args:
        signal_name: ``'SIGINT'`` (Ctrl-C; exit code 130) or ``'SIGTERM'`` (143).
        hint: what to do next (``'resume with --resume'``), or empty.
    """

    def __init__(self, signal_name: str = "SIGINT", hint: str = ""):
        super().__init__(signal_name)
        self.signal_name, self.hint = signal_name, hint

    @property
    def exit_code(self) -> int:
        return 143 if self.signal_name == "SIGTERM" else 130


class OutputError(VPoserError):
    """An output file cannot be written there: a missing or unwritable folder, a directory in
    the way, a full disk, a format the writer cannot store."""


def file_of(exc: BaseException) -> str | None:
    """The file a reader was reading when ``exc`` (not a :class:`VPoserError`) escaped it, as
    recorded by :func:`reads_file`; None when unknown."""
    return getattr(exc, "vposer_file", None)


def reads_file(function: _F) -> _F:
    """Decorate a file reader whose first argument is the path it reads: an unexpected exception
    (anything but a :class:`VPoserError`, which names its file already) leaving it gets the path
    as its ``vposer_file`` attribute, so the CLI can name the file in one line (a bug to report,
    not a traceback; ``--debug`` or ``VPOSER_DEBUG=1`` shows the traceback). The innermost
    reader's path is kept."""

    @functools.wraps(function)
    def read(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except VPoserError:
            raise
        except Exception as exc:
            if args and file_of(exc) is None:
                try:
                    exc.vposer_file = os.fspath(args[0])  # type: ignore[attr-defined]
                except (TypeError, AttributeError):  # not a path, or an exception without a dict
                    pass
            raise

    return read  # type: ignore[return-value]
