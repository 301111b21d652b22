"""The prepared-data format: memory-mappable arrays per split, written streaming and atomically.

Layout of a prepared directory ``OUT``::

    OUT/summary.json                 frames per dataset and split, settings, skipped files, version
    OUT/<split>/pose_body.npy        (N, 63) float32 axis-angle SMPL body pose (21 joints)
    OUT/<split>/root_orient.npy      (N, 3) float32 axis-angle root orientation
    OUT/<split>/provenance.npy       (N, 2) int32: (index into files.json, frame index in the take)
    OUT/<split>/files.json           list of {"path", "dataset", "subject", "action", "fps", "frames"}

Split names are ``train``, ``vald`` and ``test`` for the built-in recipes (``val`` and
``validation`` are accepted as aliases of ``vald`` when reading). Arrays are written chunk by chunk
into ``.npy`` files whose header is fixed-size and rewritten with the final length at the end, so
the writer never holds more than one chunk; the whole directory is built in a temporary sibling
folder and renamed into place, so a reader never sees a half-written result.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from .._types import PathLike
from ..errors import InputError
from ..fileio import atomic_folder, write_json


FORMAT_VERSION = 1
SPLIT_ALIASES = {"val": "vald", "valid": "vald", "validation": "vald"}
_HEADER_BYTES = 128  # fixed .npy header size (a multiple of 64, room for any realistic shape)

__all__ = [
    "FORMAT_VERSION",
    "NpyAppender",
    "PreparedSplit",
    "SplitWriter",
    "atomic_output_dir",
    "load_prepared",
    "write_json_atomic",
]


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A version-1.0 ``.npy`` header padded to exactly ``_HEADER_BYTES`` bytes."""
    text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (
        np.lib.format.dtype_to_descr(dtype), tuple(int(s) for s in shape))
    prefix = b"\x93NUMPY\x01\x00"
    room = _HEADER_BYTES - len(prefix) - 2
    body = text.encode("latin1")
    if len(body) + 1 > room:
        raise ValueError(f"shape {shape} too long for the fixed .npy header")
    body = body + b" " * (room - len(body) - 1) + b"\n"
    return prefix + len(body).to_bytes(2, "little") + body


