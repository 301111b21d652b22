"""A reader of Acclaim ASF skeleton files (CMU, HDM05 and many labs); AMC motion: :mod:`.amc`.

ASF: ``:units`` (``length L``: a file unit is ``1/L`` inch; ``angle deg|rad``), ``:root``
(``order`` of the AMC root values, ``axis`` order, ``orientation``, ``position``), ``:bonedata``
(``direction`` in the global rest frame, ``length``, ``axis ax ay az ORDER``, ``dof``, ``limits``),
``:hierarchy`` (``parent child ...``).

Column vectors (``x' = C x``) as in :mod:`vposer.data.skeleton`: a bone's local rotation is
``L = A M A^-1``, ``A`` from ``axis`` (applied in ``ORDER``, first letter first: ``XYZ`` gives
``Rz Ry Rx``), ``M`` from the AMC values applied in ``dof`` order (``dof rz rx``: ``M = Rx Rz``);
the root's from ``orientation``/``axis`` and ``order``; ``G_child = G_parent L_child``. Root
position: ASF ``position`` + AMC translation. Bone translations and ``l`` are read, not used.

The :class:`~vposer.data.skeleton.Skeleton`: ``root``, a joint per bone named after the bone it
turns (``lfemur`` sits at the hip), ``<bone>_end`` per leaf bone; a joint's offset is its parent
bone's ``direction * length`` in metres (zero under the root); zero motion is the ASF rest pose.
Every problem raises :class:`~vposer.errors.InputError` naming the file and the line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, reads_file
from .skeleton import Skeleton
from .textfiles import read_text
from .._types import PathLike

Record = tuple[int, list[str]]  # (1-based line number, its tokens)

__all__ = ["AsfBone", "AsfSkeleton", "read_asf", "euler_matrices", "axis_matrix", "INCH"]

INCH = 0.0254  #: metres per inch
BONE_DOFS = ("rx", "ry", "rz", "tx", "ty", "tz", "l")
_AXIS = {"x": 0, "y": 1, "z": 2}


def _fail(path: PathLike, line: int | None, message: str) -> InputError:
    return InputError(f"line {line}: {message}" if line else message, path)


@dataclass
class AsfBone:
    """One ASF bone as written: ``direction`` ``(3,)`` unit vector (global rest frame),
    ``length`` in file units, ``axis`` ``(3,)`` radians about x, y, z applied in ``axis_order``,
    ``dof`` lower-case AMC channels, ``limits`` ``(lo, hi)`` pairs as written, the line of its
    ``begin`` and its ``parent`` (``'root'`` for the root's children)."""

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: list[str]
    limits: list[tuple[float, float]]
    line: int
    parent: str = ""


@dataclass
class AsfSkeleton:
    """A parsed ASF file.

    Attributes:
        skeleton: joints (root, bones, ``<bone>_end`` sites), rest offsets in metres.
        bones: name -> :class:`AsfBone`, in joint order.
        dof: joint name -> its AMC channels in order (the root's: its ``order``, lower case).
        axes: ``(J, 3, 3)`` axis matrices ``A`` per joint (identity on end sites).
        length_unit: ``L`` of ``:units length L``; angle: ``'deg'`` or ``'rad'``; mass.
        root_order: e.g. ``['TX', 'TY', 'TZ', 'RX', 'RY', 'RZ']``; root_axis: e.g. ``'XYZ'``;
        root_position: ``(3,)`` file units; root_orientation: ``(3,)`` radians.
    """

    skeleton: Skeleton
    bones: dict[str, AsfBone]
    dof: dict[str, list[str]]
    axes: np.ndarray
    length_unit: float
    angle: str
    mass: float
    root_order: list[str]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    path: str

    @property
    def metres_per_unit(self) -> float:
        """Metres per file length unit, ``0.0254 / L``."""
        return INCH / self.length_unit


def euler_matrices(angles: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Rotations about coordinate axes applied in slot order, ``R_{K-1} ... R_1 R_0``.

    Args:
        angles: ``(..., J, K)`` radians; axes: ``(J, K)`` axis ids (0 x, 1 y, 2 z).

    Returns:
        ``(..., J, 3, 3)`` (column vectors; a zero angle is the identity).
    """
    e = np.eye(3)[np.asarray(axes)]  # (J, K, 3) unit axes
    outer = e[..., :, None] * e[..., None, :]
    cross = np.zeros(e.shape + (3,))  # [e]_x
    cross[..., 0, 1], cross[..., 0, 2], cross[..., 1, 2] = -e[..., 2], e[..., 1], -e[..., 0]
    cross -= np.swapaxes(cross, -1, -2)
    c, s = np.cos(angles)[..., None, None], np.sin(angles)[..., None, None]
    rot = c * (np.eye(3) - outer) + s * cross + outer  # Rodrigues for a unit axis
    out = rot[..., 0, :, :]
    for k in range(1, rot.shape[-3]):
        out = rot[..., k, :, :] @ out
    return out


def axis_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """``(3, 3)``: rotations about x, y, z by ``angles`` ``(3,)`` (radians, in x y z order)
    applied in ``order`` (``'XYZ'`` -> ``Rz Ry Rx``), as ASF ``axis`` and root ``orientation``."""
    ids = [_AXIS[a] for a in order.lower()]
    return euler_matrices(np.asarray(angles, dtype=np.float64)[ids][None], np.array([ids]))[0]


# ------------------------------------------------------------------------------------ ASF
def _floats(path: PathLike, rec: Record, n: int, words: list[str] | None = None
            ) -> np.ndarray:
    """Exactly ``n`` finite numbers: ``words``, or else the tokens after the record's key."""
    no, toks = rec
    vals = toks[1:] if words is None else words
    if len(vals) != n:
        raise _fail(path, no, f"expected {n} number(s) after '{toks[0]}', found {len(vals)}")
    try:
        out = np.array([float(v) for v in vals])
    except ValueError:
        raise _fail(path, no, f"not a number in '{' '.join(toks)}'") from None
    if not (np.abs(out) < 1e12).all():  # also refuses nan and inf
        raise _fail(path, no, f"non-finite or out-of-range number in '{' '.join(toks)}'")
    return out


def _order(path: PathLike, no: int, word: str) -> str:
    if sorted(word.lower()) != ["x", "y", "z"]:
        raise _fail(path, no, f"axis order '{word}' is not a permutation of XYZ")
    return word.upper()


def _sections(text: str, path: PathLike) -> dict[str, list[Record]]:
    """Records (non-empty, non-comment lines) by ``:section``; words after a ``:section``
    keyword on its line form a record of their own."""
    out: dict[str, list[Record]] = {}
    current: list[Record] | None = None
    for no, line in enumerate(text.split("\n"), 1):
        toks = line.split()
        if not toks or toks[0].startswith("#"):
            continue
        if toks[0].startswith(":"):
            current = out.setdefault(toks[0][1:].lower(), [])
            toks = toks[1:]
        elif current is None:
            raise _fail(path, no, f"'{toks[0]}' before the first :section")
        if toks:
            current.append((no, toks))
    for need in ("root", "bonedata"):
        if need not in out:
            raise _fail(path, None, f"no :{need} section (not an ASF file?)")
    return out


def _units(recs: list[Record], path: PathLike) -> tuple[float, str, float]:
    length, angle, mass = 1.0, "deg", 1.0
    for no, toks in recs:
        key = toks[0].lower()
        if key == "length":
            length = float(_floats(path, (no, toks), 1)[0])
            if length <= 0:
                raise _fail(path, no, f"length unit must be positive, got {length}")
        elif key == "mass":
            mass = float(_floats(path, (no, toks), 1)[0])
        elif key == "angle":
            word = toks[1].lower() if len(toks) == 2 else ""
            if word not in ("deg", "degree", "degrees", "rad", "radian", "radians"):
                raise _fail(path, no, f"angle unit must be deg or rad: '{' '.join(toks)}'")
            angle = word[:3]
    return length, angle, mass


def _root(recs: list[Record], path: PathLike) -> dict:
    out = {"order": ["tx", "ty", "tz", "rx", "ry", "rz"], "axis": "XYZ",
           "position": np.zeros(3), "orientation": np.zeros(3)}
    for no, toks in recs:
        key = toks[0].lower()
        if key == "order":
            order = [t.lower() for t in toks[1:]]
            if len(set(order)) != len(order) or not set(order) <= set(BONE_DOFS[:6]):
                raise _fail(path, no, f"root order must list distinct TX TY TZ RX RY RZ: {toks}")
            out["order"] = order
        elif key == "axis":
            if len(toks) != 2:
                raise _fail(path, no, "expected 'axis ORDER' (e.g. 'axis XYZ')")
            out["axis"] = _order(path, no, toks[1])
        elif key in ("position", "orientation"):
            out[key] = _floats(path, (no, toks), 3)
    return out


def _bone(block: dict[str, Record], begin: int, path: PathLike, to_rad: float) -> AsfBone:
    """An :class:`AsfBone` from the records of one ``begin ... end`` block (by key)."""
    for key in ("name", "direction", "length"):
        if key not in block:
            raise _fail(path, begin, f"bone without '{key}' (block starting here)")
    if len(block["name"][1]) != 2:
        raise _fail(path, block["name"][0], "expected 'name NAME'")
    direction = _floats(path, block["direction"], 3)
    norm = float(np.linalg.norm(direction))
    length = float(_floats(path, block["length"], 1)[0])
    if length < 0:
        raise _fail(path, block["length"][0], f"negative bone length {length}")
    axis, order = np.zeros(3), "XYZ"
    if "axis" in block:
        no, toks = block["axis"]
        if len(toks) != 5:
            raise _fail(path, no, "expected 'axis ax ay az ORDER'")
        axis, order = _floats(path, (no, toks), 3, toks[1:4]) * to_rad, _order(path, no, toks[4])
    dof: list[str] = []
    if "dof" in block:
        no, toks = block["dof"]
        dof = [t.lower() for t in toks[1:]]
        if len(set(dof)) != len(dof) or not set(dof) <= set(BONE_DOFS):
            raise _fail(path, no, f"dof must list distinct names of {BONE_DOFS}: {toks[1:]}")
    return AsfBone(block["name"][1][1], direction / norm if norm > 0 else direction, length,
                   axis, order, dof, _limits(block.get("limits"), path), begin)


def _limits(rec: Record | None, path: PathLike) -> list[tuple[float, float]]:
    try:
        if rec is None:
            return []
        vals = [float(w) for w in re.sub(r"[()]", " ", " ".join(rec[1][1:])).split()]
        if len(vals) % 2:
            raise ValueError
    except ValueError:
        raise _fail(path, rec[0], "limits must be '(lo hi)' number pairs") from None
    return list(zip(vals[0::2], vals[1::2]))


def _bones(recs: list[Record], path: PathLike, to_rad: float) -> dict[str, AsfBone]:
    bones: dict[str, AsfBone] = {}
    block: dict[str, Record] | None = None
    begin, last = 0, ""
    for no, toks in recs:
        key = toks[0].lower()
        if key == "begin":
            if block is not None:
                raise _fail(path, no, "'begin' inside a bone block (missing 'end'?)")
            block, begin, last = {}, no, ""
        elif block is None:
            raise _fail(path, no, f"'{toks[0]}' outside a bone's begin ... end")
        elif key == "end":
            bone = _bone(block, begin, path, to_rad)
            if bone.name in bones or bone.name == "root":
                raise _fail(path, begin, f"bone name '{bone.name}' used twice")
            bones[bone.name], block = bone, None
        elif toks[0].startswith("(") and last == "limits":  # limits go on over several lines
            block["limits"][1].extend(toks)
        else:
            block[key], last = (no, list(toks)), key
    if block is not None:
        raise _fail(path, begin, "bone block without 'end' (truncated file?)")
    return bones


def _hierarchy(recs: list[Record], bones: dict[str, AsfBone], path: PathLike
               ) -> dict[str, list[str]]:
    """Children per joint name, in file order; sets each bone's ``parent``."""
    children: dict[str, list[str]] = {"root": [], **{b: [] for b in bones}}
    for no, toks in recs:
        if len(toks) == 1 and toks[0].lower() in ("begin", "end"):
            continue
        for name in toks:
            if name not in children:
                raise _fail(path, no, f"hierarchy names unknown bone '{name}'")
        for kid in toks[1:]:
            if kid == "root" or bones[kid].parent:
                raise _fail(path, no, f"bone '{kid}' is given a second parent")
            bones[kid].parent = toks[0]
            children[toks[0]].append(kid)
    return children


def _joint_order(bones: dict[str, AsfBone], children: dict[str, list[str]], path: PathLike
                 ) -> list[str]:
    """Bone names depth-first from the root (parents first); refuses orphans and cycles."""
    order, stack = [], list(reversed(children["root"]))
    while stack:
        order.append(stack.pop())
        stack.extend(reversed(children[order[-1]]))
    reached = set(order)
    for name, bone in bones.items():
        if name not in reached:
            seen = [name]
            while bones[seen[-1]].parent in bones and bones[seen[-1]].parent not in seen:
                seen.append(bones[seen[-1]].parent)
            why = (f"bones {' -> '.join(seen)} form a cycle" if bones[seen[-1]].parent
                   else f"bone '{seen[-1]}' has no parent in :hierarchy")
            raise _fail(path, bone.line, f"bone '{name}' has no path to the root: {why}")
    return order


@reads_file
def read_asf(path: PathLike) -> AsfSkeleton:
    """Parse an ASF file (plain or ``.gz``, any line endings). Raises InputError (with the
    line)."""
    sections = _sections(read_text(path), path)
    length, angle, mass = _units(sections.get("units", []), path)
    to_rad = np.pi / 180.0 if angle == "deg" else 1.0
    root = _root(sections["root"], path)
    bones = _bones(sections["bonedata"], path, to_rad)
    children = _hierarchy(sections.get("hierarchy", []), bones, path)
    order, scale = _joint_order(bones, children, path), INCH / length
    names, parents, offsets = ["root"], [-1], [root["position"] * scale]
    axes, index = [axis_matrix(root["orientation"] * to_rad, root["axis"])], {"root": 0}
    for name in order:
        bone, up = bones[name], bones.get(bones[name].parent)
        parents.append(index[bone.parent])
        index[name] = len(names)
        names.append(name)
        offsets.append(np.zeros(3) if up is None else up.direction * up.length * scale)
        axes.append(axis_matrix(bone.axis, bone.axis_order))
        if not children[name]:  # a leaf: its end site
            end = name + "_end"
            while end in bones or end in names:
                end += "_end"
            parents.append(len(names) - 1)
            names.append(end)
            offsets.append(bone.direction * bone.length * scale)
            axes.append(np.eye(3))
    if not (np.abs(offsets) < 1e9).all():
        raise _fail(path, None, "bone lengths out of range in metres (check :units length)")
    return AsfSkeleton(Skeleton(names, parents, np.asarray(offsets)), {n: bones[n] for n in order},
                       {"root": root["order"], **{n: bones[n].dof for n in order}},
                       np.asarray(axes), length, angle, mass, [d.upper() for d in root["order"]],
                       root["axis"], root["position"], root["orientation"] * to_rad,
                       os.fspath(path))


# ------------------------------------------------------------------------------------ AMC
