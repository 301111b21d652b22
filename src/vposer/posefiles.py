"""Pose and latent-code files (``.npz``): the project's conventions, written atomically.

Poses: ``pose_body`` ``(N, 63)`` float32 axis-angle, ``root_orient`` ``(N, 3)`` when known, and
``meta``: a JSON string saying how the file was made (enough to reproduce it).
Latent codes: ``z`` ``(N, D)`` float32 (the encoder mean), ``z_std`` when encoded.

Readers also accept the compat key ``pose`` (``sample_vposer``), ``(N, 21, 3)`` or
``(N, 1, 21, 3)`` layouts, full poses with the root first (AMASS takes' ``poses`` ``(T, 156)``,
SMPL ``(N, 72)``, SMPL-X ``(N, 165)``: columns 3..66), SMPL's ``(N, 69)`` body pose and ``.npy``
arrays.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any
from collections.abc import Mapping

import numpy as np
import torch

from ._archive import ARCHIVE_ERRORS, describe
from ._types import PathLike
from .errors import InputError, reads_file
from .fileio import POSE_SOURCES, atomic_path, check_input, expand_path

POSE_KEYS = ("pose_body", "pose")
#: Row widths of full poses, root orientation first: root + body, SMPL (72), SMPL+H / AMASS
#: (156), SMPL-X (165).
FULL_POSE_WIDTHS = (66, 72, 156, 165)


def npz_name(path: PathLike) -> Path:
    """``path`` with ``.npz`` appended unless it ends so (as ``np.savez`` names files)."""
    path = Path(path)
    return path if path.suffix.lower() == ".npz" else path.with_name(path.name + ".npz")


def _write_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """The package's one ``.npz`` writer: ``np.savez`` through :func:`vposer.fileio.atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        named: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez(fh, **named)


def atomic_savez(path: PathLike, arrays: Mapping[str, Any]) -> Path:
    """``np.savez`` to a temporary file in the destination folder, then rename: a reader never
    sees a half-written file, and an existing file is only replaced once the new one is whole.
    ``.npz`` is appended to a name without it (as ``np.savez`` does); returns the path written."""
    path = npz_name(expand_path(path))
    _write_npz(path, arrays)
    return path


def save_poses(path: PathLike, pose_body: Any, **extra: Any) -> Path:
    """Save body poses as ``.npz`` with keys ``pose`` and ``pose_body`` (both ``(N, 63)`` float32,
    ``pose`` for the original package's readers), at ``path`` exactly as named.

    Args:
        pose_body: ``(N, 63)`` or ``(N, 21, 3)`` axis-angle.
        extra: more arrays to store (e.g. ``z`` latent codes ``(N, D)``, ``meta``).
    """
    pose = np.asarray(pose_body, dtype=np.float32).reshape(len(pose_body), -1)
    path = expand_path(path)
    _write_npz(path, {"pose": pose, "pose_body": pose, **extra})
    return path


class NpzStream:
    """An ``.npz`` written in chunks of rows, in memory that does not grow with the row count.

    The first column goes straight into its archive member; the others wait in anonymous
    temporary files beside the output and are copied in at the end. The file is written through
    :func:`vposer.fileio.atomic_path` (nothing under the real name until it is whole) and reads
    back with ``np.load`` exactly as if ``np.savez`` had written the whole arrays::

        with NpzStream("big.npz", 10_000_000, {"pose_body": (63,), "z": (32,)}) as out:
            for chunk in chunks:
                out.append(pose_body=chunk.pose, z=chunk.z)
            out.extra["meta"] = meta_json(...)

    Args:
        path: the ``.npz`` to write.
        rows: the total number of rows of every column (checked at the end).
        columns: name -> shape of one row; all float32 unless ``dtypes`` says otherwise.
    """

    def __init__(self, path: PathLike, rows: int, columns: Mapping[str, tuple[int, ...]],
                 dtypes: Mapping[str, Any] | None = None):
        self.path, self.rows = npz_name(expand_path(path)), int(rows)
        self.columns = {k: tuple(v) for k, v in columns.items()}
        self.dtypes = {k: np.dtype((dtypes or {}).get(k, np.float32)) for k in self.columns}
        self.extra: dict[str, Any] = {}
        self._written = dict.fromkeys(self.columns, 0)

    def _header(self, fh: Any, name: str) -> None:
        np.lib.format.write_array_header_1_0(fh, {
            "descr": np.lib.format.dtype_to_descr(self.dtypes[name]), "fortran_order": False,
            "shape": (self.rows, *self.columns[name])})

    def __enter__(self) -> NpzStream:
        import tempfile

        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._zip = self._stack.enter_context(zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED,
                                                              allowZip64=True))
        first, *rest = self.columns
        self._first = self._zip.open(f"{first}.npy", "w", force_zip64=True)
        self._header(self._first, first)
        self._spill = {k: self._stack.enter_context(tempfile.TemporaryFile(dir=tmp.parent))
                       for k in rest}
        return self

    def append(self, **chunks: Any) -> None:
        """Append the next rows of every column (the same number of rows each)."""
        sizes = {len(v) for v in chunks.values()}
        if set(chunks) != set(self.columns) or len(sizes) != 1:
            raise InputError(f"append needs equally long chunks of {', '.join(self.columns)}")
        for name, value in chunks.items():
            array = np.ascontiguousarray(value, dtype=self.dtypes[name])
            if array.shape[1:] != self.columns[name]:
                raise InputError(f"{name} rows must be {self.columns[name]}, got {array.shape[1:]}")
            (self._first if name not in self._spill else self._spill[name]).write(array.data)
            self._written[name] += len(array)

    def __exit__(self, kind: Any, exc: Any, trace: Any) -> None:
        import shutil

        try:
            self._first.close()
            if kind is None:
                if set(self._written.values()) != {self.rows}:
                    raise InputError(f"wrote {self._written} rows; declared {self.rows}", self.path)
                for name, spill in self._spill.items():
                    spill.seek(0)
                    with self._zip.open(f"{name}.npy", "w", force_zip64=True) as member:
                        self._header(member, name)
                        shutil.copyfileobj(spill, member, 16 << 20)
                for name, value in self.extra.items():
                    with self._zip.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.__exit__(kind, exc, trace)


