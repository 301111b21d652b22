"""Atomic file writing, the one way the package writes files.

Every file vposer writes goes to a temporary name in the destination folder first and is renamed
into place only once complete (``os.replace`` is atomic on POSIX and Windows), so a reader never
sees a half-written file and a killed process never leaves one under the real name. New files
get the usual permissions (``0o666`` less the umask); a replaced file keeps its own.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

from .errors import InputError, OutputError

PathLike = Union[str, os.PathLike]

__all__ = ["atomic_path", "check_output", "check_writable", "write_json", "write_text"]


def _file_mode(path: Path) -> int:
    """The existing file's permissions, else those a new file gets (0o666 less the umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync(path: PathLike) -> None:
    """Flush a file's data, or a folder's entries, to disk (where the system allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # folders on some systems and file systems
        pass
    finally:
        os.close(fd)


def check_writable(path: PathLike) -> None:
    """Raise :class:`~vposer.errors.OutputError` if a file cannot be written at ``path``:
    a directory there, a file where a parent folder should be, or no write permission in the
    nearest existing folder. Creates nothing (callers check their outputs before long work)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError("is a directory; expected a file name", path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write: {str(folder)!r} is a file, not a folder", path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write: no permission in {str(folder)!r}", path)


def check_output(path: PathLike, inputs: Iterable[PathLike] = ()) -> None:
    """Check an output before long work: writable (:func:`check_writable`) and not one of the
    files the command reads.

    Raises:
        InputError: ``path`` is one of ``inputs``.
        OutputError: no file can be written at ``path``.
    """
    if Path(path).resolve() in {Path(p).resolve() for p in inputs}:
        raise InputError("is also an input of this command; refusing to overwrite it", path)
    check_writable(path)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it to ``path`` on success.

    Creates missing parent folders. An :class:`OSError` (no folder, no permission, full disk, a
    format the writer refuses) becomes :class:`~vposer.errors.OutputError` naming ``path``. The
    data is flushed to disk before the rename and the folder
    after it, so a crash leaves the old file or the new one. On an exception the temporary file
    is removed and ``path`` is left as it was.
    """
    path = Path(path)
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                   dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", path) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, _file_mode(path))
        _sync(tmp)
        os.replace(tmp, path)
        _sync(path.parent)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise OutputError(f"cannot write ({exc.strerror or exc})", path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: PathLike, value: Any, indent: int = 1) -> Path:
    """Write ``value`` as JSON atomically (NaN allowed, as Python's json writes it)."""
    return write_text(path, json.dumps(value, indent=indent, allow_nan=True, default=str) + "\n")
