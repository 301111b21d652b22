"""Batched rotation conversions, exact near 0 and near pi.

Conventions (as in SMPL and VPoser):

- axis-angle ``(..., 3)``: the unit axis scaled by the angle in radians;
- matrices ``(..., 3, 3)``: column-vector convention, ``x' = R @ x``;
- quaternions ``(..., 4)``: scalar-last ``(x, y, z, w)``, as in roma and scipy;
- the 6D representation ``(..., 6)`` of VPoser's decoder: the six numbers viewed as a 3x2
  matrix, row-major, whose columns are Gram-Schmidt-orthonormalised into the first two columns
  of the rotation.

Every function works for any leading batch shape, dtype and device, and is differentiable.
Small angles use Taylor series or ``sinc`` (when no gradient is needed), and the
matrix-to-rotation path goes through a quaternion chosen by the largest diagonal term, so float32
keeps about 1e-6 accuracy across ``[0, pi]``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._cache import constant_cache

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
    "geodesic_distance",
]

_SMALL_ANGLE = 1e-3  # below this, Taylor series (error < 1e-13 relative)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues' formula.

    Args:
        axis_angle: ``(..., 3)`` rotation vectors.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    if torch.is_grad_enabled() and axis_angle.requires_grad:
        return _rodrigues_differentiable(axis_angle)
    return _rodrigues_quaternion(axis_angle)


@constant_cache
def _quaternion_products_to_matrix(dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(16, 9)``: for a unit quaternion ``(w, x, y, z)`` and ``p = (w, 2x, 2y, 2z)``, the
    row-major rotation matrix is ``outer(p, p).flatten() @ this`` (each entry a fixed
    combination of the products; the factors 2 are undone here)."""
    entries = {  # entry of R: (i, j, coefficient) for products q_i q_j, with w=0 x=1 y=2 z=3
        0: ((0, 0, 1), (1, 1, 1), (2, 2, -1), (3, 3, -1)),
        1: ((1, 2, 2), (0, 3, -2)), 2: ((1, 3, 2), (0, 2, 2)),
        3: ((1, 2, 2), (0, 3, 2)), 4: ((0, 0, 1), (1, 1, -1), (2, 2, 1), (3, 3, -1)),
        5: ((2, 3, 2), (0, 1, -2)), 6: ((1, 3, 2), (0, 2, -2)), 7: ((2, 3, 2), (0, 1, 2)),
        8: ((0, 0, 1), (1, 1, -1), (2, 2, -1), (3, 3, 1)),
    }
    table = torch.zeros(16, 9, dtype=torch.float64)
    for entry, terms in entries.items():
        for i, j, c in terms:
            table[4 * i + j, entry] = c / ((2 if i else 1) * (2 if j else 1))
    return table.to(dtype=dtype, device=device)


def _rodrigues_quaternion(axis_angle: Tensor) -> Tensor:
    """Through the unit quaternion ``(cos(t / 2), sin(t / 2) v / t)``, whose ``sin(t/2) / t``
    comes from ``torch.sinc`` (exact at and near 0, no branches), and one product with the
    table of :func:`_quaternion_products_to_matrix`: about 12 operator calls, for the forward
    passes of body models at small batches. Its gradient is not finite at ``v = 0``."""
    table = _quaternion_products_to_matrix(axis_angle.dtype, axis_angle.device)
    angle = torch.linalg.vector_norm(axis_angle, dim=-1, keepdim=True)
    # (cos(t / 2), 2 sin(t / 2) v / t): sinc(t / (2 pi)) = sin(t / 2) / (t / 2)
    p = torch.cat([torch.cos(angle * 0.5), axis_angle * torch.sinc(angle * (0.5 / math.pi))], -1)
    products = (p.unsqueeze(-1) * p.unsqueeze(-2)).flatten(-2)
    matrices: Tensor = (products @ table).unflatten(-1, (3, 3))  # type: ignore[no-untyped-call]
    return matrices


