"""Errors of ``vposer generate``: one clear line naming the file, picklable across processes.

Both are :class:`vposer.errors.VPoserError` subclasses, and this :class:`OutputError` is a
:class:`vposer.errors.OutputError` too, so ``except vposer.OutputError`` catches it.
"""
from __future__ import annotations

import errno
import os
from typing import Any

from .._types import PathLike
from ..errors import OutputError as BaseOutputError
from ..errors import VPoserError

#: errno -> what to tell the user.
OS_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EMFILE: "too many open files",
}


class GenerateError(VPoserError):
    """A generation run cannot go on (settings mismatch, acceptance too low, ...)."""

    def __reduce__(self) -> tuple[Any, ...]:  # keep ``path`` and ``problem`` from a worker process
        return (type(self), (self.problem, self.path))


class OutputError(GenerateError, BaseOutputError):
    """A shard or the manifest cannot be written: disk full, quota, permissions, read-only."""


def os_reason(exc: OSError) -> str:
    """A short, human description of an ``OSError`` (``'no space left on device'``, ...)."""
    if isinstance(exc, PermissionError) and exc.errno is None:
        return "permission denied"
    reason = OS_REASONS.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    name = errno.errorcode.get(exc.errno or -1)
    return f"{reason} ({name})" if name else reason


def output_error(exc: OSError, path: PathLike, doing: str, hint: str | None = None) -> OutputError:
    """An :class:`OutputError` for ``exc`` raised while ``doing`` something to ``path``."""
    message = f"{os_reason(exc)} while {doing}"
    return OutputError(f"{message}; {hint}" if hint else message, os.fspath(path))
