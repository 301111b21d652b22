"""The body-model kinds this package knows: joint counts, kinematic trees and pose layouts.

A *kind* fixes how the flat pose vector of a model is assembled from named parts. The full pose
is always the concatenation, in this order, of the parts present for that kind::

    root_orient, pose_body, pose_jaw, pose_eye, pose_hand

which is also the model's joint order (root first). Every part is axis-angle, 3 numbers a joint.

=======  ======  ========  ====  ====  =====  ===========================
kind     joints  vertices  body  jaw   eyes   hands
=======  ======  ========  ====  ====  =====  ===========================
smpl     24      6890      21    -     -      2 (one joint a hand)
smplh    52      6890      21    -     -      30 (15 a hand, left first)
smplx    55      10475     21    1     2      30
mano     16      778       -     -     -      15 (one hand)
open     22      any       21    -     -      -   (the shipped open body)
=======  ======  ========  ====  ====  =====  ===========================
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "POSE_PARTS", "Kind", "get_kind", "kind_from_posedirs"]

#: Names of the pose parts, in full-pose order.
POSE_PARTS = ("root_orient", "pose_body", "pose_jaw", "pose_eye", "pose_hand")

_SMPL_BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
_SMPL_BODY_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")


def _hand_parents(wrist: int, first: int) -> tuple[int, ...]:
    """Parents of the 15 finger joints numbered from ``first``: five 3-joint chains."""
    parents = []
    for f in range(5):
        base = first + 3 * f
        parents += [wrist, base, base + 1]
    return tuple(parents)


def _hand_names(side: str) -> tuple[str, ...]:
    prefix = f"{side}_" if side else ""
    return tuple(f"{prefix}{finger}{i}" for finger in _FINGERS for i in (1, 2, 3))


@dataclass(frozen=True)
class Kind:
    """One body-model kind.

    Attributes:
        name: ``'smpl'``, ``'smplh'``, ``'smplx'``, ``'mano'`` or ``'open'``.
        parents: parent of each joint, root first with parent -1.
        joint_names: one name a joint.
        parts: joints per pose part, keyed by the names of :data:`POSE_PARTS` (absent = 0).
        num_vertices: vertex count of the official files (None: any).
        has_blendshapes: whether the files carry shape and pose blend shapes.
    """

    name: str
    parents: tuple[int, ...]
    joint_names: tuple[str, ...]
    parts: dict
    num_vertices: int | None
    has_blendshapes: bool = True

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def part_width(self, part: str) -> int:
        """Number of axis-angle numbers of a pose part (0 when the kind lacks it)."""
        return 3 * self.parts.get(part, 0)


KINDS: dict[str, Kind] = {
    "smpl": Kind(
        "smpl",
        _SMPL_BODY_PARENTS + (20, 21),
        _SMPL_BODY_NAMES + ("left_hand", "right_hand"),
        {"root_orient": 1, "pose_body": 21, "pose_hand": 2},
        6890,
    ),
    "smplh": Kind(
        "smplh",
        _SMPL_BODY_PARENTS + _hand_parents(20, 22) + _hand_parents(21, 37),
        _SMPL_BODY_NAMES + _hand_names("left") + _hand_names("right"),
        {"root_orient": 1, "pose_body": 21, "pose_hand": 30},
        6890,
    ),
    "smplx": Kind(
        "smplx",
        _SMPL_BODY_PARENTS + (15, 15, 15) + _hand_parents(20, 25) + _hand_parents(21, 40),
        _SMPL_BODY_NAMES + ("jaw", "left_eye", "right_eye")
        + _hand_names("left") + _hand_names("right"),
        {"root_orient": 1, "pose_body": 21, "pose_jaw": 1, "pose_eye": 2, "pose_hand": 30},
        10475,
    ),
    "mano": Kind(
        "mano",
        (-1,) + _hand_parents(0, 1),
        ("wrist",) + _hand_names(""),
        {"root_orient": 1, "pose_hand": 15},
        778,
    ),
    "open": Kind(
        "open",
        _SMPL_BODY_PARENTS,
        _SMPL_BODY_NAMES,
        {"root_orient": 1, "pose_body": 21},
        None,
        has_blendshapes=False,
    ),
}

# posedirs width / 3 (= 3 x the non-root joints) -> kind
_BY_POSEDIRS = {69: "smpl", 153: "smplh", 162: "smplx", 45: "mano"}


def kind_from_posedirs(width: int) -> str | None:
    """The kind whose pose blend shapes have ``width`` columns (9 per non-root joint), or None."""
    if width % 3:
        return None
    return _BY_POSEDIRS.get(width // 3)


def get_kind(name: str) -> Kind:
    """Look a kind up by name (case-insensitive; 'smpl+h' and 'smpl-x' accepted)."""
    key = name.lower().replace("+", "").replace("-", "").replace("_", "")
    if key not in KINDS:
        raise KeyError(name)
    return KINDS[key]
