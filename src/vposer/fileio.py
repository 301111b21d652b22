"""Atomic file writing, the one way the package writes files.

Every file vposer writes goes to a temporary name in the destination folder first and is renamed
into place only once complete (``os.replace`` is atomic on POSIX and Windows), so a reader never
sees a half-written file and a killed process never leaves one under the real name. Data is
flushed to disk (``fsync``) before the rename and the folder after it. New files get the usual
permissions (``0o666`` less the umask); a replaced file keeps its own. A failure is one
:class:`~vposer.errors.OutputError` line naming the file (callers may build their own error).

Writers: :func:`atomic_path` (any writer that takes a path), :func:`write_bytes`,
:func:`write_text`, :func:`write_json`; :class:`atomic_folder` builds a whole folder aside and
renames it into place. Checks before long work: :func:`check_output`, :func:`check_outputs`.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ._types import PathLike
from .errors import InputError, OutputError, VPoserError

__all__ = ["OUTPUT_FORMATS", "ErrorFactory", "atomic_folder", "atomic_path", "check_input",
           "check_output", "check_outputs", "check_writable", "expand_path", "missing_folders",
           "side_file", "write_bytes", "write_json", "write_text"]

#: Builds the error for an ``OSError`` met while writing a file (``(exc, path) -> error``).
ErrorFactory = Callable[[OSError, Path], VPoserError]

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


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _file_mode(path: Path) -> int:
    """The existing file's permissions, else those a new file gets (0o666 less the umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _cannot_write(exc: OSError, path: Path) -> VPoserError:
    """The default error of a failed write: ``PATH: cannot write (reason)``."""
    return OutputError(f"cannot write ({exc.strerror or exc})", path)


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


def check_outputs(*outputs: tuple[PathLike | None, str], inputs: Iterable[PathLike] = ()) -> None:
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


def missing_folders(*paths: PathLike | None) -> list[Path]:
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
def atomic_path(path: PathLike, *, keep_suffix: bool = True,
                error: ErrorFactory | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Creates missing parent folders. The data is flushed to disk before the rename and the folder
    after it, so a crash leaves the old file or the new one. On an exception the temporary file
    is removed and ``path`` is left as it was (a killed process leaves the temporary file).

    Args:
        path: the file to write.
        keep_suffix: the temporary file ends with ``path``'s suffix (``.grid.XXXX.tmp.png``), for
            writers that choose the format by name (``np.savez``, Pillow); False names it
            ``.grid.png.XXXX.tmp``, so a file's leftovers are found by its whole name.
        error: builds the error for an :class:`OSError` (no folder, no permission, full disk, a
            format the writer refuses); by default :class:`~vposer.errors.OutputError` naming
            ``path``.
    """
    check_writable(path)
    path = expand_path(path)
    make_error = error or _cannot_write
    prefix, suffix = ((f".{path.stem}.", f".tmp{path.suffix}") if keep_suffix
                      else (f".{path.name}.", ".tmp"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise (make_error(exc, path) if error else
               OutputError(f"cannot write here ({exc.strerror or exc})", path)) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, _file_mode(path))
        _sync(tmp)
        os.replace(tmp, path)
        _sync(path.parent)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise make_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: PathLike, data: bytes, *, error: ErrorFactory | None = None) -> Path:
    """Write ``data`` atomically (:func:`atomic_path`); returns the expanded path."""
    with atomic_path(path, error=error) as tmp:
        tmp.write_bytes(data)
    return expand_path(path)


def write_text(path: PathLike, text: str, *, keep_suffix: bool = True,
               error: ErrorFactory | None = None) -> Path:
    """Write ``text`` (UTF-8) atomically (:func:`atomic_path`); returns the path."""
    with atomic_path(path, keep_suffix=keep_suffix, error=error) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: PathLike, value: Any, indent: int = 1, *, sort_keys: bool = False,
               keep_suffix: bool = True, error: ErrorFactory | None = None) -> Path:
    """Write ``value`` as JSON atomically (NaN allowed, as Python's json writes it); the
    keywords as in :func:`write_text` and :func:`atomic_path`."""
    text = json.dumps(value, indent=indent, allow_nan=True, default=str, sort_keys=sort_keys)
    return write_text(path, text + "\n", keep_suffix=keep_suffix, error=error)


class atomic_folder:
    """Context manager: build an output folder in a temporary sibling, then rename it in place.

    An existing folder holding ``marker`` (one this package made) or an empty one is replaced;
    any other existing non-empty folder is refused, so user files are never clobbered. On an
    exception the temporary folder is removed and ``out`` is left as it was. The old folder is
    set aside (``.NAME.old-PID``) for the instant between the two renames; if the process dies
    there, the next run puts it back. Unfinished folders (``.NAME.tmp-*``) are removed.

    Args:
        out: the folder to make.
        marker: the file that marks a folder this writer may replace.
        what: what such a folder is called in messages.
    """

    def __init__(self, out: PathLike, marker: str = "summary.json",
                 what: str = "a prepared directory"):
        self.out, self.marker, self.what = Path(out), marker, what

    def __enter__(self) -> Path:
        out = self.out
        self._recover()
        if out.exists() and not out.is_dir():
            raise InputError("exists and is not a directory", out)
        if out.is_dir() and any(out.iterdir()) and not (out / self.marker).exists():
            raise InputError(f"exists, is not empty and is not {self.what}; refusing to overwrite",
                             out)
        check_writable(out / self.marker)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as exc:
            raise OutputError(f"cannot write here ({exc.strerror or exc})", out) from None
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes it private
        return self.tmp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.out.exists():
            old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        _sync(self.out.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _recover(self) -> None:
        """Tidy up after an interrupted run: remove unfinished outputs (``.NAME.tmp-*``); put
        back a previous output set aside (``.NAME.old-*``) if the new one never replaced it."""
        out = self.out
        if not out.parent.is_dir():
            return
        for stale in out.parent.glob(f".{out.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for old in sorted(out.parent.glob(f".{out.name}.old-*")):
            if out.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, out)
