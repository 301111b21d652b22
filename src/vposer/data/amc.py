"""A reader of Acclaim AMC motion files, with their ASF skeleton (:mod:`.asf`).

AMC: a frame number on its own line, then ``name v1 v2 ...`` per bone in its ``dof`` order (the
root's: the ASF ``order``); ``:FULLY-SPECIFIED`` optional, ``:DEGREES``/``:RADIANS`` override the
ASF's angle unit. :func:`pair_asf` finds the skeleton an AMC file belongs to. Every problem
raises :class:`~vposer.errors.InputError` naming the file and the line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ..errors import InputError, reads_file
from .asf import _AXIS, AsfSkeleton, PathLike, _fail, euler_matrices
from .skeleton import Skeleton, forward_kinematics
from .textfiles import plain_name, read_text

__all__ = ["AmcMotion", "read_amc", "pair_asf"]

_WS = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)  # what bytes.split() splits on


@dataclass
class AmcMotion:
    """A parsed AMC file, duck-compatible with :class:`~vposer.data.bvh.BvhMotion`.

    Attributes:
        asf: the skeleton; motion: ``(T, C)`` float64 values as written (angles in ``angle``
        units, translations in file units); columns: the ``C`` (joint, dof) pairs; fps; path;
        first_frame: the first frame's number; fully_specified: the header says so.
    """

    asf: AsfSkeleton
    motion: np.ndarray
    columns: list[tuple[str, str]]
    fps: float
    path: str
    angle: str = "deg"
    first_frame: int = 1
    fully_specified: bool = False
    _col: dict[tuple[str, str], int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._col = {c: k for k, c in enumerate(self.columns)}

    @property
    def skeleton(self) -> Skeleton:
        return self.asf.skeleton

    @property
    def frame_time(self) -> float:
        return 1.0 / self.fps if self.fps > 0 else 0.0

    def local_rotations(self) -> np.ndarray:
        """``(T, J, 3, 3)`` local rotations ``A M A^-1`` (identity on joints without any)."""
        names, t = self.skeleton.names, len(self.motion)
        joints, angles, axes = [], [], []
        for j, name in enumerate(names):
            rot = [d for d in self.asf.dof.get(name, []) if d[0] == "r"]
            if rot:
                joints.append(j)
                pad = np.zeros((t, 3 - len(rot)))
                angles.append(np.hstack([self.motion[:, [self._col[(name, d)] for d in rot]], pad]))
                axes.append([_AXIS[d[1]] for d in rot] + [0] * (3 - len(rot)))
        local = np.tile(np.eye(3), (t, len(names), 1, 1))
        if joints:
            ang = np.stack(angles, axis=1)
            ang = np.radians(ang) if self.angle == "deg" else ang
            a = self.asf.axes[joints]
            local[:, joints] = a @ euler_matrices(ang, np.array(axes)) @ np.swapaxes(a, -1, -2)
        return local

    def root_position(self) -> np.ndarray:
        """``(T, 3)`` AMC root translation in metres (added to the ASF root ``position``)."""
        pos = np.zeros((len(self.motion), 3))
        for d in ("tx", "ty", "tz"):
            if ("root", d) in self._col:
                pos[:, _AXIS[d[1]]] = self.motion[:, self._col[("root", d)]]
        with np.errstate(over="ignore"):  # read_amc refuses a file that overflows here
            return pos * self.asf.metres_per_unit

    def global_rotations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(T, J, 3, 3)`` global rotations and ``(T, J, 3)`` joint positions in metres."""
        return forward_kinematics(self.skeleton, self.local_rotations(), self.root_position())


