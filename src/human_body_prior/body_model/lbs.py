"""``human_body_prior.body_model.lbs``: the generic linear-blend-skinning functions the original
shipped (SMPL-family conventions), as thin compositions of :mod:`vposer.body.lbs` and
:mod:`vposer.rotations`.

``lbs(betas, pose, v_template, shapedirs, posedirs, J_regressor, parents, lbs_weights,
joints=None, pose2rot=True, v_shaped=None, dtype=torch.float32)`` returns ``(verts (B, V, 3),
joints (B, J, 3))``; ``batch_rigid_transform`` returns the posed joints and the skinning
transforms ``(B, J, 4, 4)`` (rest position removed); landmarks by barycentric interpolation
(``vertices2landmarks``) and SMPL-X's neck-angle look-up of dynamic face landmarks
(``find_dynamic_lmk_idx_and_bcoords``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vposer.body import lbs as _lbs
from vposer.rotations import axis_angle_to_matrix

__all__ = [
    "Struct", "batch_rigid_transform", "batch_rodrigues", "blend_shapes",
    "find_dynamic_lmk_idx_and_bcoords", "lbs", "rot_mat_to_euler", "to_np", "to_tensor",
    "transform_mat", "vertices2joints", "vertices2landmarks",
]


def to_tensor(array: Any, dtype: torch.dtype = torch.float32) -> Tensor:
    """A tensor of ``dtype`` (tensors are returned as they are)."""
    if torch.is_tensor(array):
        return array
    return torch.tensor(np.asarray(array), dtype=dtype)


class Struct:
    """An object whose attributes are the keyword arguments."""

    def __init__(self, **kwargs: Any):
        for key, val in kwargs.items():
            setattr(self, key, val)


def to_np(array: Any, dtype: Any = np.float32) -> np.ndarray:
    """A dense numpy array (scipy sparse matrices are densified)."""
    if hasattr(array, "todense") and "scipy.sparse" in type(array).__module__:
        array = array.todense()
    return np.array(array, dtype=dtype)


def rot_mat_to_euler(rot_mats: Tensor) -> Tensor:
    """The rotation about y of ``(B, 3, 3)`` matrices (radians)."""
    sy = torch.sqrt(rot_mats[:, 0, 0] ** 2 + rot_mats[:, 1, 0] ** 2)
    return torch.atan2(-rot_mats[:, 2, 0], sy)


def batch_rodrigues(rot_vecs: Tensor, epsilon: float = 1e-8, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(N, 3)`` rotation vectors to ``(N, 3, 3)`` matrices."""
    return axis_angle_to_matrix(rot_vecs.reshape(-1, 3))


def vertices2joints(J_regressor: Tensor, vertices: Tensor) -> Tensor:  # noqa: N803
    """``(J, V)`` regressor and ``(B, V, 3)`` vertices to ``(B, J, 3)`` joints."""
    return torch.einsum("bik,ji->bjk", vertices, J_regressor)


def blend_shapes(betas: Tensor, shape_disps: Tensor) -> Tensor:
    """``(B, K)`` coefficients and ``(V, 3, K)`` directions to ``(B, V, 3)`` displacements."""
    return torch.einsum("bl,mkl->bmk", betas, shape_disps)


def transform_mat(R: Tensor, t: Tensor) -> Tensor:  # noqa: N803
    """``(B, 3, 3)`` rotations and ``(B, 3, 1)`` translations to ``(B, 4, 4)``."""
    top = torch.cat([R, t.reshape(-1, 3, 1)], dim=2)
    bottom = top.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(top.shape[0], 1, 4)
    return torch.cat([top, bottom], dim=1)


def _parents(parents: Any) -> list[int]:
    par = [int(p) for p in torch.as_tensor(parents).reshape(-1).tolist()]
    par[0] = -1
    return par


