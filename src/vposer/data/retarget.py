"""Retargeting a source skeleton's motion onto SMPL's 22 joints (global bone matching).

Method (the spec's, verified by a prototype). All rotations are column-vector globals
(``x' = C x``) in world-aligned rest frames. With ``s(j)`` the source joint driving SMPL joint
``j`` (:mod:`vposer.data.mapping`) and ``W`` the fixed rotation from the source world axes to
SMPL's (y up, +z forward, +x the body's left; identity for CMU)::

    C_smpl[j] = W C_src[s(j)] W^T A_j          local_j = C_smpl[parent(j)]^T C_smpl[j]

``A_j`` is computed once from the two rest skeletons: the smallest rotation taking SMPL's rest
bone direction (joint ``j`` to its bone end, :data:`BONE_END`) onto the direction of the bone
that ``s(j)`` turns (its rest offset to its child on the way to the joint driving that bone end,
in SMPL axes). A zero-length source bone (CMU's thorax, so Spine3) has nothing to match and keeps
the parent's alignment. Posed mapped bones then point exactly along the
source bones, and the twist about each bone comes from the source frame. Spine1, Neck, both
collars and Head reuse their parent's alignment (``A_j = A_parent``; the CMU thorax has zero
length and its clavicles never move, so matching those directions would bake constant offsets
into the locals), and so do the leaves of the 22-joint tree (feet, wrists), which have no bone
end in SMPL. The pelvis has ``A_0 = I``: the root orientation is the source root's. A joint
driven by the same source joint as its parent (one the source lacks, e.g. DeepMimic's wrists or
DAZ's third spine joint) also takes its parent's alignment, so its local rotation is exactly the
identity: it stays at rest (:meth:`Retargeter.at_rest` lists them).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

from ..rotations_np import log_map, rodrigues
from .skeleton import SMPL_JOINTS, SMPL_PARENTS, Skeleton

__all__ = ["Retargeter", "Retargeted", "smallest_rotation", "world_alignment", "BONE_END",
           "PARENT_ALIGNED"]

#: SMPL joint -> the SMPL joint at the far end of the bone it turns (direction-matched joints).
BONE_END = {1: 4, 2: 5, 4: 7, 5: 8, 7: 10, 8: 11, 6: 9, 9: 12, 16: 18, 17: 19, 18: 20, 19: 21}
#: Joints whose rest alignment is their parent's: Spine1, Neck, collars, Head, feet, wrists.
PARENT_ALIGNED = (3, 10, 11, 12, 13, 14, 15, 20, 21)


def smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation ``(3, 3)`` of least angle taking direction ``a`` onto direction ``b``."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        perp = np.cross(a, np.eye(3)[int(np.argmin(np.abs(a)))])  # any axis normal to a
        return rodrigues(np.pi * perp / np.linalg.norm(perp))
    return rodrigues(axis / sin * np.arctan2(sin, cos))


def world_alignment(rest: np.ndarray, mapping: Sequence[int]) -> np.ndarray:
    """The axis permutation ``W`` (3, 3) taking the source's rest axes onto SMPL's.

    From the source rest positions ``rest`` (J, 3): left = left hip - right hip, up = hips' middle
    to head; the orthonormal frame (left, up, left x up) snapped to the nearest signed axis
    permutation, so a y-up source gives the identity and a z-up one a quarter turn.
    """
    lhip, rhip, head = (rest[mapping[j]] for j in (1, 2, 15))
    left = lhip - rhip
    up = head - (lhip + rhip) / 2
    left = left / np.linalg.norm(left)
    up = up - (up @ left) * left
    up = up / np.linalg.norm(up)
    frame = np.stack([left, up, np.cross(left, up)])  # rows: source vectors of SMPL's x, y, z
    snapped = np.zeros((3, 3))
    for row in range(3):
        col = int(np.argmax(np.abs(frame[row])))
        snapped[row, col] = np.sign(frame[row, col])
    if abs(np.linalg.det(snapped) - 1.0) > 1e-6:
        return frame  # no clean axis permutation: the exact frame
    return snapped


def _first_on_path(parents: np.ndarray, start: int, stop: int) -> int:
    """The child of ``start`` on the way down to its descendant ``stop`` (-1 if not below it)."""
    node = int(stop)
    while node >= 0 and parents[node] != start:
        node = int(parents[node])
    return node if node >= 0 else -1


@dataclass
class Retargeted:
    """Retargeted motion.

    Attributes:
        pose_body: ``(T, 63)`` float32 SMPL body pose, axis-angle.
        root_orient: ``(T, 3)`` float32 root orientation, axis-angle.
        global_rot: ``(T, 22, 3, 3)`` float64 SMPL global rotations.
        local_rot: ``(T, 22, 3, 3)`` float64 SMPL local rotations (index 0: the root).
    """

    pose_body: np.ndarray
    root_orient: np.ndarray
    global_rot: np.ndarray
    local_rot: np.ndarray


@dataclass
class Retargeter:
    """Fixed retargeting from one source skeleton onto one SMPL rest skeleton.

    Build with :meth:`build`; call with the source's global rotations.

    Attributes:
        source, target: the two skeletons (target: SMPL's 22 joints).
        mapping: ``(22,)`` source joint driving each SMPL joint.
        ends: ``(22,)`` the child of ``mapping[j]`` ending the matched source bone (-1: the
            joint is parent-aligned).
        align: ``(22, 3, 3)`` rest alignments ``A_j``.
        world: ``(3, 3)`` source-to-SMPL axes.
    """

    source: Skeleton
    target: Skeleton
    mapping: np.ndarray
    ends: np.ndarray
    align: np.ndarray
    world: np.ndarray

    @classmethod
    def build(cls, source: Skeleton, target: Skeleton, mapping: Sequence[int],
              world: str | np.ndarray = "auto") -> Retargeter:
        """Compute the rest alignments (once per source skeleton)."""
        mapping = np.asarray(mapping, dtype=np.int64)
        src_rest = source.rest_positions()
        world = world_alignment(src_rest, mapping) if isinstance(world, str) else np.asarray(world)
        tgt_rest = target.rest_positions()
        scale = max(1.0, float(np.abs(src_rest).max()))
        align = np.tile(np.eye(3), (22, 1, 1))
        ends = np.full(22, -1, dtype=np.int64)
        for j in range(1, 22):  # parents come first
            parent = SMPL_PARENTS[j]
            end = BONE_END.get(j)
            same_driver = mapping[j] == mapping[parent]  # a joint the source lacks: at rest
            child = -1 if j in PARENT_ALIGNED or end is None or same_driver else _first_on_path(
                source.parents, mapping[j], mapping[end])
            if child < 0 or np.linalg.norm(source.offsets[child]) < 1e-9 * scale:
                align[j] = align[parent]  # no source bone (or a zero-length one) to match
                continue
            align[j] = smallest_rotation(tgt_rest[end] - tgt_rest[j], world @ source.offsets[child])
            ends[j] = child
        return cls(source, target, mapping, ends, align, world)

    def smpl_globals(self, source_global: np.ndarray) -> np.ndarray:
        """``(T, Js, 3, 3)`` source globals to ``(T, 22, 3, 3)`` SMPL globals (SMPL axes)."""
        c = np.asarray(source_global, dtype=np.float64)[:, self.mapping]
        return self.world @ c @ self.world.T @ self.align

    def __call__(self, source_global: np.ndarray) -> Retargeted:
        """Retarget ``(T, Js, 3, 3)`` source global rotations (column convention)."""
        glob = self.smpl_globals(source_global)
        parents = np.asarray(SMPL_PARENTS)
        local = np.empty_like(glob)
        local[:, 0] = glob[:, 0]
        local[:, 1:] = np.swapaxes(glob[:, parents[1:]], -1, -2) @ glob[:, 1:]
        aa = log_map(local).astype(np.float32)
        return Retargeted(aa[:, 1:].reshape(-1, 63), aa[:, 0], glob, local)

    def at_rest(self) -> list:
        """SMPL joints the source cannot move (driven by the same source joint as their parent)."""
        return [SMPL_JOINTS[j] for j in range(1, 22)
                if self.mapping[j] == self.mapping[SMPL_PARENTS[j]]]

    def describe(self) -> dict:
        """JSON-able description: per SMPL joint, source driver, bone end and alignment angle."""
        angle = np.degrees(np.arccos(np.clip((np.trace(self.align, axis1=1, axis2=2) - 1) / 2,
                                             -1, 1)))
        return {SMPL_JOINTS[j]: {"source": self.source.names[self.mapping[j]],
                                 "bone_end": (self.source.names[self.ends[j]]
                                              if self.ends[j] >= 0 else None),
                                 "rest_alignment_deg": round(float(angle[j]), 3)}
                for j in range(22)}
