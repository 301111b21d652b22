"""A general BVH reader and a writer.

BVH conventions (as written by MotionBuilder, Blender, the CMU conversions): each joint has an
``OFFSET`` from its parent in the parent's frame and ``CHANNELS`` in any order; the rotation
channels, in degrees, compose left to right, ``R = R_a(a) R_b(b) R_c(c)`` for channels ``a b c``
(column vectors, ``x' = R x``), and ``C_i = C_parent R_i``, ``p_i = p_parent + C_parent offset_i``.
At zero rotation every joint frame is world-aligned, which is the rest pose. ``End Site`` blocks
become channel-less joints named ``<parent>_end``. Position channels of the root translate it
(added to its offset); position channels of other joints are read but not used for the rest
pose.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ..errors import InputError, reads_file
from ..fileio import write_text
from ..rotations_np import rodrigues
from .textfiles import read_text
from .skeleton import Skeleton, forward_kinematics
from .._types import PathLike


__all__ = ["BvhMotion", "read_bvh", "write_bvh", "euler_to_matrix", "matrix_to_euler"]

_AXES = {"x": 0, "y": 1, "z": 2}


@dataclass
class BvhMotion:
    """A parsed BVH file.

    Attributes:
        skeleton: joints (End Sites included), parents, rest offsets.
        channels: per joint, its channel names (e.g. ``['Zrotation', 'Xrotation', 'Yrotation']``).
        motion: ``(T, C)`` float64 channel values, columns in file order.
        frame_time: seconds per frame.
    """

    skeleton: Skeleton
    channels: list[list[str]]
    motion: np.ndarray
    frame_time: float
    path: str | None = None

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else 0.0

    def _columns(self) -> list[tuple[int, int, str]]:
        cols, k = [], 0
        for j, chans in enumerate(self.channels):
            for name in chans:
                cols.append((k, j, name.lower()))
                k += 1
        return cols

    def local_rotations(self) -> np.ndarray:
        """``(T, J, 3, 3)`` local rotations from the rotation channels (identity where none)."""
        t, nj = len(self.motion), len(self.skeleton)
        angles = np.zeros((t, nj, 3))
        axes = np.zeros((nj, 3), dtype=np.int64)
        slot = np.zeros(nj, dtype=np.int64)
        for col, j, name in self._columns():
            if name.endswith("rotation"):
                axes[j, slot[j]] = _AXES[name[0]]
                angles[:, j, slot[j]] = self.motion[:, col]
                slot[j] += 1
        return euler_to_matrix(np.radians(angles), axes)

    def root_position(self) -> np.ndarray:
        """``(T, 3)`` root translation from its position channels (zeros when it has none)."""
        pos = np.zeros((len(self.motion), 3))
        for col, j, name in self._columns():
            if j == 0 and name.endswith("position"):
                pos[:, _AXES[name[0]]] = self.motion[:, col]
        return pos

    def global_rotations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(T, J, 3, 3)`` global rotations and ``(T, J, 3)`` positions."""
        return forward_kinematics(self.skeleton, self.local_rotations(), self.root_position())


