"""The decoder's output conversion, 6D -> matrices -> axis-angle, in few fused operations.

The same mathematics as :mod:`vposer.rotations` (``rotation_6d_to_matrix`` followed by
``matrix_to_axis_angle``), arranged for speed on the sampling hot path, in three forms:

- small batches (up to :data:`SMALL_BATCH` samples), and every batch on a GPU, where the cost
  is the number of operator calls (kernel launches): per-joint vectors ``(N, J, 3)``, the four
  candidate quaternions of the matrix-to-quaternion step from one matrix product with a constant
  ``(9, 32)`` matrix (on an H200: 0.35 ms at 1 to 1024 samples, 0.64 ms at 64k, against 1.35 ms
  for the other layout);
- large batches on the CPU, where the cost is memory passes and torch's slow kernels for tiny trailing
  dimensions (norms over 3, ``argmax`` over 4, ``cross``, ``gather``, ``(M, 9) @ (9, 16)``):
  structure of arrays, every operation elementwise on ``(N, J)`` planes, the pivot chosen with
  float masks instead of ``argmax``/``gather``/``where``;
- and, for :meth:`VPoser.decode <vposer.model.VPoser.decode>` of at most :data:`SMALL_BATCH` codes
  on the CPU without autograd, :func:`sixd_to_matrix_and_axis_angle_numpy`: the same conversion in
  about 20 numpy calls, each a fraction of a torch operator's fixed cost (a one-pose decode went
  from 1.2x the original's time to 0.88x), with the frame built as in the ONNX export.

Gram-Schmidt uses ``b3 = normalize(a1 x a2)``, ``b2 = b3 x b1`` (the same frame as projecting
``a2`` off ``b1``, better conditioned; the small-batch path normalises ``(a1 x a2) x a1``, the same
vector, in the one division of the frame), and the angle comes from ``2 atan2(|v|, |w|) / |v|``
with ``|v|`` clamped away from 0 (there ``v = 0`` and the result is exactly 0; for tiny ``|v|``
atan2 keeps full relative precision). Both paths agree with a float64 reference to about 1e-6.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from .._cache import constant_cache
from .._rotation_tables import candidate_map, frame_terms

#: Largest CPU batch (samples) converted with the few-operator path; above, structure of arrays.
SMALL_BATCH = 32


@constant_cache
def _candidate_map(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(weight (9, 32), bias (32,))``: the flattened *transposed* matrix ``R^T`` (rows of ``R^T``
    are the columns of ``R``) times ``weight`` plus ``bias`` is, for each pivot ``i`` (x, y, z, w),
    the row ``[4 q_i q (4), 2 q_i q (4)]``; the half copy saves the factor 2 of ``angle = 2 atan2``."""
    weight, bias = (torch.from_numpy(t) for t in candidate_map((1.0, 0.5), transposed=True))
    return weight.to(dtype=dtype, device=device), bias.to(dtype=dtype, device=device)


@constant_cache
def _row_offsets(device: torch.device) -> Tensor:
    return torch.arange(8, device=device)


def sixd_to_matrix_and_axis_angle(d6: Tensor) -> tuple[Tensor, Tensor]:
    """VPoser's raw decoder output to rotations.

    Args:
        d6: ``(N, 6 J)`` decoder output, per joint a row-major 3x2 matrix (see
            :func:`vposer.rotations.rotation_6d_to_matrix`).

    Returns:
        ``(matrices (N, J, 3, 3), axis_angle (N, J, 3))``, both contiguous, angles in ``[0, pi]``.
    """
    if d6.shape[0] <= SMALL_BATCH or d6.device.type != "cpu":
        return _few_ops(d6)
    x = d6.reshape(d6.shape[0], -1, 3, 2)
    return _planes(*(x[..., r, c] for c in range(2) for r in range(3)))


