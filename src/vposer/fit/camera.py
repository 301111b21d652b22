"""A pinhole camera for 2D keypoint targets (OpenCV conventions).

A world point ``X`` (metres) is seen at ``x_cam = R X + t`` in the camera frame (x right, y down,
z forward, the camera looking down +z) and at pixel ``(u, v) = (K x_cam)[:2] / z_cam``.
``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]``. ``K``, ``R``, ``t`` are one camera for the whole
batch, or one per sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import InputError

__all__ = ["PinholeCamera", "MIN_DEPTH"]

MIN_DEPTH = 1e-3  # metres; depths are clamped here so points behind the camera stay finite


def _as(value: Any, shape: tuple, name: str, dtype: torch.dtype) -> Tensor:
    t = torch.as_tensor(value, dtype=dtype)
    if t.shape[-len(shape):] != shape or t.ndim not in (len(shape), len(shape) + 1):
        raise InputError(f"camera {name} must be {shape} or (N, {', '.join(map(str, shape))}), "
                         f"got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise InputError(f"camera {name} contains NaN or Inf")
    return t


@dataclass
class PinholeCamera:
    """Intrinsics ``K`` ``(3, 3)`` or ``(N, 3, 3)``; extrinsics ``R`` ``(3, 3)`` / ``(N, 3, 3)``
    (world to camera rotation) and ``t`` ``(3,)`` / ``(N, 3)`` (metres)."""

    K: Tensor
    R: Tensor
    t: Tensor

    @classmethod
    def create(cls, K: Any, R: Any | None = None, t: Any | None = None,
               dtype: torch.dtype = torch.float32) -> PinholeCamera:
        """Check and convert; ``R`` defaults to the identity and ``t`` to zero."""
        k = _as(K, (3, 3), "K", dtype)
        if (torch.linalg.det(k.double()).abs() < 1e-12).any():
            raise InputError("the camera intrinsics K are singular (a focal length of 0?)")
        r = _as(torch.eye(3) if R is None else R, (3, 3), "R", dtype)
        tt = _as(torch.zeros(3) if t is None else t, (3,), "t", dtype)
        return cls(k, r, tt)

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> PinholeCamera:
        return PinholeCamera(self.K.to(device, dtype), self.R.to(device, dtype),
                             self.t.to(device, dtype))

    def batch_size(self) -> int | None:
        """The number of per-sample cameras, or None for one shared camera."""
        sizes = {x.shape[0] for x, nd in ((self.K, 3), (self.R, 3), (self.t, 2)) if x.ndim == nd}
        if len(sizes) > 1:
            raise InputError(f"per-sample camera arrays disagree on the batch size: {sorted(sizes)}")
        return sizes.pop() if sizes else None

    def select(self, index: Tensor) -> PinholeCamera:
        """Per-sample cameras for the rows ``index`` (a shared camera is returned as is)."""
        pick = lambda x, nd: x.index_select(0, index.to(x.device)) if x.ndim == nd else x  # noqa: E731
        return PinholeCamera(pick(self.K, 3), pick(self.R, 3), pick(self.t, 2))

    def to_camera(self, points: Tensor) -> Tensor:
        """``(N, P, 3)`` world points to the camera frame."""
        r = self.R if self.R.ndim == 3 else self.R.unsqueeze(0)
        t = self.t if self.t.ndim == 2 else self.t.unsqueeze(0)
        return points @ r.transpose(-1, -2) + t.unsqueeze(1)

    def project(self, points: Tensor) -> Tensor:
        """``(N, P, 3)`` world points to ``(N, P, 2)`` pixels."""
        return self.project_camera(self.to_camera(points))

    def project_camera(self, cam: Tensor) -> Tensor:
        """``(N, P, 3)`` camera-frame points to ``(N, P, 2)`` pixels."""
        k = self.K if self.K.ndim == 3 else self.K.unsqueeze(0)
        z = cam[..., 2:].clamp_min(MIN_DEPTH)
        xy = cam[..., :2] / z
        return xy @ k[:, :2, :2].transpose(-1, -2) + k[:, None, :2, 2]

    def focal(self) -> Tensor:
        """``(N or 1,)`` mean focal length in pixels."""
        k = self.K if self.K.ndim == 3 else self.K.unsqueeze(0)
        return 0.5 * (k[:, 0, 0] + k[:, 1, 1])
