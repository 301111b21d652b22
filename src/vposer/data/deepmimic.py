"""A reader of DeepMimic motion files (JSON) and the character file they drive.

Character (``humanoid3d.json``): ``Skeleton.Joints`` lists joints with an ``ID`` (0..J-1, each
parent before its children), ``Name``, ``Type`` (``none`` for the root, ``spherical``,
``revolute``, ``fixed``), ``Parent`` (-1 for the root) and ``AttachX/Y/Z``, the joint's offset
from its parent in metres in the parent's rest frame. Rest frames are world-aligned (non-zero
``AttachTheta`` rotations are refused), as :mod:`vposer.data.skeleton` requires.

Motion: ``Frames`` is a list of frames, each ``[duration, root x y z, root w x y z, ...]``: the
joints in ID order, a spherical joint as a quaternion ``w x y z``, a revolute one as one angle
(radians) about its local z axis, a fixed one as nothing. Rotations are local, relative to the
parent, column convention (``x' = R x``, ``C_child = C_parent @ L_child``). DeepMimic writes a
duration of 0 on the last frame; every other duration must be positive.

Axes are kept as in the file (DeepMimic's humanoid: y up, +x forward, +z to the body's right);
the retargeter works the axis change out from the rest skeleton.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, reads_file
from ..rotations_np import rodrigues
from .skeleton import Skeleton, forward_kinematics
from .textfiles import read_text
from .._types import PathLike


__all__ = ["DeepMimicCharacter", "DeepMimicMotion", "read_character", "read_deepmimic",
           "is_character", "is_motion", "JOINT_WIDTHS", "quaternion_to_matrix"]

#: Frame values per joint type (the root, type ``none``: position + quaternion).
JOINT_WIDTHS = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}
_MIN_QUAT_NORM = 1e-6


def is_character(obj: Any) -> bool:
    """Whether a parsed JSON object looks like a DeepMimic character (``Skeleton.Joints``)."""
    return (isinstance(obj, dict) and isinstance(obj.get("Skeleton"), dict)
            and isinstance(obj["Skeleton"].get("Joints"), list))


def is_motion(obj: Any) -> bool:
    """Whether a parsed JSON object looks like a DeepMimic motion (a ``Frames`` list)."""
    return isinstance(obj, dict) and isinstance(obj.get("Frames"), list)


@dataclass
class DeepMimicCharacter:
    """A parsed character file.

    Attributes:
        skeleton: joints in ID order (parents first), file names, rest offsets (metres).
        types: ``J`` joint types (``none``, ``spherical``, ``revolute``, ``fixed``).
        starts: ``(J,)`` int first frame column of each joint's values (column 0: duration).
        width: values per frame, the duration included (44 for ``humanoid3d.json``).
        limits: ``(J, 3, 2)`` float64 ``LimLow/LimHigh 0..2`` per joint (NaN where absent).
        path: the file read.
    """

    skeleton: Skeleton
    types: list[str]
    starts: np.ndarray
    width: int
    limits: np.ndarray
    path: str

    def quaternion_columns(self) -> list[tuple[int, int]]:
        """``(joint, first column)`` of every quaternion (``w x y z``) in a frame."""
        return [(j, int(s) + (3 if k == "none" else 0)) for j, (k, s) in
                enumerate(zip(self.types, self.starts)) if k in ("none", "spherical")]


@dataclass
class DeepMimicMotion:
    """A parsed motion file, duck-compatible with :class:`vposer.data.bvh.BvhMotion`.

    Attributes:
        character: the character the frames drive; ``skeleton`` is its skeleton.
        frames: ``(T, width)`` float64 raw frame values (quaternions as in the file).
        fps: 1 / the median positive frame duration.
        path: the file read.
        loop: the file's ``Loop`` entry (``'none'``, ``'wrap'``), if any.
    """

    character: DeepMimicCharacter
    frames: np.ndarray
    fps: float
    path: str
    loop: str | None = None

    @property
    def skeleton(self) -> Skeleton:
        return self.character.skeleton

    @property
    def frame_time(self) -> float:
        return 1.0 / self.fps

    @property
    def durations(self) -> np.ndarray:
        """``(T,)`` frame durations in seconds (the last one is often 0)."""
        return self.frames[:, 0]

    def __len__(self) -> int:
        return len(self.frames)

    def root_position(self) -> np.ndarray:
        """``(T, 3)`` root translation: the frames' root position less the root's rest offset,
        so that forward kinematics puts the root exactly at the frames' position."""
        return self.frames[:, 1:4] - self.skeleton.offsets[0]

    def local_rotations(self) -> np.ndarray:
        """``(T, J, 3, 3)`` float64 local rotations (identity for fixed joints)."""
        t, nj = len(self.frames), len(self.skeleton)
        local = np.tile(np.eye(3), (t, nj, 1, 1))
        for j, q0 in self.character.quaternion_columns():
            local[:, j] = quaternion_to_matrix(self.frames[:, q0:q0 + 4])
        for j, (kind, start) in enumerate(zip(self.character.types, self.character.starts)):
            if kind == "revolute":  # right-handed turn about the joint's z axis
                local[:, j] = rodrigues(self.frames[:, start, None] * np.array([0.0, 0.0, 1.0]))
        return local

    def global_rotations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(T, J, 3, 3)`` global rotations and ``(T, J, 3)`` positions (file axes, metres)."""
        return forward_kinematics(self.skeleton, self.local_rotations(), self.root_position())


def quaternion_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., 4)`` as ``w, x, y, z`` (normalised here) to ``(..., 3, 3)`` matrices
    acting on column vectors."""
    q = np.asarray(quat, dtype=np.float64)
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def _load_json(path: PathLike) -> Any:
    """The parsed JSON of ``path`` (``.gz`` allowed); syntax errors give line and column."""
    text = read_text(path)
    if not text.strip():
        raise InputError("empty file (not JSON)", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        end = " (the file ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                         f"{end}", path) from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply", path) from None
    except ValueError as exc:  # e.g. integers beyond Python's digit limit
        raise InputError(f"not valid JSON: {exc}", path) from None


