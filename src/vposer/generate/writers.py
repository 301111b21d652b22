"""Shard writers with reproducible bytes: npz (zip), WebDataset (tar), Parquet.

``np.savez`` stamps every zip entry with the current time, so two runs never give the same
bytes; :func:`write_npz` writes the same ``.npy`` members with ``zipfile`` and a fixed date
(1980-01-01), fixed permissions and a fixed member order. Tar members get ``mtime 0``, uid/gid 0,
empty owner names and mode 0644 (USTAR). Parquet files hold no timestamp (pyarrow writes its
version in ``created_by``), so the same pyarrow gives the same bytes.
"""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from collections.abc import Iterator

import numpy as np

from ..errors import InputError
from .extras import Chunk, png_bytes

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
#: order of the per-sample arrays in every format.
COLUMN_ORDER = ("pose_body", "z", "root_orient", "from_user", "user_index", "camera_azimuth",
                "camera_elevation")
HEAVY_ORDER = ("joints", "vertices", "images")


@dataclass
class ShardContent:
    """Everything a shard holds, for a writer.

    Attributes:
        index: the shard index.
        first: global index of its first sample (``index * shard_size``).
        n: number of samples.
        columns: small per-sample arrays (first dimension ``n``), in :data:`COLUMN_ORDER`.
        chunks: heavy outputs in order (None: poses only).
        faces: ``(F, 3)`` int32 when vertices or meshes are stored.
        meta: JSON-ready description (settings, seeds, model hash).
    """

    index: int
    first: int
    n: int
    columns: dict[str, np.ndarray]
    chunks: Iterator[Chunk] | None = None
    faces: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def ordered_columns(self) -> list[tuple[str, np.ndarray]]:
        return [(k, self.columns[k]) for k in COLUMN_ORDER if k in self.columns]


def meta_text(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def npy_bytes(array: np.ndarray) -> bytes:
    """``np.save`` of ``array`` into bytes (header version picked by numpy, C order)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array, order="C"), allow_pickle=False)
    return buf.getvalue()


# -- npz -----------------------------------------------------------------------------------------
def write_npz(fh: BinaryIO, members: list[tuple[str, np.ndarray]], compress: bool = False) -> None:
    """An ``.npz`` readable by ``np.load``, byte-reproducible: fixed dates, modes and order.

    Args:
        fh: a seekable binary file opened for writing.
        members: ``(name, array)`` in the order to store them (``name.npy`` in the zip).
        compress: deflate (like ``np.savez_compressed``) instead of storing.
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=method, allowZip64=True) as zf:
        for name, array in members:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.compress_type = method
            info.create_system = 3  # unix, whatever the platform
            info.external_attr = (0o100000 | FILE_MODE) << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array, order="C"), allow_pickle=False)


def gather(content: ShardContent) -> dict[str, np.ndarray]:
    """The heavy chunks joined into whole-shard arrays (preallocated)."""
    arrays: dict[str, np.ndarray] = {}
    for chunk in content.chunks or ():
        for key in HEAVY_ORDER:
            part = getattr(chunk, key)
            if part is None:
                continue
            if key not in arrays:
                arrays[key] = np.empty((content.n,) + part.shape[1:], dtype=part.dtype)
            arrays[key][chunk.start : chunk.start + len(part)] = part
    return arrays


def write_npz_shard(fh: BinaryIO, content: ShardContent, compress: bool = False) -> None:
    """Keys: the columns, then ``joints``, ``vertices``, ``images``, ``faces``, ``meta`` (JSON)."""
    heavy = gather(content)
    members = content.ordered_columns() + [(k, heavy[k]) for k in HEAVY_ORDER if k in heavy]
    if content.faces is not None:
        members.append(("faces", content.faces))
    members.append(("meta", np.array(meta_text(content.meta))))
    write_npz(fh, members, compress)


# -- WebDataset tar ------------------------------------------------------------------------------
def tar_add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add a regular file with fixed metadata (mtime 0, root, mode 0644)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, FILE_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tf.addfile(info, io.BytesIO(data))


def sample_key(index: int) -> str:
    """WebDataset key of global sample ``index``: 10 digits (``0000000042``)."""
    return f"{index:010d}"


