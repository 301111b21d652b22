"""Choosing frames: frame-rate-aware subsampling and near-duplicate removal (per take).

Both are deterministic functions of one take, so a prepared dataset never depends on how the
work was spread over processes.
"""
from __future__ import annotations

import numpy as np

__all__ = ["subsample_indices", "dedup_indices", "pose_distance", "rodrigues", "log_map"]


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


def subsample_indices(num_frames: int, fps: float, target_fps: float) -> np.ndarray:
    """Frames nearest to the times ``k / target_fps`` (k = 0, 1, ...) of a take.

    Args:
        num_frames: frames in the take; fps: its rate; target_fps: the wanted rate
            (``<= 0`` or ``>= fps`` keeps every frame).

    Returns:
        ``(n,)`` int64 strictly increasing source frame indices; for an integer ratio
        ``fps / target_fps = s`` these are ``0, s, 2s, ...``.
    """
    if target_fps <= 0 or target_fps >= fps or num_frames == 0:
        return np.arange(num_frames, dtype=np.int64)
    step = fps / target_fps
    count = int(np.floor((num_frames - 1) / step + 1e-9)) + 1
    idx = np.floor(np.arange(count) * step + 0.5 + 1e-9).astype(np.int64)
    return np.unique(np.minimum(idx, num_frames - 1))


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
    return v * scale


def pose_distance(mats: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Largest joint angle (radians) between poses ``mats`` (n, J, 3, 3) and one pose (J, 3, 3)."""
    cos = (np.einsum("njab,jab->nj", mats, ref) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0)).max(axis=1)


def dedup_indices(pose_body: np.ndarray, threshold: float, window: int = 256) -> np.ndarray:
    """Drop near-duplicate poses within one take, greedily in time order.

    A frame is kept when some body joint differs from the last kept frame by more than
    ``threshold`` radians (geodesic angle of that joint's local rotation); the first frame is
    always kept. The scan compares a window of candidates at once (its width adapts to the
    spacing of kept frames), so the Python loop runs about once per kept frame.

    Args:
        pose_body: ``(n, 63)`` or ``(n, 21, 3)`` axis-angle poses of consecutive kept frames.
        threshold: radians; ``<= 0`` keeps every frame.

    Returns:
        ``(m,)`` int64 indices into ``pose_body``.
    """
    n = len(pose_body)
    if threshold <= 0 or n <= 1:
        return np.arange(n, dtype=np.int64)
    mats = rodrigues(np.asarray(pose_body).reshape(n, -1, 3)).reshape(n, -1, 9)
    # a joint differs by more than the threshold when tr(R_ref^T R) < 1 + 2 cos(threshold)
    limit = 1.0 + 2.0 * np.cos(min(float(threshold), np.pi))
    kept = [0]
    current, pos, width = 0, 1, 8
    while pos < n:
        stop = min(n, pos + width)
        traces = np.einsum("njk,jk->nj", mats[pos:stop], mats[current])
        far = np.flatnonzero(traces.min(axis=1) < limit)
        if far.size:
            current = pos + int(far[0])
            kept.append(current)
            pos = current + 1
            width = max(8, min(width, 2 * (int(far[0]) + 1)))
        else:  # nothing far enough here: keep comparing with the same kept frame, further
            pos = stop
            width = min(2 * width, 4096)
    return np.asarray(kept, dtype=np.int64)
