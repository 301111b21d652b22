"""Rotations in numpy (float64), for code that must not import torch: data preparation workers
and the importers. The torch versions, differentiable and batched on any device, are
:mod:`vposer.rotations`; both follow its conventions (column vectors, angles in ``[0, pi]``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["log_map", "rodrigues"]


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle ``(..., 3)`` to rotation matrices ``(..., 3, 3)`` in numpy (float64).

    Kept in numpy so that preparation workers need not import torch.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    theta2 = (aa * aa).sum(-1)[..., None, None]
    small = theta2 < 1e-12
    theta = np.sqrt(np.where(small, 1.0, theta2))
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(theta) / theta)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(theta)) / np.where(small, 1.0, theta2))
    x, y, z = aa[..., 0], aa[..., 1], aa[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    # K^2 = v v^T - |v|^2 I
    out = a * k + b * (aa[..., :, None] * aa[..., None, :])
    out += (1.0 - b * theta2) * np.eye(3)
    return out


def log_map(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` to axis-angle ``(..., 3)`` in numpy, exact near 0 and pi.

    Goes through the unit quaternion (the largest of ``w, x, y, z`` computed first, Shepperd's
    method), then ``angle = 2 atan2(|v|, w)`` with ``w >= 0``, so angles lie in ``[0, pi]``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2) and the candidate quaternions scaled by 4 * the chosen component
    sq = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                   1 - m00 - m11 + m22], axis=-1)
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s21, s02, s10 = m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1]
    cands = np.stack([
        np.stack([sq[..., 0], d21, d02, d10], -1),
        np.stack([d21, sq[..., 1], s10, s02], -1),
        np.stack([d02, s10, sq[..., 2], s21], -1),
        np.stack([d10, s02, s21, sq[..., 3]], -1),
    ], axis=-2)  # (..., 4, 4): row k = 4 q_k * (w, x, y, z)
    best = np.argmax(sq, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(norm, q[..., :1])
    # angle / sin(angle / 2) -> 2 as the angle -> 0
    scale = np.where(norm > 1e-8, angle / np.where(norm > 1e-8, norm, 1.0), 2.0)
    out: np.ndarray = v * scale
    return out