def write_tar_shard(fh: BinaryIO, content: ShardContent) -> None:
    """One group of members per sample, WebDataset style (``KEY.ext``)::

        KEY.json             {"index", "shard", ...}: bookkeeping and camera
        KEY.pose_body.npy    (63,) float32; likewise z, root_orient, joints, vertices
        KEY.png              the image (KEY.view1.png, ... for more angles)
        KEY.ply              the posed mesh (binary PLY)
    """
    cols = content.ordered_columns()
    arrays = [(k, v) for k, v in cols if k in ("pose_body", "z", "root_orient")]
    info_cols = [(k, v) for k, v in cols if k not in ("pose_body", "z", "root_orient")]
    chunks = content.chunks if content.chunks is not None else iter([Chunk(0)])
    with tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for chunk in chunks:
            stop = content.n if content.chunks is None else chunk.start + _chunk_len(chunk)
            for i in range(chunk.start, stop):
                key = sample_key(content.first + i)
                record = {"index": content.first + i, "shard": content.index}
                record.update({k: v[i].item() for k, v in info_cols})
                tar_add(tf, f"{key}.json", json.dumps(record, sort_keys=True).encode())
                for name, column in arrays:
                    tar_add(tf, f"{key}.{name}.npy", npy_bytes(column[i]))
                j = i - chunk.start
                for name in ("joints", "vertices"):
                    part = getattr(chunk, name)
                    if part is not None:
                        tar_add(tf, f"{key}.{name}.npy", npy_bytes(part[j]))
                if chunk.images is not None:
                    for view, image in enumerate(chunk.images[j]):
                        tar_add(tf, f"{key}.{f'view{view}.' if view else ''}png", png_bytes(image))
                if chunk.meshes is not None:
                    tar_add(tf, f"{key}.ply", chunk.meshes[j])


def _chunk_len(chunk: Chunk) -> int:
    for name in ("vertices", "joints", "images"):
        part = getattr(chunk, name)
        if part is not None:
            return len(part)
    if chunk.meshes is not None:
        return len(chunk.meshes)
    return 0


# -- Parquet -------------------------------------------------------------------------------------
def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("--format parquet needs pyarrow: pip install 'vposer[generate]' (or pyarrow)") from None
    return pa, pq


def _fixed_list(pa, array: np.ndarray):
    """A ``FixedSizeList`` column of the rows of ``array`` ``(n, ...)`` flattened."""
    flat = np.ascontiguousarray(array).reshape(len(array), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def parquet_table(content: ShardContent, chunk: Chunk, start: int, stop: int):
    """Rows ``start .. stop`` as a ``pyarrow.Table``: ``index``, the columns (vectors as
    fixed-size lists), ``joints``/``vertices`` (flattened), ``image`` / ``image_view1`` ... (PNG
    bytes), ``mesh`` (PLY bytes)."""
    pa, _ = _pyarrow()
    data: dict[str, Any] = {"index": pa.array(np.arange(content.first + start, content.first + stop))}
    for name, column in content.ordered_columns():
        part = column[start:stop]
        data[name] = _fixed_list(pa, part) if part.ndim > 1 else pa.array(part)
    for name in ("joints", "vertices"):
        part = getattr(chunk, name)
        if part is not None:
            data[name] = _fixed_list(pa, part)
    if chunk.images is not None:
        for view in range(chunk.images.shape[1]):
            data["image" if view == 0 else f"image_view{view}"] = pa.array(
                [png_bytes(img) for img in chunk.images[:, view]], type=pa.binary())
    if chunk.meshes is not None:
        data["mesh"] = pa.array(chunk.meshes, type=pa.binary())
    return pa.table(data)


def write_parquet_shard(fh: BinaryIO, content: ShardContent) -> None:
    """One row group per chunk of heavy outputs (or one for a poses-only shard); the shard's
    ``meta`` JSON in the schema metadata under ``vposer``."""
    pa, pq = _pyarrow()
    writer = None
    chunks = content.chunks if content.chunks is not None else iter([Chunk(0)])
    try:
        for chunk in chunks:
            stop = content.n if content.chunks is None else chunk.start + _chunk_len(chunk)
            table = parquet_table(content, chunk, chunk.start, stop)
            if writer is None:
                schema = table.schema.with_metadata({"vposer": meta_text(content.meta)})
                writer = pq.ParquetWriter(pa.PythonFile(fh, mode="w"), schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
