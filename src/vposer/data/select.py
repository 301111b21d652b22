"""Choosing frames: frame-rate-aware subsampling and near-duplicate removal (per take).

Both are deterministic functions of one take, so a prepared dataset never depends on how the
work was spread over processes.
"""
from __future__ import annotations

import numpy as np

from ..rotations_np import log_map, rodrigues  # re-exported: their home is vposer.rotations_np

__all__ = ["subsample_indices", "dedup_indices", "pose_distance", "rodrigues", "log_map"]


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