def _rodrigues_differentiable(axis_angle: Tensor) -> Tensor:
    """Rodrigues with Taylor series below :data:`_SMALL_ANGLE`, so gradients stay finite at 0."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < _SMALL_ANGLE**2
    # the sqrt only sees safe values, so gradients stay finite at zero rotation
    safe_theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    # sin(t)/t and (1 - cos t)/t^2, with their series near zero
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(safe_theta) / safe_theta)
    b = torch.where(
        small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(safe_theta)) / (safe_theta * safe_theta)
    )
    x, y, z = axis_angle.unbind(-1)
    a = a.squeeze(-1)
    b = b.squeeze(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    one = torch.ones_like(x)
    rows = (
        one - b * (yy + zz), b * xy - a * z, b * xz + a * y,
        b * xy + a * z, one - b * (xx + zz), b * yz - a * x,
        b * xz - a * y, b * yz + a * x, one - b * (xx + yy),
    )
    return torch.stack(rows, dim=-1).reshape(axis_angle.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Rotation matrices to unit quaternions with non-negative scalar part.

    Of the four algebraically equal formulas, each element uses the one whose pivot (largest of
    ``1 + tr``, ``1 + 2 R_ii - tr``) is largest, so no division by a small number occurs.

    Args:
        matrix: ``(..., 3, 3)`` rotation matrices.

    Returns:
        ``(..., 4)`` quaternions ``(x, y, z, w)`` with ``w >= 0``.
    """
    m = matrix.reshape(matrix.shape[:-2] + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    trace = m00 + m11 + m22
    # 4 * q_i^2 for i in (x, y, z, w)
    pivots = torch.stack(
        (1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + trace), dim=-1
    )
    # candidate quaternions, each scaled by 4 * q_pivot
    candidates = torch.stack(
        (
            torch.stack((pivots[..., 0], m10 + m01, m02 + m20, m21 - m12), -1),
            torch.stack((m10 + m01, pivots[..., 1], m21 + m12, m02 - m20), -1),
            torch.stack((m02 + m20, m21 + m12, pivots[..., 2], m10 - m01), -1),
            torch.stack((m21 - m12, m02 - m20, m10 - m01, pivots[..., 3]), -1),
        ),
        dim=-2,
    )
    best = pivots.argmax(-1, keepdim=True)
    chosen = torch.gather(candidates, -2, best.unsqueeze(-1).expand(best.shape[:-1] + (1, 4)))
    chosen = chosen.squeeze(-2)
    quat = chosen / chosen.norm(dim=-1, keepdim=True)
    return torch.where(quat[..., 3:] < 0, -quat, quat)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """Unit quaternions ``(..., 4)`` (scalar last) to rotation vectors ``(..., 3)``.

    The angle is ``2 atan2(|v|, |w|)`` in ``[0, pi]``; near zero the series ``2 v / w`` is used.
    """
    q = torch.where(quaternion[..., 3:] < 0, -quaternion, quaternion)
    v, w = q[..., :3], q[..., 3:]
    norm_v = v.norm(dim=-1, keepdim=True)
    small = norm_v < 1e-6
    safe_norm = torch.where(small, torch.ones_like(norm_v), norm_v)
    scale = torch.where(small, 2.0 / w.clamp_min(1e-12), 2.0 * torch.atan2(norm_v, w) / safe_norm)
    return v * scale


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` to rotation vectors ``(..., 3)`` (angle in ``[0, pi]``).

    At exactly pi, ``aa`` and ``-aa`` are the same rotation; either may be returned.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """Rotation vectors ``(..., 3)`` to unit quaternions ``(..., 4)`` (scalar last, ``w >= 0``)."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < _SMALL_ANGLE**2
    safe = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    half_sinc = torch.where(small, 0.5 - theta2 / 48.0, torch.sin(safe / 2) / safe)
    cos_half = torch.where(small, 1.0 - theta2 / 8.0, torch.cos(safe / 2))
    return torch.cat((axis_angle * half_sinc, cos_half), dim=-1)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """Quaternions ``(..., 4)`` (scalar last, normalised here) to matrices ``(..., 3, 3)``."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    x, y, z, w = q.unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """VPoser's 6D decoder: ``(..., 6)`` to rotation matrices ``(..., 3, 3)``.

    The six numbers are a 3x2 matrix stored row-major: column ``a1`` is elements 0, 2, 4 and
    column ``a2`` elements 1, 3, 5. ``b1 = a1/|a1|``, ``b2 = normalize(a2 - (b1.a2) b1)``,
    ``b3 = b1 x b2``; the result has columns ``[b1 b2 b3]``.
    """
    a = d6.reshape(d6.shape[:-1] + (3, 2))
    a1, a2 = a[..., 0], a[..., 1]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """Inverse of :func:`rotation_6d_to_matrix`: ``(..., 3, 3)`` to ``(..., 6)``."""
    return matrix[..., :2].reshape(matrix.shape[:-2] + (6,))


def geodesic_distance(r1: Tensor, r2: Tensor) -> Tensor:
    """Angle in radians of ``r1 r2^T`` for matrices ``(..., 3, 3)``; returns ``(...)``.

    Uses ``atan2(|skew|, trace-part)``, which stays accurate near 0 and pi (``acos`` does not).
    """
    rel = r1 @ r2.transpose(-1, -2)
    cos = (rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    skew = torch.stack(
        (rel[..., 2, 1] - rel[..., 1, 2], rel[..., 0, 2] - rel[..., 2, 0], rel[..., 1, 0] - rel[..., 0, 1]),
        dim=-1,
    )
    sumsq = (skew * skew).sum(-1)
    nonzero = sumsq > 0
    # sqrt only of positive values: finite gradients where r1 == r2
    sin = torch.where(nonzero, torch.where(nonzero, sumsq, torch.ones_like(sumsq)).sqrt(), torch.zeros_like(sumsq)) / 2
    return torch.atan2(sin, cos)
