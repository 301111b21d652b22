"""Initial root orientation and translation of a fit.

3D targets (joints, markers): the body in the pose of ``z = 0`` (the prior's mode) is aligned to
the targets with a weighted Kabsch / Procrustes rotation and the centroid translation, in closed
form, per sample.

2D keypoints: the body is put upright in the image, facing the camera, on the ray through the
keypoints' centroid, at the depth where its size matches theirs (``f * spread_3d / spread_2d``);
:func:`yaw_hypotheses` turns that guess about the body's vertical axis, so that a coarse stage can
keep the best of several facing directions.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .camera import PinholeCamera

__all__ = ["kabsch", "align_3d", "camera_guess", "yaw_hypotheses", "root_translation"]

DEFAULT_DEPTH = 3.0  # metres, when the keypoints' spread gives no scale


def kabsch(source: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Rotation ``R`` ``(N, 3, 3)`` minimising ``sum_k w_k |R (p_k - p_mean) - (q_k - q_mean)|^2``.

    Args:
        source, target: ``(N, K, 3)``; weights: ``(N, K)`` >= 0 (weighted means are used).
        Samples with fewer than 3 weighted points, or degenerate ones, still get a proper
        rotation (the identity where nothing is determined).
    """
    w = weights.unsqueeze(-1)
    total = w.sum(1, keepdim=True).clamp_min(1e-12)
    p = source - (w * source).sum(1, keepdim=True) / total
    q = target - (w * target).sum(1, keepdim=True) / total
    cov = (w * q).transpose(1, 2) @ p  # (N, 3, 3): sum w q p^T
    u, s, vh = torch.linalg.svd(cov.double())
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    rot = u @ fix @ vh
    enough = (weights > 0).sum(1) >= 3
    rot = torch.where(enough[:, None, None] & (s[:, 0] > 1e-12)[:, None, None], rot,
                      torch.eye(3, dtype=rot.dtype, device=rot.device))
    return rot.to(source.dtype)


def root_translation(rot: Tensor, source_centroid: Tensor, target_centroid: Tensor,
                     pelvis: Tensor) -> Tensor:
    """``trans`` ``(N, 3)`` that moves a body point at ``source_centroid`` (rest root, zero
    translation) to ``target_centroid`` once the root is turned by ``rot`` ``(N, 3, 3)``.

    The body's root rotation turns about the rest pelvis ``pelvis`` ``(3,)`` or ``(N, 3)``:
    ``x' = R (x - pelvis) + pelvis + trans``.
    """
    offset = source_centroid - pelvis
    return target_centroid - pelvis - (rot @ offset.unsqueeze(-1)).squeeze(-1)


def align_3d(rest_points: Tensor, targets: Tensor, weights: Tensor, pelvis: Tensor
             ) -> tuple[Tensor, Tensor]:
    """Root orientation (axis-angle ``(N, 3)``) and translation ``(N, 3)`` aligning the body's
    rest points ``(N or 1, K, 3)`` (root at rest, zero translation) to ``targets`` ``(N, K, 3)``."""
    rest_points = rest_points.expand_as(targets)
    rot = kabsch(rest_points, targets, weights)
    w = weights.unsqueeze(-1)
    total = w.sum(1).clamp_min(1e-12)
    src_c = (w * rest_points).sum(1) / total
    tgt_c = (w * targets).sum(1) / total
    return matrix_to_axis_angle(rot), root_translation(rot, src_c, tgt_c, pelvis)


def camera_guess(rest_points: Tensor, keypoints: Tensor, weights: Tensor, camera: PinholeCamera,
                 pelvis: Tensor) -> tuple[Tensor, Tensor]:
    """Root orientation and translation ``(N, 3)`` each for 2D keypoints (see the module doc).

    Args:
        rest_points: ``(1 or N, K, 3)`` body points at rest root orientation, zero translation.
        keypoints: ``(N, K, 2)`` pixels; weights: ``(N, K)``.
    """
    n = keypoints.shape[0]
    dt, dev = keypoints.dtype, keypoints.device
    rest_points = rest_points.expand(n, -1, -1)
    w = weights.unsqueeze(-1)
    total = w.sum(1).clamp_min(1e-12)
    c2 = (w * keypoints).sum(1) / total  # (N, 2)
    c3 = (w * rest_points).sum(1) / total  # (N, 3)
    spread2 = ((w * (keypoints - c2.unsqueeze(1)) ** 2).sum((1, 2)) / total.squeeze(-1)).sqrt()
    xy = (rest_points - c3.unsqueeze(1))[..., :2]
    spread3 = ((w * xy ** 2).sum((1, 2)) / total.squeeze(-1)).sqrt()
    focal = camera.focal().to(dt).expand(n)
    depth = torch.where(spread2 > 1e-6, focal * spread3 / spread2.clamp_min(1e-6),
                        torch.full_like(spread2, DEFAULT_DEPTH)).clamp(0.3, 100.0)
    k = camera.K if camera.K.ndim == 3 else camera.K.expand(n, 3, 3)
    ray = torch.linalg.solve(k.to(dt), torch.cat([c2, torch.ones_like(c2[:, :1])], -1).unsqueeze(-1))
    centre_cam = ray.squeeze(-1) * depth.unsqueeze(-1)  # (N, 3), ray has z = 1
    r = camera.R if camera.R.ndim == 3 else camera.R.expand(n, 3, 3)
    t = camera.t if camera.t.ndim == 2 else camera.t.expand(n, 3)
    centre_world = (r.transpose(1, 2) @ (centre_cam - t).unsqueeze(-1)).squeeze(-1)
    facing = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=dt, device=dev))  # body -> camera
    rot = r.transpose(1, 2) @ facing
    return matrix_to_axis_angle(rot), root_translation(rot, c3, centre_world, pelvis)


def yaw_hypotheses(root_orient: Tensor, trans: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """``count`` turns of each guess about the body's own vertical axis (through the pelvis),
    evenly spaced over 360 degrees; the root turns about the pelvis, so the translation stays.

    Returns:
        ``(count * N, 3)`` root orientations and translations, hypothesis-major.
    """
    angles = torch.arange(count, dtype=root_orient.dtype, device=root_orient.device) * (2 * math.pi / count)
    yaw = torch.zeros(count, 3, dtype=root_orient.dtype, device=root_orient.device)
    yaw[:, 1] = angles
    rot = axis_angle_to_matrix(root_orient).unsqueeze(0) @ axis_angle_to_matrix(yaw).unsqueeze(1)
    orient = matrix_to_axis_angle(rot.reshape(-1, 3, 3))
    return orient, trans.repeat(count, 1)