def euler_to_matrix(angles: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Intrinsic Euler angles to matrices, ``R = R_a0(t0) R_a1(t1) R_a2(t2)``.

    Args:
        angles: ``(..., J, 3)`` radians; axes: ``(J, 3)`` axis ids (0 x, 1 y, 2 z) per joint.

    Returns:
        ``(..., J, 3, 3)``.
    """
    unit = np.eye(3)[np.asarray(axes)]  # (J, 3, 3): k-th row = axis of the k-th rotation
    mats = rodrigues(angles[..., None] * unit)  # (..., J, 3, 3, 3)
    return mats[..., 0, :, :] @ mats[..., 1, :, :] @ mats[..., 2, :, :]


def matrix_to_euler(matrix: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Inverse of :func:`euler_to_matrix` for a Tait-Bryan order such as ``'ZXY'``.

    Args:
        matrix: ``(..., 3, 3)``; order: three distinct axes, the first applied outermost.

    Returns:
        ``(..., 3)`` radians, middle angle in ``[-pi/2, pi/2]``.
    """
    i, j, k = (_AXES[a] for a in order.lower())
    if len({i, j, k}) != 3:
        raise ValueError(f"not a Tait-Bryan order: {order}")
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    m = np.asarray(matrix, dtype=np.float64)
    beta = np.arcsin(np.clip(sign * m[..., i, k], -1.0, 1.0))
    alpha = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    gamma = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    return np.stack([alpha, beta, gamma], axis=-1)


class _Tokens:
    """The HIERARCHY's words with their line numbers, for errors that say where."""

    def __init__(self, lines: Sequence[str], first_line: int, path: str):
        self.items = [(word, first_line + k) for k, line in enumerate(lines)
                      for word in line.split()]
        self.pos = 0
        self.path = path

    def line(self) -> int:
        """The line of the last word read (or of the next, before any)."""
        k = min(max(self.pos - 1, 0), len(self.items) - 1)
        return self.items[k][1] if self.items else 1

    def error(self, message: str) -> InputError:
        return InputError(f"line {self.line()}: {message}", self.path)

    def next(self) -> str:
        if self.pos >= len(self.items):
            raise InputError("unexpected end of the HIERARCHY (truncated file?)", self.path)
        self.pos += 1
        return self.items[self.pos - 1][0]

    def expect(self, word: str) -> None:
        got = self.next()
        if got.upper() != word.upper():
            raise self.error(f"expected '{word}', found '{got}'")

    def floats(self, n: int) -> list[float]:
        values = [self.next() for _ in range(n)]
        try:
            out = [float(v) for v in values]
        except ValueError:
            raise self.error(f"expected {n} numbers, found {' '.join(values)!r}") from None
        if not all(np.isfinite(out)):
            raise self.error(f"non-finite value in {' '.join(values)!r}")
        return out


def _parse_joint(tok: _Tokens, name: str, parent: int, out: dict[str, list], depth: int = 0) -> None:
    if depth > 1000:
        raise tok.error("joints nested more than 1000 deep")
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    out["offsets"].append([0.0, 0.0, 0.0])
    out["channels"].append([])
    tok.expect("{")
    while True:
        word = tok.next()
        key = word.upper()
        if key == "OFFSET":
            out["offsets"][index] = tok.floats(3)
        elif key == "CHANNELS":
            text = tok.next()
            if not text.isdigit() or int(text) > 6:
                raise tok.error(f"joint {name}: bad channel count {text!r}")
            chans = [tok.next() for _ in range(int(text))]
            bad = [c for c in chans if c.lower() not in {f"{a}{k}" for a in "xyz"
                                                         for k in ("rotation", "position")}]
            if bad:
                raise tok.error(f"joint {name}: unknown channel(s) {bad}")
            out["channels"][index] = chans
        elif key == "JOINT":
            _parse_joint(tok, tok.next(), index, out, depth + 1)
        elif key == "END":
            tok.expect("Site")
            _parse_joint(tok, f"{name}_end", index, out, depth + 1)
        elif key == "}":
            return
        else:
            raise tok.error(f"unexpected '{word}' in joint {name}")


@reads_file
def read_bvh(path: PathLike) -> BvhMotion:
    """Parse a BVH file (hierarchy, offsets, channels in any order, motion, frame time); a
    ``.gz`` file is read as it is.

    Raises:
        InputError: the file is missing or malformed (the message names the line and problem).
    """
    path = Path(path)
    lines = read_text(path).split("\n")
    split = next((k for k, line in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    if split is None:
        raise InputError("no MOTION section (not a BVH file, or truncated?)", path)
    tok = _Tokens(lines[:split], 1, str(path))
    tok.expect("HIERARCHY")
    tok.expect("ROOT")
    out: dict[str, list] = {"names": [], "parents": [], "offsets": [], "channels": []}
    _parse_joint(tok, tok.next(), -1, out)
    if tok.pos != len(tok.items):
        raise InputError(f"line {tok.items[tok.pos][1]}: only one ROOT hierarchy is supported",
                         path)
    width = sum(len(c) for c in out["channels"])
    frames, frame_time, values = _parse_motion(lines, split + 1, width, str(path))
    skeleton = Skeleton(out["names"], out["parents"], np.asarray(out["offsets"]))
    return BvhMotion(skeleton, out["channels"], values, frame_time, str(path))


def _header(lines: Sequence[str], k: int, label: str, path: str) -> str:
    if k >= len(lines) or ":" not in lines[k] or \
            lines[k].split(":")[0].strip().lower() != label.lower():
        raise InputError(f"line {k + 1}: expected '{label}: ...' after MOTION", path)
    return lines[k].split(":", 1)[1].strip()


def _parse_motion(lines: Sequence[str], start: int, width: int, path: str
                  ) -> tuple[int, float, np.ndarray]:
    """``(frames, frame_time, (frames, width) values)`` of the lines after ``MOTION``."""
    frames_text = _header(lines, start, "Frames", path)
    time_text = _header(lines, start + 1, "Frame Time", path)
    try:
        frames, frame_time = int(frames_text), float(time_text)
    except ValueError:
        raise InputError(f"line {start + 1}: bad 'Frames: {frames_text}' or "
                         f"'Frame Time: {time_text}'", path) from None
    if frames < 0 or not np.isfinite(frame_time) or frame_time <= 0:
        raise InputError(f"line {start + 1}: {frames} frames of {frame_time:g} s; expected a "
                         "count >= 0 and a positive frame time", path)
    rows = [(k + 1, line) for k, line in enumerate(lines[start + 2:], start + 2) if line.strip()]
    if len(rows) != frames:
        raise InputError(f"{len(rows)} lines of motion values for 'Frames: {frames}' "
                         "(truncated file?)", path)
    for number, line in rows:
        count = len(line.split())
        if count != width:
            raise InputError(f"line {number}: {count} values; the hierarchy has {width} "
                             "channels", path)
    try:
        values = np.array(" ".join(line for _, line in rows).split(), dtype=np.float64)
    except ValueError:
        bad = next(n for n, line in rows if not _numeric(line))
        raise InputError(f"line {bad}: not a number in the motion values", path) from None
    values = values.reshape(frames, width)
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise InputError(f"line {rows[row][0]}: non-finite motion value", path)
    return frames, frame_time, values


def _numeric(line: str) -> bool:
    try:
        [float(v) for v in line.split()]
    except ValueError:
        return False
    return True


def write_bvh(path: PathLike, skeleton: Skeleton, local: np.ndarray,
              root_position: np.ndarray | None = None, frame_time: float = 1 / 30,
              order: str = "ZXY", orders: Sequence[str] | None = None,
              end_sites: dict[int, Sequence[float]] | None = None, precision: int = 6) -> None:
    """Write a BVH file: 6 channels on the root, 3 rotation channels on every other joint.

    Args:
        path: the file to write.
        skeleton: joints, parents (each before its children) and rest offsets.
        local: ``(T, J, 3, 3)`` local rotations (column convention).
        root_position: ``(T, 3)`` root translation (default zeros).
        frame_time: seconds per frame.
        order: rotation channel order (e.g. ``'ZXY'``), or per joint with ``orders``.
        end_sites: joint index -> End Site offset for joints without children (default: a
            zero offset).
        precision: decimals written.
    """
    t, nj = local.shape[:2]
    orders = list(orders) if orders is not None else [order] * nj
    root_position = np.zeros((t, 3)) if root_position is None else np.asarray(root_position)
    end_sites = end_sites or {}
    lines = ["HIERARCHY"]
    fmt = f"{{:.{precision}f}}"

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if skeleton.parents[j] < 0 else "JOINT"
        lines.append(f"{pad}{kind} {skeleton.names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET " + " ".join(fmt.format(v) for v in skeleton.offsets[j]))
        rot = " ".join(f"{a.upper()}rotation" for a in orders[j])
        chans = f"6 Xposition Yposition Zposition {rot}" if kind == "ROOT" else f"3 {rot}"
        lines.append(f"{pad}  CHANNELS {chans}")
        kids = skeleton.children(j)
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            site = end_sites.get(j, (0.0, 0.0, 0.0))
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET " + " ".join(fmt.format(v) for v in site),
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    visit: list[int] = []
    _dfs(skeleton, 0, visit)
    cols = [root_position]
    for j in visit:
        cols.append(np.degrees(matrix_to_euler(local[:, j], orders[j])))
    values = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {frame_time:.8f}"]
    lines += [" ".join(fmt.format(v) for v in row) for row in values]
    write_text(path, "\n".join(lines) + "\n")


def _dfs(skeleton: Skeleton, j: int, out: list[int]) -> None:
    out.append(j)
    for c in skeleton.children(j):
        _dfs(skeleton, c, out)
