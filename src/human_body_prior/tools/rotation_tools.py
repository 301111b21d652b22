"""``human_body_prior.tools.rotation_tools``: rotation helpers of both generations.

``aa2matrot`` / ``matrot2aa`` (``(N, 3)`` <-> ``(N, 3, 3)``) are :mod:`vposer.rotations` (accurate
near pi, where the original's torchgeometry path lost digits); ``local2global_pose``,
``batch_rigid_transform`` and ``tmat`` compose along a kinematic tree; ``em2euler`` /
``euler2em`` use transforms3d's default static ``'sxyz'`` Euler convention
(``R = Rz(c) Ry(b) Rx(a)``), ``remove_zrot`` / ``noisy_zrot`` edit the z angle of that
convention, ``rotate_points_xyz`` turns point sets by x, y, z angles in degrees.
"""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from vposer.body import lbs
from vposer.rotations import axis_angle_to_matrix, matrix_to_axis_angle

__all__ = [
    "aa2matrot", "batch_rigid_transform", "em2euler", "euler2em", "local2global_pose",
    "matrot2aa", "noisy_zrot", "remove_zrot", "rotate_points_xyz", "tmat",
]


def aa2matrot(pose: Tensor) -> Tensor:
    """``(N, 3)`` axis-angle to ``(N, 3, 3)`` rotation matrices."""
    return axis_angle_to_matrix(torch.as_tensor(pose).reshape(-1, 3))


def matrot2aa(pose_matrot: Tensor) -> Tensor:
    """``(N, 3, 3)`` rotation matrices to ``(N, 3)`` axis-angle."""
    return matrix_to_axis_angle(torch.as_tensor(pose_matrot).reshape(-1, 3, 3))


def local2global_pose(local_pose: Tensor, kintree: Sequence[int]) -> Tensor:
    """``(N, J, 3, 3)`` (or ``(N, 9 J)``) local rotations to global ones, ``kintree[j]`` being the
    parent of joint ``j`` (negative for the root; parents listed before their children)."""
    bs = local_pose.shape[0]
    local = local_pose.reshape(bs, -1, 3, 3)
    out = [None] * local.shape[1]
    for j, parent in enumerate(int(p) for p in kintree):
        out[j] = local[:, j] if parent < 0 else out[parent] @ local[:, j]
    return torch.stack(out, dim=1)


def _euler_matrix(ai: float, aj: float, ak: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (math.cos(ai), math.sin(ai), math.cos(aj), math.sin(aj),
                              math.cos(ak), math.sin(ak))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _matrix_euler(m: np.ndarray) -> np.ndarray:
    cy = math.hypot(m[0, 0], m[1, 0])
    if cy > 1e-12:
        return np.array([math.atan2(m[2, 1], m[2, 2]), math.atan2(-m[2, 0], cy),
                         math.atan2(m[1, 0], m[0, 0])])
    return np.array([math.atan2(-m[1, 2], m[1, 1]), math.atan2(-m[2, 0], cy), 0.0])


def em2euler(em: Any) -> np.ndarray:
    """Rotation vector ``(3,)`` to static-``xyz`` Euler angles ``(3,)`` (radians)."""
    m = axis_angle_to_matrix(torch.as_tensor(np.asarray(em, dtype=np.float64)).reshape(3))
    return _matrix_euler(m.numpy())


def euler2em(ea: Any) -> np.ndarray:
    """Static-``xyz`` Euler angles ``(3,)`` to a rotation vector ``(3,)``."""
    m = torch.from_numpy(_euler_matrix(*np.asarray(ea, dtype=np.float64).reshape(3)))
    return matrix_to_axis_angle(m).numpy()


def remove_zrot(pose: np.ndarray) -> np.ndarray:
    """Zero the z Euler angle of the root (``pose[:3]``), in place; returns ``pose``."""
    no_z = em2euler(np.array(pose[:3], dtype=np.float64))
    no_z[2] = 0.0
    pose[:3] = euler2em(no_z)
    return pose


def noisy_zrot(rot_in: np.ndarray) -> np.ndarray:
    """Add one random angle in ``[-pi, pi)`` (numpy's global stream) to the z Euler angle of
    each ``(3,)`` rotation of ``rot_in`` (``(3,)`` or ``(T, 3)``); returns ``(T, 3)``."""
    rot = np.asarray(rot_in, dtype=np.float64)
    rot = rot[np.newaxis] if rot.ndim == 1 else rot
    shift = np.random.uniform(-np.pi, np.pi)
    out = []
    for r in rot:
        e = em2euler(r)
        e[2] += shift
        aa = euler2em(e)
        out.append(r.copy() if np.any(np.isnan(aa)) else aa)
    return np.array(out)


def rotate_points_xyz(mesh_v: np.ndarray, Rxyz: list[float] | np.ndarray) -> np.ndarray:  # noqa: N803
    """Rotate ``(N, V, 3)`` points by ``Rz Ry Rx`` with angles in degrees: ``Rxyz`` is ``(3,)``
    (every frame) or ``(N, 3)`` (per frame)."""
    v = np.asarray(mesh_v, dtype=np.float64)
    angles = np.radians(np.asarray(Rxyz, dtype=np.float64))
    angles = np.broadcast_to(angles.reshape(-1, 3), (len(v), 3)) if angles.size == 3 else \
        angles.reshape(len(v), 3)
    return np.array([frame @ _euler_matrix(*a).T for frame, a in zip(v, angles)])


def tmat(R: Tensor, t: Tensor) -> Tensor:  # noqa: N803
    """``(N, B, 3, 3)`` rotations and ``(N, B, 3, 1)`` translations to ``(N, B, 4, 4)``."""
    bs = R.shape[0]
    top = torch.cat([R.reshape(-1, 3, 3), t.reshape(-1, 3, 1)], dim=2)  # (N B, 3, 4)
    bottom = top.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(top.shape[0], 1, 4)
    return torch.cat([top, bottom], dim=1).reshape(bs, -1, 4, 4)


def batch_rigid_transform(rot_mats: Tensor, joints: Tensor, parents: Any) -> Tensor:
    """Posed joint positions ``(B, J, 3)``: ``(B, J, 3, 3)`` local rotations applied along the
    tree ``parents`` (``(J,)``, root first) to rest joints ``(B, J, 3)``."""
    par = [int(p) for p in torch.as_tensor(parents).reshape(-1).tolist()]
    par[0] = -1
    rest = joints.reshape(joints.shape[0], -1, 3)
    transforms = lbs.skinning_transforms(rot_mats, rest, lbs.chain_index(par, rest.device))
    return lbs.posed_joints(transforms, rest)