def _tokenise(text: str) -> tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All tokens of ``text`` and, per non-empty line: its first token's index, its token count,
    its 1-based line number and its first byte (vectorised over the whole text)."""
    data = text.encode("utf-8")
    arr = np.frombuffer(data, dtype=np.uint8)
    space = np.isin(arr, _WS)
    start = ~space
    start[1:] &= space[:-1]
    starts = np.flatnonzero(start)
    line_of = np.searchsorted(np.flatnonzero(arr == 10), starts)  # newlines before the token
    tokens = data.split()
    first = np.flatnonzero(np.diff(line_of, prepend=-1) != 0)
    counts = np.diff(np.append(first, len(tokens)))
    return tokens, first, counts, line_of[first] + 1, arr[starts[first]]


def _amc_header(heads: list[bytes], lines: np.ndarray, path: PathLike) -> tuple[bool, str]:
    """``(fully_specified, angle unit or '')`` from the lines before the first frame."""
    full, angle = False, ""
    for head, no in zip(heads, lines):
        word = head.decode(errors="replace").upper()
        if word == ":FULLY-SPECIFIED":
            full = True
        elif word in (":DEGREES", ":RADIANS"):
            angle = word[1:4].lower()
        elif not word.startswith((":", "#")):
            raise _fail(path, int(no), f"'{word}' before the first frame number")
    return full, angle


def _frame_numbers(heads: list[bytes], lines: np.ndarray, path: PathLike) -> int:
    """The first frame number; refuses gaps."""
    big = [k for k, h in enumerate(heads) if len(h) > 15]
    if big:
        raise _fail(path, int(lines[big[0]]), "frame number too large")
    nums = np.array([int(h) for h in heads], dtype=np.int64)
    gap = np.flatnonzero(np.diff(nums) != 1)
    if len(gap):
        k = int(gap[0]) + 1
        raise _fail(path, int(lines[k]), f"frame {nums[k]} follows frame {nums[k - 1]} "
                                         "(frames must be numbered consecutively)")
    return int(nums[0])


def _values(tokens: list[bytes], idx: np.ndarray, line: np.ndarray, path: PathLike
            ) -> np.ndarray:
    """Tokens ``idx`` as finite float64 (``line[k]``: the line of token ``k``, for errors)."""
    words = [tokens[i] for i in idx]
    try:
        vals = np.array(words, dtype=np.float64).reshape(-1)
    except ValueError:
        vals = np.zeros(len(words))
        for k, w in enumerate(words):
            try:
                vals[k] = float(w)
            except ValueError:
                raise _fail(path, int(line[k]), f"not a number: '{w.decode(errors='replace')}'"
                            ) from None
    bad = np.flatnonzero(~np.isfinite(vals))
    if len(bad):
        word = words[bad[0]].decode(errors="replace")
        raise _fail(path, int(line[bad[0]]), f"non-finite value '{word}'")
    return vals


def _bone_lines(heads: list[bytes], rows: np.ndarray, counts: np.ndarray, lines: np.ndarray,
                asf: AsfSkeleton, path: PathLike) -> np.ndarray:
    """Joint ids (into ``asf.dof``) of the bone lines ``rows``; refuses unknown names and lines
    with the wrong number of values."""
    names = list(asf.dof)
    lookup = {n.encode("utf-8"): k for k, n in enumerate(names)}
    ids = np.array([lookup.get(heads[r], -1) for r in rows], dtype=np.int64)
    bad = np.flatnonzero(ids < 0)
    if len(bad):
        word = heads[rows[bad[0]]].decode(errors="replace")
        what = "unexpected keyword" if word.startswith(":") else "bone not in the ASF"
        raise _fail(path, int(lines[rows[bad[0]]]), f"{what} '{word}' ({asf.path})")
    ndof = np.array([len(d) for d in asf.dof.values()], dtype=np.int64)
    wrong = np.flatnonzero(counts[rows] - 1 != ndof[ids])
    if len(wrong):
        r, b = rows[wrong[0]], names[ids[wrong[0]]]
        raise _fail(path, int(lines[r]), f"expected {len(asf.dof[b])} values for bone {b} "
                    f"(dof {' '.join(asf.dof[b])}), found {int(counts[r]) - 1}")
    return ids


@reads_file
def read_amc(path: PathLike, asf: AsfSkeleton, fps: float = 120.0) -> AmcMotion:
    """Parse an AMC file (plain or ``.gz``, any line endings) of ``asf`` at ``fps`` (CMU: 120).

    Bones absent from a frame keep zero values, unless the file is ``:FULLY-SPECIFIED`` (then
    a missing line is an error, e.g. a truncated last frame). Raises InputError (with the line).
    """
    tokens, first, counts, lines, lead = _tokenise(read_text(path))
    heads = [tokens[i] for i in first]
    is_frame = np.zeros(len(heads), dtype=bool)
    single = np.flatnonzero(counts == 1)
    is_frame[single] = [heads[i].isdigit() for i in single]
    frame_rows = np.flatnonzero(is_frame)
    if not len(frame_rows):
        raise _fail(path, None, "no frames (each frame starts with its number on a line)")
    full, angle = _amc_header(heads[: frame_rows[0]], lines, path)
    first_no = _frame_numbers([heads[i] for i in frame_rows], lines[frame_rows], path)
    rows = np.flatnonzero(~is_frame & (lead != ord("#")))
    rows = rows[rows > frame_rows[0]]
    ids = _bone_lines(heads, rows, counts, lines, asf, path)
    frame = np.searchsorted(frame_rows, rows) - 1
    _, where = np.unique(frame * len(asf.dof) + ids, return_index=True)
    if len(where) < len(rows):
        dup = rows[np.setdiff1d(np.arange(len(rows)), where)[0]]
        raise _fail(path, int(lines[dup]), f"bone {heads[dup].decode()} appears twice in a frame")
    ndof = np.array([len(d) for d in asf.dof.values()], dtype=np.int64)
    n = ndof[ids]
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # value index within its line
    vals = _values(tokens, np.repeat(first[rows], n) + 1 + k, np.repeat(lines[rows], n), path)
    motion = np.zeros((len(frame_rows), int(ndof.sum())))
    motion[np.repeat(frame, n), np.repeat((np.cumsum(ndof) - ndof)[ids], n) + k] = vals
    if full:
        present = np.zeros((len(frame_rows), len(ndof)), dtype=bool)
        present[frame, ids] = True
        missing = np.argwhere(~present & (ndof > 0))
        if len(missing):
            f, b = missing[0]
            raise _fail(path, int(lines[frame_rows[f]]), f"frame {first_no + f} has no line for "
                        f"bone {list(asf.dof)[b]} (the file is :FULLY-SPECIFIED; truncated?)")
    out = AmcMotion(asf, motion, [(j, d) for j, dofs in asf.dof.items() for d in dofs],
                    float(fps), os.fspath(path), angle or asf.angle, first_no, full)
    if not np.isfinite(out.root_position()).all():
        raise _fail(path, None, "root translation overflows in metres")
    return out


# ------------------------------------------------------------------------------------ pairing
def _stem(path: PathLike, ext: str) -> str:
    name = plain_name(path)
    return name[: -len(ext)] if name.endswith(ext) else name.rsplit(".", 1)[0]


def pair_asf(amc_path: PathLike, asf_paths: Sequence[PathLike] | None = None) -> Path:
    """The ASF skeleton an AMC file belongs to.

    The only one of ``asf_paths`` in the AMC's folder, or else the one whose name (without
    ``.asf``/``.gz``, case-insensitive) is the longest prefix of the AMC's name (``01.asf`` for
    ``01_01.amc.gz``); ``asf_paths`` defaults to the ASF files in the AMC's folder. Raises
    InputError when none matches or two in other folders match equally well.
    """
    amc = Path(amc_path)
    if asf_paths is None:
        asf_paths = [p for p in amc.parent.glob("*")
                     if re.search(r"\.asf(\.gz)?$", p.name, re.IGNORECASE)]
    folder = os.path.dirname(os.path.abspath(amc))
    cands = sorted({os.path.abspath(p): Path(p) for p in asf_paths}.items())
    here = [p for a, p in cands if os.path.dirname(a) == folder]
    if len(here) == 1:
        return here[0]
    stem = _stem(amc, ".amc")
    scored = sorted(((len(_stem(p, ".asf")), os.path.dirname(a) == folder, p) for a, p in cands
                     if stem.startswith(_stem(p, ".asf"))), key=lambda s: s[:2], reverse=True)
    if not scored:
        raise InputError("no ASF skeleton found for this AMC file (none in its folder, and "
                         "none whose name starts the AMC's name)", amc)
    if len(scored) > 1 and scored[0][:2] == scored[1][:2]:
        raise InputError(f"ambiguous ASF skeleton: {scored[0][2]} or {scored[1][2]}", amc)
    return scored[0][2]