def _number(value: Any, what: str, path: PathLike, default: float | None = None) -> float:
    """A finite JSON number (not a bool); ``default`` when ``value`` is None and one is given."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what}: expected a number, found {value!r:.40}", path)
    out = float(value) if isinstance(value, float) or abs(value) < 1e300 else math.inf
    if not math.isfinite(out):
        raise InputError(f"{what}: not a finite number ({value!r:.40})", path)
    return out


def _int(value: Any, what: str, path: PathLike) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what}: expected an integer, found {value!r:.40}", path)
    return value


def _joint(entry: Any, k: int, path: PathLike) -> tuple[int, str, str, int, list[float], list]:
    """``(id, name, type, parent, offset, limits)`` of one ``Skeleton.Joints`` entry."""
    if not isinstance(entry, dict):
        raise InputError(f"Skeleton.Joints[{k}] is not an object", path)
    jid = _int(entry.get("ID"), f"Skeleton.Joints[{k}].ID", path)
    name, kind = entry.get("Name"), entry.get("Type")
    if not isinstance(name, str) or not name:
        raise InputError(f"joint {jid}: 'Name' must be a non-empty string", path)
    if not isinstance(kind, str) or kind not in JOINT_WIDTHS:
        raise InputError(f"joint {jid} ({name}): unknown joint type {kind!r:.40} "
                         f"(known: {', '.join(JOINT_WIDTHS)})", path)
    parent = _int(entry.get("Parent"), f"joint {jid} ({name}).Parent", path)
    offset = [_number(entry.get(f"Attach{a}"), f"joint {jid} ({name}).Attach{a}", path)
              for a in "XYZ"]
    for a in "XYZ":
        if _number(entry.get(f"AttachTheta{a}"), f"joint {jid} ({name}).AttachTheta{a}", path,
                   0.0) != 0.0:
            raise InputError(f"joint {jid} ({name}): rotated attach frames (AttachTheta) are "
                             "not supported", path)
    limits = [[_number(entry.get(f"Lim{side}{d}"), f"joint {jid} ({name}).Lim{side}{d}", path,
                       math.nan) for side in ("Low", "High")] for d in range(3)]
    return jid, name, kind, parent, offset, limits


def _check_tree(ids: list[int], names: list[str], kinds: list[str], parents: list[int],
                path: PathLike) -> None:
    """IDs 0..J-1, unique names, one root (ID 0, type none), parents before their children."""
    if sorted(ids) != list(range(len(ids))):
        raise InputError(f"joint IDs must be 0..{len(ids) - 1}, each once; found {sorted(ids)}",
                         path)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"duplicate joint names {dup}", path)
    if parents[0] != -1 or kinds[0] != "none":
        raise InputError(f"joint 0 ({names[0]}) must be the root: Parent -1, Type 'none'", path)
    for j, (name, kind, parent) in enumerate(zip(names, kinds, parents)):
        if j == 0:
            continue
        if parent == j:
            raise InputError(f"joint {j} ({name}) is its own parent (a cycle)", path)
        if parent < 0 or parent >= len(ids):
            raise InputError(f"joint {j} ({name}): parent {parent} does not exist "
                             "(only joint 0 may be a root)", path)
        if parent > j:
            raise InputError(f"joint {j} ({name}): parent {parent} comes after it (each parent "
                             "must have a smaller ID; forward references and cycles refused)",
                             path)
        if kind == "none":
            raise InputError(f"joint {j} ({name}): Type 'none' is only for the root", path)


@reads_file
def read_character(path: PathLike) -> DeepMimicCharacter:
    """Parse a DeepMimic character file (``Skeleton.Joints``).

    Raises:
        InputError: unreadable, not JSON, a motion file, no joints, unknown joint types, bad
            parents (missing, forward or cyclic), non-numeric offsets, rotated attach frames.
    """
    obj = _load_json(path)
    if not is_character(obj):
        if is_motion(obj):
            raise InputError("this is a DeepMimic motion file (it has 'Frames'), not a "
                             "character file", path)
        raise InputError("no 'Skeleton.Joints' list: not a DeepMimic character file", path)
    entries = obj["Skeleton"]["Joints"]
    if not entries:
        raise InputError("'Skeleton.Joints' is empty", path)
    joints = sorted((_joint(e, k, path) for k, e in enumerate(entries)), key=lambda j: j[0])
    ids, names, kinds, parents, offsets, limits = (list(c) for c in zip(*joints))
    _check_tree(ids, names, kinds, parents, path)
    widths = np.array([JOINT_WIDTHS[k] for k in kinds], dtype=np.int64)
    starts = 1 + np.concatenate([[0], np.cumsum(widths)[:-1]])
    skeleton = Skeleton(names, parents, np.asarray(offsets, dtype=np.float64))
    return DeepMimicCharacter(skeleton, kinds, starts, int(1 + widths.sum()),
                              np.asarray(limits, dtype=np.float64), os.fspath(path))


def _frame_array(frames: list, width: int, path: PathLike) -> np.ndarray:
    """``(T, width)`` float64 from the ``Frames`` list, naming the first bad frame."""
    for t, row in enumerate(frames):
        if not isinstance(row, list):
            raise InputError(f"frame {t}: expected a list of {width} numbers, found "
                             f"{type(row).__name__}", path)
        if len(row) != width:
            raise InputError(f"frame {t}: expected {width} values, found {len(row)}", path)
        for c, v in enumerate(row):
            if type(v) is not float and (type(v) is not int or abs(v) > 1e300):
                raise InputError(f"frame {t}, value {c}: not a finite number ({v!r:.40})", path)
    values = np.array(frames, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        t, c = bad[0]
        raise InputError(f"frame {t}, value {c}: not a finite number ({values[t, c]})", path)
    return values


def _check_frames(values: np.ndarray, character: DeepMimicCharacter, path: PathLike) -> float:
    """Check durations and quaternion norms; return the frame rate (1 / median duration)."""
    dur = values[:, 0]
    bad = np.flatnonzero(dur[:-1] <= 0)
    if len(bad) or dur[-1] < 0:
        t = int(bad[0]) if len(bad) else len(dur) - 1
        raise InputError(f"frame {t}: frame duration must be positive, found {dur[t]}", path)
    positive = dur[dur > 0]
    median = float(np.median(positive)) if len(positive) else 0.0
    if not median > 1e-9:  # not even a nanosecond
        raise InputError(f"no frame rate from the frame durations {dur[:3].tolist()}...", path)
    for j, q0 in character.quaternion_columns():
        norm = np.linalg.norm(values[:, q0:q0 + 4], axis=1)
        small = np.flatnonzero(~(norm >= _MIN_QUAT_NORM))
        if len(small):
            raise InputError(f"frame {small[0]}: zero quaternion for joint "
                             f"'{character.skeleton.names[j]}' (norm {norm[small[0]]:.3g})", path)
    return 1.0 / median


@reads_file
def read_deepmimic(path: PathLike, character: DeepMimicCharacter) -> DeepMimicMotion:
    """Parse a DeepMimic motion file whose frames drive ``character``.

    Raises:
        InputError: unreadable, not JSON, a character file, no or empty ``Frames``, a frame of
            the wrong width, non-numeric or non-finite values, a zero quaternion, a non-positive
            duration (other than 0 on the last frame). The message names the frame.
    """
    obj = _load_json(path)
    if not is_motion(obj):
        if is_character(obj):
            raise InputError("this is a DeepMimic character file (it has 'Skeleton'), not a "
                             "motion file", path)
        raise InputError("no 'Frames' list: not a DeepMimic motion file", path)
    frames = obj["Frames"]
    if not frames:
        raise InputError("'Frames' is empty", path)
    values = _frame_array(frames, character.width, path)
    fps = _check_frames(values, character, path)
    loop = obj.get("Loop")
    return DeepMimicMotion(character, values, fps, os.fspath(path),
                           loop if isinstance(loop, str) else None)
