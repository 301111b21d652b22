"""The decoder's output conversion, 6D -> matrices -> axis-angle, in few fused operations.

The same mathematics as :mod:`vposer.rotations` (``rotation_6d_to_matrix`` followed by
``matrix_to_axis_angle``), rearranged for speed on the sampling hot path: at batch 1 the cost is
the number of operator launches, so the four candidate quaternions of the matrix-to-quaternion
step come out of one matrix product with a constant ``(9, 16)`` matrix, and the quaternion's sign
is folded into the final scale. Agreement with the reference path is tested to float32 precision.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor

# cand[4 i + k] = 4 q_i q_k for pivot i (x, y, z, w) and component k; linear in R's entries
# (row-major m00..m22) plus a constant 1 on the pivot's own square.
_PIVOT_ROWS = {
    # i: list of (k, {entry index: coefficient}, constant)
    0: [(0, {0: 1, 4: -1, 8: -1}, 1), (1, {3: 1, 1: 1}, 0), (2, {2: 1, 6: 1}, 0), (3, {7: 1, 5: -1}, 0)],
    1: [(0, {3: 1, 1: 1}, 0), (1, {0: -1, 4: 1, 8: -1}, 1), (2, {7: 1, 5: 1}, 0), (3, {2: 1, 6: -1}, 0)],
    2: [(0, {2: 1, 6: 1}, 0), (1, {7: 1, 5: 1}, 0), (2, {0: -1, 4: -1, 8: 1}, 1), (3, {3: 1, 1: -1}, 0)],
    3: [(0, {7: 1, 5: -1}, 0), (1, {2: 1, 6: -1}, 0), (2, {3: 1, 1: -1}, 0), (3, {0: 1, 4: 1, 8: 1}, 1)],
}


@functools.lru_cache(maxsize=None)
def _candidate_map(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    weight = torch.zeros(9, 16, dtype=torch.float64)
    bias = torch.zeros(16, dtype=torch.float64)
    for i, rows in _PIVOT_ROWS.items():
        for k, coefficients, constant in rows:
            for entry, c in coefficients.items():
                weight[entry, 4 * i + k] = c
            bias[4 * i + k] = constant
    return weight.to(dtype=dtype, device=device), bias.to(dtype=dtype, device=device)


def sixd_to_matrix_and_axis_angle(d6: Tensor) -> tuple[Tensor, Tensor]:
    """VPoser's raw decoder output to rotations.

    Args:
        d6: ``(N, 6 J)`` decoder output, per joint a row-major 3x2 matrix (see
            :func:`vposer.rotations.rotation_6d_to_matrix`).

    Returns:
        ``(matrices (N, J, 3, 3), axis_angle (N, J, 3))``, angles in ``[0, pi]``.
    """
    n = d6.shape[0]
    # (N, J, 2, 3): the two columns, each contiguous in memory (strided reductions are slow)
    a = d6.reshape(n, -1, 3, 2).transpose(-1, -2).contiguous()
    a1, a2 = a[..., 0, :], a[..., 1, :]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(torch.addcmul(a2, b1, -(b1 * a2).sum(-1, keepdim=True)), dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    matrices = torch.stack((b1, b2, b3), dim=-1)
    return matrices, matrix_to_axis_angle_fused(matrices)


def matrix_to_axis_angle_fused(matrices: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` to axis-angle ``(..., 3)`` through the best-conditioned
    of the four quaternion formulas (largest pivot), angle in ``[0, pi]``."""
    lead = matrices.shape[:-2]
    weight, bias = _candidate_map(matrices.dtype, matrices.device)
    flat = matrices.reshape(-1, 9)
    pivots = torch.addmm(bias[::5], flat, weight[:, ::5])  # (M, 4): 4 q_i^2, contiguous
    best = pivots.argmax(-1)
    cand = torch.addmm(bias, flat, weight).view(-1, 4, 4)
    q = torch.gather(cand, 1, best.view(-1, 1, 1).expand(-1, 1, 4)).squeeze(1)  # 4 q_best * q
    v, w = q[:, :3], q[:, 3:]
    norm_v = v.norm(dim=-1, keepdim=True)
    # angle = 2 atan2(|v|, |w|); the common factor 4 q_best cancels in the ratio; the sign of w
    # (q and -q are one rotation) flips the axis.
    angle = 2 * torch.atan2(norm_v, w.abs())
    small = norm_v < 1e-6 * w.abs()
    scale = torch.where(small, 2 / w.abs().clamp_min(1e-30), angle / norm_v.clamp_min(1e-30))
    scale = torch.where(w < 0, -scale, scale)
    return (v * scale).reshape(lead + (3,))
