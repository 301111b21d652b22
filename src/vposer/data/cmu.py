"""The CMU exponential-map data (``cmu_expmap.npz`` + ``skeleton.json``).

Each take is ``(T, 117)``: the root position (raw ASF units; x70 gives the offsets' units) then
one exponential map per joint of the 38-joint skeleton. The source is written in the row-vector
convention (``R_i = rodrigues(expmap_i)``, ``G_i = R_i G_parent``, ``p_i = offset_i G_parent +
p_parent``). In the column convention used everywhere else the globals are ``C_i = G_i^T``, so
``C_i = C_parent R_i^T`` and the column-vector local rotation is ``rodrigues(-expmap_i)``.
Forgetting that transpose gives 15-133 degree errors; ``tests/test_data_retarget.py`` checks it.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import numpy as np

from .._archive import ARCHIVE_ERRORS, describe
from ..errors import InputError, reads_file
from ..rotations_np import rodrigues
from .skeleton import Skeleton, forward_kinematics
from .._types import PathLike


__all__ = ["CmuData", "load_cmu", "cmu_skeleton", "local_rotations", "row_fk_positions",
           "ROOT_SCALE"]

ROOT_SCALE = 70.0  # stored root position x 70 = the offsets' units


@dataclass
class CmuData:
    """The CMU set: skeleton, frame rate and the takes' keys (arrays read on demand)."""

    directory: Path
    skeleton: Skeleton
    fps: float
    keys: list[str]
    _npz: object

    def take(self, key: str) -> np.ndarray:
        """``(T, 117)`` float32 frames of one take (key ``train|test/<action>/<take>``)."""
        where = self.directory / "cmu_expmap.npz"
        try:
            frames = np.asarray(self._npz[key])
        except MemoryError:
            raise InputError(f"take {key}: declares more data than fits in memory", where) from None
        except ARCHIVE_ERRORS as exc:  # a damaged member: zlib.error, a bad .npy header, ...
            raise InputError(f"take {key}: unreadable ({describe(exc)})", where) from None
        width = 3 + 3 * len(self.skeleton)
        if frames.ndim != 2 or frames.shape[1] != width or frames.dtype.kind not in "biuf" \
                or not np.isfinite(frames).all():
            raise InputError(f"take {key}: shape {frames.shape} or values invalid; expected "
                             f"finite (T, {width})", where)
        return frames

    def takes(self) -> Iterator[tuple[str, np.ndarray]]:
        for key in self.keys:
            yield key, self.take(key)


def _natural(key: str) -> list:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def cmu_skeleton(spec: dict) -> Skeleton:
    """The 38-joint skeleton of ``skeleton.json`` (offsets in its units, root at the origin)."""
    return Skeleton(spec["joints"], spec["parents"], np.asarray(spec["offsets"], dtype=np.float64))


@reads_file
def load_cmu(directory: PathLike) -> CmuData:
    """Open ``directory/cmu_expmap.npz`` and ``directory/skeleton.json``.

    Raises:
        InputError: a file is missing or does not have the documented layout.
    """
    directory = Path(directory)
    spec_path, data_path = directory / "skeleton.json", directory / "cmu_expmap.npz"
    for path in (spec_path, data_path):
        if not path.is_file():
            raise InputError("missing (expected cmu_expmap.npz and skeleton.json)", path)
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        skeleton = cmu_skeleton(spec)
        fps = _frame_rate(spec.get("frame_rate_hz", 120.0))
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, RecursionError,
            AttributeError) as exc:  # a damaged JSON, or a list where a mapping belongs
        raise InputError(f"not a CMU skeleton description ({describe(exc)})", spec_path) from None
    if not np.isfinite(skeleton.offsets).all():
        raise InputError("not a CMU skeleton description (non-finite offsets)", spec_path)
    if not zipfile.is_zipfile(data_path):
        raise InputError("not an .npz archive (missing, damaged or truncated)", data_path)
    try:
        npz = np.load(data_path, allow_pickle=False)
    except MemoryError:
        raise InputError("unreadable: it declares more data than fits in memory", data_path) \
            from None
    except ARCHIVE_ERRORS as exc:
        raise InputError(f"unreadable ({describe(exc)})", data_path) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # an .npy whose bytes end like a zip
        raise InputError("not an .npz archive (an .npy array)", data_path)
    keys = sorted(npz.files, key=_natural)
    if not keys:
        npz.close()
        raise InputError("holds no takes", data_path)
    return CmuData(directory, skeleton, fps, keys, npz)


def _frame_rate(value) -> float:
    """The frame rate: a number, or the first number in a text such as "captured at 120 Hz"."""
    import re

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    else:
        found = re.search(r"\d+(\.\d+)?", str(value)[:1000])
        rate = float(found.group()) if found else 120.0
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"frame_rate_hz {str(value)[:40]!r} is not a positive frame rate")
    return rate


def local_rotations(frames: np.ndarray) -> np.ndarray:
    """Column-convention local rotations ``(T, J, 3, 3)`` = ``rodrigues(-expmap)`` (= R_i^T)."""
    frames = np.asarray(frames, dtype=np.float64)
    return rodrigues(-frames[:, 3:].reshape(len(frames), -1, 3))


def column_fk(skeleton: Skeleton, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-convention globals ``C_i = G_i^T`` (T, J, 3, 3) and positions (T, J, 3)."""
    frames = np.asarray(frames, dtype=np.float64)
    return forward_kinematics(skeleton, local_rotations(frames), ROOT_SCALE * frames[:, :3])


def row_fk_positions(skeleton: Skeleton, frames: np.ndarray) -> np.ndarray:
    """Joint positions by the source's own row-vector recipe, written independently of
    :func:`column_fk` (used to check it): ``G_i = R_i G_parent``, ``p_i = offset_i G_parent + p_parent``.

    Returns ``(T, J, 3)``.
    """
    frames = np.asarray(frames, dtype=np.float64)
    rot = rodrigues(frames[:, 3:].reshape(len(frames), -1, 3))
    g = np.empty_like(rot)
    pos = np.empty(rot.shape[:2] + (3,))
    for level, idx in enumerate(skeleton.levels):
        if level == 0:
            g[:, idx] = rot[:, idx]
            pos[:, idx] = ROOT_SCALE * frames[:, None, :3] + skeleton.offsets[idx]
            continue
        par = skeleton.parents[idx]
        g[:, idx] = rot[:, idx] @ g[:, par]
        pos[:, idx] = np.einsum("jb,tjbc->tjc", skeleton.offsets[idx], g[:, par]) + pos[:, par]
    return pos


def take_action(key: str) -> tuple[str, str]:
    """``(source split, action)`` of a take key ``train/<action>/<take>``."""
    parts = key.split("/")
    return (parts[0], parts[1]) if len(parts) >= 3 else ("", parts[0])
