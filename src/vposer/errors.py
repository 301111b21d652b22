"""The package's exception types.

Every error raised on bad input is a :class:`VPoserError` subclass whose message names the file
(where there is one) and the problem, so the CLI can print it on one line and exit non-zero.
"""
from __future__ import annotations

import os
from typing import Optional, Union

PathLike = Union[str, os.PathLike]


class VPoserError(Exception):
    """Base class of every error this package raises on purpose.

    Args:
        message: what is wrong, in one sentence.
        path: the file or directory concerned, if any; it is put in front of the message.
    """

    def __init__(self, message: str, path: Optional[PathLike] = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


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
