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
from typing import Any, Iterable, Iterator, Optional, Union

from .errors import InputError, OutputError

PathLike = Union[str, os.PathLike]

__all__ = ["OUTPUT_FORMATS", "atomic_path", "check_input", "check_output", "check_outputs",
           "check_writable", "expand_path", "missing_folders", "side_file", "write_json",
           "write_text"]

#: What each kind of output may be called, by suffix (compared in lower case). The CLI refuses
#: any other suffix with this list, before it loads anything.
OUTPUT_FORMATS: dict[str, tuple[str, ...]] = {
    "npz": (".npz",),
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"),
    "animation": (".gif", ".mp4"),
    "mp4": (".mp4",),
    "mesh": (".obj", ".glb", ".ply", ".stl", ".off"),
}
#: What a pose file may hold, in the words of every message and help text about it.
POSE_SOURCES = ("'pose_body' (N, 63) or (N, 21, 3), 'pose', an AMASS take's 'poses', or an .npy "
                "array")

_KIND_NAMES = {"npz": "an .npz file", "image": "an image", "animation": "an animation",
               "mp4": "an MP4 video", "mesh": "a mesh"}


def expand_path(path: PathLike) -> Path:
    """``path`` with ``~`` / ``~user`` and ``$VAR`` / ``${VAR}`` expanded, as a shell would
    (unknown variables stay as written). Every path the package takes goes through this."""
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))


def check_input(path: PathLike, kind: str = "file") -> Path:
    """The expanded ``path`` if it exists as ``kind`` (``'file'``, ``'folder'`` or ``'any'``).

    Raises:
        InputError: ``no such file`` / ``no such folder`` / ``no such file or folder``, or a
            folder where a file is expected (and the reverse); the message names the path.
    """
    expanded = expand_path(path)
    if not expanded.exists():
        what = {"file": "file", "folder": "folder"}.get(kind, "file or folder")
        raise InputError(f"no such {what}", expanded)
    if kind == "file" and expanded.is_dir():
        raise InputError("is a folder; expected a file", expanded)
    if kind == "folder" and not expanded.is_dir():
        raise InputError("is a file; expected a folder", expanded)
    return expanded


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
    if os.fspath(path).endswith(("/", os.sep)):
        raise OutputError("names a folder (ends with '/'); expected a file name", path)
    path = expand_path(path)
    if path.is_dir():
        raise OutputError("is a folder; expected a file name", path)
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
    if expand_path(path).resolve() in {expand_path(p).resolve() for p in inputs}:
        raise InputError("is also an input of this command; refusing to overwrite it", path)
    check_writable(path)


def check_outputs(*outputs: tuple[Optional[PathLike], str], inputs: Iterable[PathLike] = ()) -> None:
    """Check output paths before long work, so that nothing is computed for a file that cannot
    be written (and no partial set of outputs is left).

    Args:
        outputs: ``(path, kind)`` pairs, kind a key of :data:`OUTPUT_FORMATS`; None paths are
            skipped.
        inputs: files the command reads, which no output may replace.

    Raises:
        InputError: a suffix unknown for its kind (the message lists the known ones), two
            outputs with one name, or an output that is one of the inputs.
        OutputError: a path where no file can be written.
    """
    inputs, seen = list(inputs), set()
    for path, kind in outputs:
        if path is None:
            continue
        suffix = Path(os.fspath(path)).suffix.lower()
        if suffix not in OUTPUT_FORMATS[kind] and not os.fspath(path).endswith(("/", os.sep)):
            found = f"unknown extension {suffix!r}" if suffix else "no file extension"
            raise InputError(f"{found} for {_KIND_NAMES[kind]}: use {', '.join(OUTPUT_FORMATS[kind])}",
                             path)
        check_output(path, inputs)
        key = expand_path(path).resolve()
        if key in seen:
            raise InputError("is named for two outputs of this command", path)
        seen.add(key)


def side_file(path: PathLike, suffix: str = ".npz") -> Path:
    """The file written beside an output: its whole name plus ``suffix`` (``grid.png`` ->
    ``grid.png.npz``), so outputs of different formats never share a side file."""
    path = Path(os.fspath(path))
    return path.with_name(path.name + suffix)


def missing_folders(*paths: Optional[PathLike]) -> list[Path]:
    """The folders that writing ``paths`` will create (outermost first, each once), so a
    command can say what it created."""
    found: list[Path] = []
    for path in paths:
        if path is None:
            continue
        folder, chain = expand_path(path).parent, []
        while not folder.exists() and folder != folder.parent:
            chain.append(folder)
            folder = folder.parent
        found += [f for f in reversed(chain) if f not in found]
    return found


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it to ``path`` on success.

    Creates missing parent folders. An :class:`OSError` (no folder, no permission, full disk, a
    format the writer refuses) becomes :class:`~vposer.errors.OutputError` naming ``path``. The
    data is flushed to disk before the rename and the folder
    after it, so a crash leaves the old file or the new one. On an exception the temporary file
    is removed and ``path`` is left as it was.
    """
    check_writable(path)
    path = expand_path(path)
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
