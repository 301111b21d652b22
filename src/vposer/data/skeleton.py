"""Skeletons and forward kinematics in the column-vector convention (as SMPL and BVH).

A :class:`Skeleton` is a joint tree with rest offsets: joint ``i`` sits at
``p_i = p_parent + C_parent @ offsets[i]`` where ``C`` are global rotations (``x' = C x``), and the
rest pose has every ``C = I`` (world-aligned joint frames, as SMPL and BVH define it). Forward
kinematics runs one batched step per level of the tree, vectorised over frames.

The SMPL rest skeleton comes from the body model in use (:func:`body_skeleton`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import numpy as np

__all__ = ["Skeleton", "forward_kinematics", "tree_levels", "body_skeleton", "SMPL_JOINTS",
           "SMPL_PARENTS"]

#: SMPL's first 22 joints (pelvis + the 21 body joints of ``pose_body``).
SMPL_JOINTS = (
    "pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle",
    "Spine3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)


def tree_levels(parents: Sequence[int]) -> list[np.ndarray]:
    """Joint indices grouped by depth: ``[roots, their children, ...]``."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for i, p in enumerate(parents):  # parents precede children (checked by Skeleton)
        depth[i] = 0 if p < 0 else depth[p] + 1
    return [np.flatnonzero(depth == d) for d in range(int(depth.max()) + 1)] if len(parents) else []


@dataclass
class Skeleton:
    """A joint tree with rest offsets (column convention, world-aligned rest frames).

    Attributes:
        names: ``J`` joint names.
        parents: ``(J,)`` int parent indices (-1 for the root), each before its children.
        offsets: ``(J, 3)`` float64 rest offset of each joint from its parent (root: its rest
            position).
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    levels: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self.parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1, 3)
        if not (len(self.names) == len(self.parents) == len(self.offsets)):
            raise ValueError("names, parents and offsets differ in length")
        if any(p >= i for i, p in enumerate(self.parents)):
            raise ValueError("each joint's parent must come before it")
        self.levels = tree_levels(self.parents)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rest_positions(self) -> np.ndarray:
        """``(J, 3)`` rest joint positions."""
        return forward_kinematics(self, np.broadcast_to(np.eye(3), (1, len(self), 3, 3)))[1][0]

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.parents == j)]

    @classmethod
    def from_positions(cls, names: Sequence[str], parents: Sequence[int],
                       positions: np.ndarray) -> Skeleton:
        """A skeleton from rest joint positions ``(J, 3)`` (e.g. a body model's joints)."""
        pos = np.asarray(positions, dtype=np.float64)
        par = np.asarray(parents, dtype=np.int64)
        offsets = pos - np.where(par[:, None] >= 0, pos[np.maximum(par, 0)], 0.0)
        return cls(list(names), par, offsets)


def forward_kinematics(skeleton: Skeleton, local: np.ndarray,
                       root_position: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations and positions from local rotations, one batched step per tree level.

    Args:
        skeleton: the joint tree and rest offsets.
        local: ``(T, J, 3, 3)`` local rotations (column convention: ``C_i = C_parent @ R_i``).
        root_position: ``(T, 3)`` root translation added to the root's offset (default zero).

    Returns:
        ``(T, J, 3, 3)`` global rotations and ``(T, J, 3)`` positions (float64).
    """
    local = np.asarray(local, dtype=np.float64)
    t = local.shape[0]
    glob = np.empty((t, len(skeleton), 3, 3))
    pos = np.empty((t, len(skeleton), 3))
    parents, offsets = skeleton.parents, skeleton.offsets
    for level, idx in enumerate(skeleton.levels):
        if level == 0:
            glob[:, idx] = local[:, idx]
            pos[:, idx] = offsets[idx]
            if root_position is not None:
                pos[:, idx] += np.asarray(root_position, dtype=np.float64)[:, None]
            continue
        par = parents[idx]
        glob[:, idx] = glob[:, par] @ local[:, idx]
        pos[:, idx] = pos[:, par] + np.einsum("tjab,jb->tja", glob[:, par], offsets[idx])
    return glob, pos


def body_skeleton(body: Any = None) -> Skeleton:  # duck-typed: see the list below
    """SMPL's 22-joint rest skeleton from the body model in use.

    Args:
        body: None or ``'open'`` (the open default body), a path to a body-model file, a
            :class:`vposer.body.BodyModel`, a mapping / npz with ``J`` and ``kintree_table``, or any
            object with rest ``joints`` ``(22+, 3)`` and ``parents``.

    Returns:
        The first 22 joints (pelvis + 21 body joints) with SMPL's names.
    """
    joints, parents = _rest_joints(body)
    joints = np.asarray(joints, dtype=np.float64).reshape(-1, 3)[:22]
    parents = np.asarray(parents, dtype=np.int64).reshape(-1)[:22]
    if joints.shape[0] < 22:
        raise ValueError(f"a body skeleton needs 22 joints or more, got {joints.shape[0]}")
    if tuple(int(p) for p in parents) != SMPL_PARENTS:
        raise ValueError(f"the body's first 22 parents are not SMPL's: {parents.tolist()}")
    return Skeleton.from_positions(SMPL_JOINTS, parents, joints)


def _rest_joints(body: Any) -> tuple[np.ndarray, np.ndarray]:
    if body is None or isinstance(body, str) or hasattr(body, "__fspath__"):
        from ..body import load_body

        body = load_body(None if body in (None, "open") else body)
    if hasattr(body, "keys") and "J" in body.keys():  # npz / dict
        return np.asarray(body["J"]), np.asarray(body["kintree_table"])[0]
    if hasattr(body, "num_joints") and callable(body):  # vposer BodyModel: pose at rest
        import torch

        with torch.no_grad():
            out = body(pose_body=torch.zeros(1, 63, dtype=body.dtype, device=body.device))
        return out.joints[0].detach().cpu().double().numpy(), body.parents.cpu().numpy()
    joints = getattr(body, "joints", getattr(body, "J", None))
    parents = getattr(body, "parents", None)
    if joints is None or parents is None:
        raise TypeError(f"cannot read rest joints and parents from {type(body).__name__}")
    return np.asarray(joints), np.asarray(parents)