# -- small batches: few operator calls ------------------------------------------------------------
def _few_ops(d6: Tensor) -> tuple[Tensor, Tensor]:
    """``d6 (N, 6 J)`` -> ``(R (N, J, 3, 3), axis-angle (N, J, 3))`` in about 25 operator calls.

    The frame is built unnormalised as the rows ``a1, (a1 x a2) x a1, a1 x a2`` of ``R^T`` and
    normalised in one division; the pivot quaternion is one row of a ``(M, 32)`` product."""
    n = d6.shape[0]
    a1, a2 = d6.reshape(n, -1, 3, 2).unbind(-1)
    c = torch.linalg.cross(a1, a2, dim=-1)
    e = torch.stack((a1, torch.linalg.cross(c, a1, dim=-1), c), dim=-2)
    rt = e / torch.linalg.vector_norm(e, dim=-1, keepdim=True)  # (N, J, 3, 3), rows = R's columns
    weight, bias = _candidate_map(rt.dtype, rt.device)
    cand = torch.addmm(bias, rt.view(-1, 9), weight)  # (M, 32)
    best = cand[:, ::9].argmax(-1, keepdim=True)  # (M, 1): largest of 4 q_i^2
    q = cand.gather(1, torch.add(_row_offsets(cand.device), best, alpha=8))  # (M, 8)
    v, _, vh, wh = q.split((3, 1, 3, 1), dim=1)  # type: ignore[no-untyped-call]  # 4 q_i q, 2 q_i q
    nh = torch.linalg.vector_norm(vh, dim=-1, keepdim=True)
    # angle / |v| = 2 atan2(|v|, |w|) / |v| = atan2(|vh|, |wh|) / |vh|; sign(w) picks q over -q
    scale = torch.copysign(torch.atan2(nh, wh.abs()).div_(nh.clamp_min(1e-30)), wh)
    return rt.transpose(-1, -2).contiguous(), (v * scale).view(n, -1, 3)