def batch_rigid_transform(rot_mats: Tensor, joints: Tensor, parents: Any,
                          dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``(B, J, 3, 3)`` local rotations applied along the tree to ``(B, J, 3)`` rest joints.

    Returns:
        posed joints ``(B, J, 3)`` and the skinning transforms ``(B, J, 4, 4)``, which move
        rest-pose vertices to the posed mesh.
    """
    rest = joints.reshape(joints.shape[0], -1, 3)
    index = _lbs.chain_index(_parents(parents), rest.device)
    transforms = _lbs.skinning_transforms(rot_mats, rest, index)
    return _lbs.posed_joints(transforms, rest), transforms


def lbs(betas: Tensor, pose: Tensor, v_template: Tensor, shapedirs: Tensor,
        posedirs: Tensor | None, J_regressor: Tensor, parents: Any, lbs_weights: Tensor,  # noqa: N803
        joints: Tensor | None = None, pose2rot: bool = True, v_shaped: Tensor | None = None,
        dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Shape and pose blend shapes, kinematic chain and skinning.

    Args:
        betas: ``(B, K)``; pose: ``(B, 3 J)`` axis-angle (``pose2rot``) or ``(B, J, 3, 3)``;
        v_template: ``(V, 3)`` or ``(B, V, 3)``; shapedirs: ``(V, 3, K)``; posedirs:
        ``(9 (J - 1), 3 V)`` or None; J_regressor: ``(J, V)``; parents: ``(J,)``;
        lbs_weights: ``(V, J)``; joints: fixed ``(B, J, 3)`` rest joints; v_shaped: a fixed
        ``(B, V, 3)`` shaped mesh.

    Returns:
        ``(verts (B, V, 3), joints (B, J, 3))``.
    """
    batch = max(betas.shape[0], pose.shape[0])
    if v_shaped is None:
        v_shaped = v_template + blend_shapes(betas, shapedirs)
    rest = vertices2joints(J_regressor, v_shaped) if joints is None else joints
    if pose2rot:
        rot = batch_rodrigues(pose.reshape(-1, 3)).reshape(batch, -1, 3, 3)
    else:
        rot = pose.reshape(batch, -1, 3, 3)
    v_posed = v_shaped.expand(batch, -1, -1)
    if posedirs is not None:
        feature = (rot[:, 1:] - torch.eye(3, dtype=rot.dtype, device=rot.device)).reshape(batch, -1)
        v_posed = v_posed + (feature @ posedirs).reshape(batch, -1, 3)
    posed, transforms = batch_rigid_transform(rot, rest.expand(batch, -1, -1), parents)
    verts = _lbs.skin(transforms, lbs_weights.t(), v_posed.transpose(1, 2))
    return verts, posed


def vertices2landmarks(vertices: Tensor, faces: Tensor, lmk_faces_idx: Tensor,
                       lmk_bary_coords: Tensor) -> Tensor:
    """``(B, L, 3)`` landmarks: barycentric combinations (``(B, L, 3)`` or ``(L, 3)`` weights) of
    the corners of faces ``lmk_faces_idx`` (``(B, L)`` or ``(L,)``) of ``(B, V, 3)`` vertices."""
    batch = vertices.shape[0]
    idx = lmk_faces_idx.reshape(-1, lmk_faces_idx.shape[-1]).expand(batch, -1)
    corners = faces.long()[idx]  # (B, L, 3)
    points = vertices[torch.arange(batch, device=vertices.device).view(-1, 1, 1), corners]
    bary = lmk_bary_coords.reshape(-1, *lmk_bary_coords.shape[-2:]).expand(batch, -1, -1)
    return torch.einsum("blfi,blf->bli", points, bary)


def find_dynamic_lmk_idx_and_bcoords(vertices: Tensor, pose: Tensor, dynamic_lmk_faces_idx: Tensor,
                                     dynamic_lmk_b_coords: Tensor, neck_kin_chain: Tensor,
                                     dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The faces and barycentric coordinates of the contour landmarks for the head's turn: the
    y angle of the neck chain's composed rotation, rounded to degrees (-39..39), indexes the
    look-up tables (negative angles from 40 on)."""
    batch = vertices.shape[0]
    chain = torch.as_tensor(neck_kin_chain, dtype=torch.long, device=pose.device).reshape(-1)
    rots = axis_angle_to_matrix(pose.reshape(batch, -1, 3).index_select(1, chain))
    rel = torch.eye(3, dtype=rots.dtype, device=rots.device).expand(batch, 3, 3)
    for i in range(rots.shape[1]):
        rel = rots[:, i] @ rel
    degrees = torch.round(torch.clamp(-rot_mat_to_euler(rel) * 180.0 / math.pi, max=39))
    angle = degrees.long()
    index = torch.where(angle < 0, torch.where(angle < -39, torch.full_like(angle, 78), 39 - angle),
                        angle)
    return (dynamic_lmk_faces_idx.index_select(0, index),
            dynamic_lmk_b_coords.index_select(0, index))
