"""``human_body_prior.tools.tgm_conversion``: the torchgeometry-era conversion names the v2 line
carried, computed with :mod:`vposer.rotations`.

Quaternions here are scalar-first ``(w, x, y, z)``, as torchgeometry's (vposer's own are
scalar-last); a quaternion and its negative are the same rotation, and these return ``w >= 0``.
Rotation matrices are ``(N, 3, 4)`` / ``(N, 4, 4)`` homogeneous (a ``(N, 3, 3)`` is accepted too).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vposer.rotations import (axis_angle_to_matrix, axis_angle_to_quaternion,
                              matrix_to_axis_angle, matrix_to_quaternion,
                              quaternion_to_axis_angle)

__all__ = [
    "pi", "rad2deg", "deg2rad", "convert_points_from_homogeneous", "convert_points_to_homogeneous",
    "angle_axis_to_rotation_matrix", "rotation_matrix_to_angle_axis",
    "rotation_matrix_to_quaternion", "quaternion_to_angle_axis", "angle_axis_to_quaternion",
    "rtvec_to_pose", "RadToDeg", "DegToRad", "ConvertPointsFromHomogeneous",
    "ConvertPointsToHomogeneous",
]

#: pi as a one-element tensor (torchgeometry's constant).
pi = torch.tensor([math.pi])


def _tensor(x: Tensor) -> Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"Input type is not a torch.Tensor. Got {type(x)}")
    return x


def rad2deg(tensor: Tensor) -> Tensor:
    """Radians to degrees."""
    return _tensor(tensor) * (180.0 / math.pi)


def deg2rad(tensor: Tensor) -> Tensor:
    """Degrees to radians."""
    return _tensor(tensor) * (math.pi / 180.0)


def convert_points_from_homogeneous(points: Tensor) -> Tensor:
    """``(..., D + 1)`` homogeneous points to ``(..., D)``."""
    if _tensor(points).dim() < 2:
        raise ValueError(f"Input must be at least a 2D tensor. Got {tuple(points.shape)}")
    return points[..., :-1] / points[..., -1:]


def convert_points_to_homogeneous(points: Tensor) -> Tensor:
    """``(..., D)`` points to ``(..., D + 1)`` with a trailing 1."""
    if _tensor(points).dim() < 2:
        raise ValueError(f"Input must be at least a 2D tensor. Got {tuple(points.shape)}")
    return nn.functional.pad(points, (0, 1), "constant", 1.0)


def angle_axis_to_rotation_matrix(angle_axis: Tensor) -> Tensor:
    """``(N, 3)`` rotation vectors to ``(N, 4, 4)`` homogeneous rotation matrices."""
    rot = axis_angle_to_matrix(_tensor(angle_axis).reshape(-1, 3))
    out = torch.eye(4, dtype=rot.dtype, device=rot.device).repeat(rot.shape[0], 1, 1)
    out[:, :3, :3] = rot
    return out


def rtvec_to_pose(rtvec: Tensor) -> Tensor:
    """``(N, 6)`` rotation vector and translation to ``(N, 4, 4)`` rigid transforms."""
    if rtvec.shape[-1] != 6:
        raise ValueError("rtvec=[rx, ry, rz, tx, ty, tz]")
    pose = angle_axis_to_rotation_matrix(rtvec[..., :3])
    pose[..., :3, 3] = rtvec.reshape(-1, 6)[:, 3:]
    return pose


def rotation_matrix_to_angle_axis(rotation_matrix: Tensor) -> Tensor:
    """``(N, 3, 4)`` (or ``(N, 3|4, 3|4)``) rotation matrices to ``(N, 3)`` rotation vectors."""
    return matrix_to_axis_angle(_tensor(rotation_matrix)[..., :3, :3])


def rotation_matrix_to_quaternion(rotation_matrix: Tensor, eps: float = 1e-6) -> Tensor:
    """``(N, 3, 4)`` rotation matrices to ``(N, 4)`` quaternions ``(w, x, y, z)``."""
    q = matrix_to_quaternion(_tensor(rotation_matrix)[..., :3, :3])
    return torch.cat([q[..., 3:], q[..., :3]], dim=-1)


def quaternion_to_angle_axis(quaternion: Tensor) -> Tensor:
    """``(..., 4)`` quaternions ``(w, x, y, z)`` to ``(..., 3)`` rotation vectors."""
    if _tensor(quaternion).shape[-1] != 4:
        raise ValueError(f"Input must be a tensor of shape Nx4 or 4. Got {tuple(quaternion.shape)}")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    return quaternion_to_axis_angle(torch.cat([q[..., 1:], q[..., :1]], dim=-1))


def angle_axis_to_quaternion(angle_axis: Tensor) -> Tensor:
    """``(..., 3)`` rotation vectors to ``(..., 4)`` quaternions ``(w, x, y, z)``."""
    if _tensor(angle_axis).shape[-1] != 3:
        raise ValueError(f"Input must be a tensor of shape Nx3 or 3. Got {tuple(angle_axis.shape)}")
    q = axis_angle_to_quaternion(angle_axis)
    return torch.cat([q[..., 3:], q[..., :3]], dim=-1)


class RadToDeg(nn.Module):
    """Module form of :func:`rad2deg`."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (original name)
        return rad2deg(input)


class DegToRad(nn.Module):
    """Module form of :func:`deg2rad`."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return deg2rad(input)


class ConvertPointsFromHomogeneous(nn.Module):
    """Module form of :func:`convert_points_from_homogeneous`."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return convert_points_from_homogeneous(input)


class ConvertPointsToHomogeneous(nn.Module):
    """Module form of :func:`convert_points_to_homogeneous`."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return convert_points_to_homogeneous(input)