@reads_file
def read_npz(path: PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (no pickles); a ``.npy`` file reads as ``{"array": ...}``.

    Raises:
        InputError: missing or unreadable file; the message names it.
    """
    path = check_input(path, "file")
    try:
        with open(path, "rb") as fh:
            npy = fh.read(6) == b"\x93NUMPY"  # numpy goes by these bytes, not by the zip's end
        if npy:
            return {"array": np.load(path, allow_pickle=False)}
        if not zipfile.is_zipfile(path):
            raise InputError("not an .npz archive (nor an .npy array)", path)
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except MemoryError:
        raise InputError("not a readable .npz file (it declares more data than fits in memory)",
                         path) from None
    except ARCHIVE_ERRORS as exc:  # zlib.error, NotImplementedError, ... of a damaged archive
        raise InputError(f"not a readable .npz file ({describe(exc)})", path) from None


def _numeric(array: np.ndarray, what: str, path: PathLike) -> np.ndarray:
    """``array`` checked: real numbers, at least one row, all finite."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise InputError(f"{what} have dtype {array.dtype}; expected real numbers", path)
    if array.shape[0] == 0:
        raise InputError(f"holds no {what} (0 rows)", path)
    if not np.isfinite(array).all():
        raise InputError(f"{what} contain NaN or Inf", path)
    return array


def _float32(array: np.ndarray, what: str, path: PathLike) -> np.ndarray:
    """``array`` checked by :func:`_numeric`, as float32; values beyond float32's range (which
    the cast would turn into Inf) are refused."""
    array = _numeric(array, what, path)
    with np.errstate(over="ignore", invalid="ignore"):
        out = array.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputError(f"{what} hold values beyond float32's range (|x| > 3.4e38)", path)
    return out


def read_meta(data: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The ``meta`` JSON of a file written by vposer (empty when absent)."""
    if "meta" not in data:
        return {}
    try:
        meta: dict[str, Any] = json.loads(str(data["meta"]))
        return meta
    except json.JSONDecodeError:
        return {}


@reads_file
def load_poses(path: PathLike, key: str | None = None) -> np.ndarray:
    """Body poses ``(N, 63)`` float32 from an npz file (see the module docstring for layouts).

    Raises:
        InputError: missing file, no pose key, wrong shape, NaN or Inf; the message names the file.
    """
    data = read_npz(path)
    keys = (key,) if key else POSE_KEYS + ("array",)
    found = next((k for k in keys if k in data), None)
    if found is None and not key and "poses" in data:
        found = "poses"
    if found is None:
        wanted = f"key {key!r}" if key else POSE_SOURCES
        raise InputError(f"no pose array: expected {wanted} (found {', '.join(data) or 'nothing'})",
                         path)
    poses = np.asarray(data[found])
    if poses.ndim == 2 and poses.shape[1] in FULL_POSE_WIDTHS:  # root first, then the body
        poses = poses[:, 3:66]
    elif poses.ndim == 2 and poses.shape[1] == 69:  # SMPL's body_pose: 21 joints, 2 hands
        poses = poses[:, :63]
    if poses.ndim == 4 and poses.shape[1] == 1:
        poses = poses[:, 0]
    if poses.ndim == 3 and poses.shape[1:] == (21, 3):
        poses = poses.reshape(len(poses), 63)
    if poses.ndim != 2 or poses.shape[1] != 63:
        raise InputError(f"body poses must be (N, 63) or (N, 21, 3), got {poses.shape}", path)
    return _float32(poses, "body poses", path)


@reads_file
def load_latents(path: PathLike, latent_dim: int) -> np.ndarray:
    """Latent codes ``(N, latent_dim)`` from the ``z`` array of an npz file."""
    data = read_npz(path)
    if "z" not in data:
        raise InputError(f"no latent codes: expected key 'z' (found {', '.join(data) or 'nothing'})", path)
    z = np.asarray(data["z"])
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise InputError(f"latent codes must be (N, {latent_dim}), got {z.shape}", path)
    return _float32(z, "latent codes", path)


def meta_json(**fields: Any) -> np.ndarray:
    """A 0-d string array holding ``fields`` as JSON, for the ``meta`` key."""
    from ._version import __version__

    return np.array(json.dumps({"vposer_version": __version__, **fields}, sort_keys=True, default=str))


def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of the model's state dict (names, dtypes, shapes, bytes): identifies the weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()