# -- small batches without autograd on the CPU: numpy ----------------------------------------------
@functools.cache
def _numpy_tables(dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """``(select, ones, combine, column_sums, candidates, candidates_bias)`` in ``dtype``,
    read-only; see :mod:`vposer._rotation_tables`."""
    select, ones, combine = frame_terms()
    cand, bias = candidate_map((1.0, 0.5))  # [4 q_i q, 2 q_i q] per pivot, from row-major R
    column_sums = np.kron(np.ones((3, 3)), np.eye(3))  # each entry -> its column's sum
    out = tuple(np.ascontiguousarray(t, dtype=dtype) for t in (
        select, ones, combine, column_sums, cand, bias))
    for t in out:
        t.flags.writeable = False
    return out


def sixd_to_matrix_and_axis_angle_numpy(d6: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sixd_to_matrix_and_axis_angle` in numpy, for a few poses without autograd: numpy's
    per-call cost is a fraction of torch's, which dominates at these sizes. The frame comes from
    :func:`vposer._rotation_tables.frame_terms` (the arithmetic of the ONNX export).

    Args:
        d6: ``(N, 6 J)`` float32 or float64.

    Returns:
        ``(matrices (N, J, 3, 3), axis_angle (N, J, 3))``, new arrays of ``d6``'s dtype.
    """
    with np.errstate(all="ignore"):  # huge codes overflow to NaN, silently, as in torch
        return _numpy_conversion(d6)


def _numpy_conversion(d6: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = d6.shape[0]
    select, ones, combine, column_sums, cand_map, cand_bias = _numpy_tables(d6.dtype)
    factors = d6.reshape(-1, 6) @ select
    factors += ones
    products = factors[:, 0::3] * factors[:, 1::3]
    products *= factors[:, 2::3]
    frame = products @ combine  # (M, 9): the unnormalised R, row-major
    r = frame / np.sqrt((frame * frame) @ column_sums)
    cand = r @ cand_map
    cand += cand_bias
    best = cand[:, ::9].argmax(axis=1)  # the largest of 4 q_i^2, the first of equals
    q = cand.reshape(-1, 4, 8)[np.arange(len(best)), best]  # (M, 8): 4 q_i q, 2 q_i q
    vh, wh = q[:, 4:7], q[:, 7]
    nh = np.sqrt(np.einsum("ij,ij->i", vh, vh))
    # angle / |v| = 2 atan2(|v|, |w|) / |v| = atan2(|vh|, |wh|) / |vh|; sign(w) picks q over -q
    scale = np.arctan2(nh, np.abs(wh))
    scale /= np.maximum(nh, 1e-30)
    np.copysign(scale, wh, out=scale)
    axis_angle = q[:, :3] * scale[:, None]
    return r.reshape(n, -1, 3, 3), axis_angle.reshape(n, -1, 3)


# -- large batches: structure of arrays -----------------------------------------------------------
def _sumsq(x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    return torch.addcmul(torch.addcmul(x * x, y, y), z, z)


def _cross(a: tuple[Tensor, Tensor, Tensor], b: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    (ax, ay, az), (bx, by, bz) = a, b
    return (
        torch.addcmul((az * by).neg_(), ay, bz),
        torch.addcmul((ax * bz).neg_(), az, bx),
        torch.addcmul((ay * bx).neg_(), ax, by),
    )


def _planes(x1: Tensor, y1: Tensor, z1: Tensor, x2: Tensor, y2: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """The two 6D columns as six ``(N, J)`` planes -> ``(R (N, J, 3, 3), axis-angle (N, J, 3))``."""
    r1 = _sumsq(x1, y1, z1).rsqrt_()
    b1 = (x1 * r1, y1 * r1, z1 * r1)
    c = _cross((x1, y1, z1), (x2, y2, z2))
    r3 = _sumsq(*c).rsqrt_()
    b3 = (c[0] * r3, c[1] * r3, c[2] * r3)  # not in place: _sumsq saved c for backward
    b2 = _cross(b3, b1)
    m = [[b1[i], b2[i], b3[i]] for i in range(3)]  # m[row][column]
    matrices = x1.new_empty(x1.shape + (3, 3))
    for i in range(3):
        for j in range(3):
            matrices[..., i, j].copy_(m[i][j])
    return matrices, _planes_to_axis_angle(m)


def _pivot_masks(m: list[list[Tensor]], trace: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One-hot float masks of the largest of ``4 q_i^2`` (x, y, z, w), i.e. of the largest of
    ``(m00, m11, m22, trace)``."""
    d0, d1, d2 = m[0][0], m[1][1], m[2][2]
    not_w = (trace <= torch.maximum(torch.maximum(d0, d1), d2)).to(trace.dtype)
    fx = ((d0 >= d1) & (d0 >= d2)).to(trace.dtype).mul_(not_w)
    fy = ((d1 > d0) & (d1 >= d2)).to(trace.dtype).mul_(not_w)
    return fx, fy, not_w - fx - fy, 1 - not_w


def _planes_to_axis_angle(m: list[list[Tensor]]) -> Tensor:
    """Rotation matrix planes ``m[row][column]`` ``(N, J)`` -> axis-angle ``(N, J, 3)``."""
    trace = m[0][0] + m[1][1] + m[2][2]
    fx, fy, fz, fw = _pivot_masks(m, trace)
    d21, d02, d10 = m[2][1] - m[1][2], m[0][2] - m[2][0], m[1][0] - m[0][1]
    s01, s02, s12 = m[1][0] + m[0][1], m[0][2] + m[2][0], m[2][1] + m[1][2]
    one_minus = 1 - trace
    px = torch.add(one_minus, m[0][0], alpha=2)
    py = torch.add(one_minus, m[1][1], alpha=2)
    pz = torch.add(one_minus, m[2][2], alpha=2)
    pw = trace.add_(1)

    def pick(cx: Tensor, cy: Tensor, cz: Tensor, cw: Tensor) -> Tensor:
        return torch.addcmul(torch.addcmul(torch.addcmul(fw * cw, fx, cx), fy, cy), fz, cz)

    # q = 4 q_best (x, y, z, w): rows of the candidate table, selected by the masks
    qx, qy, qz = pick(px, s01, s02, d21), pick(s01, py, s12, d02), pick(s02, s12, pz, d10)
    qw = pick(d21, d02, d10, pw)
    nv = _sumsq(qx, qy, qz).sqrt_()
    scale = torch.copysign(torch.atan2(nv, qw.abs()).mul_(2).div_(nv.clamp_min(1e-30)), qw)
    out = qx.new_empty(qx.shape + (3,))
    for k, qk in enumerate((qx, qy, qz)):
        out[..., k].copy_(qk * scale)  # not in place: _sumsq saved q for backward
    return out


def matrix_to_axis_angle_fused(matrices: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` to axis-angle ``(..., 3)``, angle in ``[0, pi]``."""
    lead = matrices.shape[:-2]
    flat = matrices.reshape(-1, 1, 3, 3)
    m = [[flat[..., i, j] for j in range(3)] for i in range(3)]
    return _planes_to_axis_angle(m).reshape(lead + (3,))