class NpyAppender:
    """Append rows to a ``.npy`` file of unknown final length, holding one chunk at a time.

    Args:
        path: the file to write (created or truncated).
        row_shape: shape of one row, e.g. ``(63,)``.
        dtype: element type (rows are cast to it).
    """

    def __init__(self, path: PathLike, row_shape: tuple[int, ...], dtype: Any = np.float32):
        self.path = Path(path)
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._fh = open(self.path, "wb")
        self._fh.write(_npy_header(self.dtype, (0,) + self.row_shape))

    def append(self, rows: np.ndarray) -> None:
        """Append ``(n, *row_shape)`` rows."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} appended to {self.path} ({self.row_shape})")
        self._fh.write(rows.tobytes())
        self.rows += rows.shape[0]

    def close(self) -> None:
        """Rewrite the header with the final length and close the file."""
        if self._fh.closed:
            return
        self._fh.seek(0)
        self._fh.write(_npy_header(self.dtype, (self.rows,) + self.row_shape))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


class SplitWriter:
    """Stream one split (pose_body, root_orient, provenance, files.json) into a directory."""

    def __init__(self, directory: PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pose = NpyAppender(self.directory / "pose_body.npy", (63,), np.float32)
        self.root = NpyAppender(self.directory / "root_orient.npy", (3,), np.float32)
        self.prov = NpyAppender(self.directory / "provenance.npy", (2,), np.int32)
        self.files: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any], pose_body: np.ndarray, root_orient: np.ndarray,
            frames: np.ndarray) -> None:
        """Add one source take: its files.json entry and its kept rows.

        Args:
            entry: JSON-able description (``path``, ``fps``, ``dataset``, ...).
            pose_body: ``(n, 63)``; root_orient: ``(n, 3)``; frames: ``(n,)`` source frame indices.
        """
        index = len(self.files)
        self.files.append(entry)
        n = len(frames)
        if n:
            self.pose.append(pose_body.reshape(n, 63))
            self.root.append(root_orient.reshape(n, 3))
            self.prov.append(np.stack([np.full(n, index), np.asarray(frames)], axis=1))

    @property
    def frames(self) -> int:
        return self.pose.rows

    def close(self) -> None:
        for appender in (self.pose, self.root, self.prov):
            appender.close()
        write_json_atomic(self.directory / "files.json", self.files)


def write_json_atomic(path: PathLike, value: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    write_json(path, value)


#: Builds a prepared folder aside and renames it into place (:class:`vposer.fileio.atomic_folder`,
#: which replaces only a folder holding ``summary.json``).
atomic_output_dir = atomic_folder


@dataclass
class PreparedSplit:
    """One split of a prepared directory, arrays memory-mapped (nothing loaded up front).

    Attributes:
        name: the split name.
        pose_body: ``(N, 63)`` float32 memmap, SMPL body pose (axis-angle, 21 joints).
        root_orient: ``(N, 3)`` float32 memmap.
        provenance: ``(N, 2)`` int32 memmap, (file index, source frame index).
        files: the ``files.json`` entries.
    """

    name: str
    pose_body: np.ndarray
    root_orient: np.ndarray
    provenance: np.ndarray
    files: list[dict[str, Any]]

    def __len__(self) -> int:
        return int(self.pose_body.shape[0])

    def rows_of(self, datasets: str | Sequence[str]) -> np.ndarray:
        """``(n,)`` indices of the rows from some sources (``files.json``'s ``dataset``): one
        name, a comma-separated list or a sequence of names.

        Raises:
            InputError: a name matches no take of the split.
        """
        wanted = [d.strip() for d in datasets.split(",")] if isinstance(datasets, str) \
            else [str(d) for d in datasets]
        names = np.asarray([str(f.get("dataset", "")) for f in self.files], dtype=object)
        for name in wanted:
            if not (names == name).any():
                present = ", ".join(sorted(set(names.tolist()))) or "none"
                raise InputError(f"no take of the {self.name!r} split comes from {name!r} "
                                 f"(sources: {present})")
        files = np.flatnonzero(np.isin(names, wanted))
        return np.flatnonzero(np.isin(np.asarray(self.provenance[:, 0]), files))

    def source_labels(self) -> tuple[list[str], np.ndarray]:
        """The source of every row: the sorted ``dataset`` names of ``files.json`` and an
        ``(N,)`` int64 index into them per row."""
        names = [str(f.get("dataset", "")) for f in self.files]
        unique = sorted(set(names))
        of_file = np.asarray([unique.index(name) for name in names], dtype=np.int64)
        return unique, of_file[np.asarray(self.provenance[:, 0], dtype=np.int64)]

    def trace(self, i: int) -> tuple[str, int]:
        """The source of row ``i``: (file path or take key, frame index in that take)."""
        file_index, frame = (int(v) for v in self.provenance[i])
        return self.files[file_index]["path"], frame


def load_prepared(out_dir: PathLike, split: str) -> PreparedSplit:
    """Open one split of a prepared directory with memory-mapped arrays.

    Args:
        out_dir: the directory written by ``vposer prepare`` or ``vposer import-mocap``.
        split: ``train``, ``vald`` (alias ``val``/``validation``), ``test`` or a custom name.

    Raises:
        InputError: the split is missing or its arrays are inconsistent.
    """
    root = Path(out_dir)
    name = SPLIT_ALIASES.get(split, split)
    directory = root / name
    if not directory.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise InputError(f"no split {split!r} (present: {', '.join(present) or 'none'})", root)
    try:
        arrays = [np.load(directory / f"{key}.npy", mmap_mode="r")
                  for key in ("pose_body", "root_orient", "provenance")]
        files = json.loads((directory / "files.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable prepared split: {exc}", directory) from exc
    pose, root_orient, prov = arrays
    n = pose.shape[0]
    if pose.shape != (n, 63) or root_orient.shape != (n, 3) or prov.shape != (n, 2):
        raise InputError(f"inconsistent shapes {pose.shape}, {root_orient.shape}, {prov.shape}",
                         directory)
    return PreparedSplit(name, pose, root_orient, prov, files)


def read_summary(out_dir: PathLike) -> dict[str, Any] | None:
    """The ``summary.json`` of a prepared directory, or None when absent."""
    path = Path(out_dir) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None
