"""Mesh geometry for rendering: normals, colours, placement on the floor, camera framing.

World frame: SMPL's, y up, +z the body's front, +x the body's left. The camera looks at the
bodies from +z (it sees their front at view angle 0), raised by ``elevation_deg``; view angles
rotate the bodies about the vertical (y) axis by the right-hand rule. Everything is numpy
float32/float64; nothing here needs OpenGL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from collections.abc import Sequence

import numpy as np

from .context import RenderError

ColorSpec = str | Sequence[float] | np.ndarray | None

DEFAULT_COLOR = (0.70, 0.72, 0.76)
PALETTE = np.array(
    [
        (0.35, 0.55, 0.80), (0.90, 0.55, 0.30), (0.40, 0.70, 0.45), (0.82, 0.40, 0.42),
        (0.60, 0.50, 0.78), (0.65, 0.50, 0.40), (0.85, 0.55, 0.72), (0.55, 0.55, 0.55),
        (0.78, 0.75, 0.35), (0.35, 0.72, 0.78),
    ],
    dtype=np.float32,
)


def as_mesh_batch(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a batch of meshes sharing one topology.

    Args:
        vertices: ``(V, 3)`` or ``(N, V, 3)`` array or tensor, metres.
        faces: ``(F, 3)`` integer vertex indices.

    Returns:
        ``(N, V, 3)`` float32 and ``(F, 3)`` int32.
    """
    v = np.asarray(_to_numpy(vertices), dtype=np.float32)
    f = np.asarray(_to_numpy(faces))
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[-1] != 3 or v.shape[1] == 0:
        raise RenderError(f"vertices must have shape (V, 3) or (N, V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[-1] != 3 or f.shape[0] == 0 or not np.issubdtype(f.dtype, np.integer):
        raise RenderError(f"faces must be an integer array of shape (F, 3), got {f.shape} {f.dtype}")
    if f.min() < 0 or f.max() >= v.shape[1]:
        raise RenderError(f"faces index vertices outside [0, {v.shape[1]})")
    if not np.isfinite(v).all():
        raise RenderError("vertices contain NaN or Inf")
    return v, f.astype(np.int32, copy=False)


def _to_numpy(x):
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        return x.detach().cpu().numpy()
    return x


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Smooth unit normals, the area-weighted mean of the adjacent face normals.

    Args:
        vertices: ``(N, V, 3)``.
        faces: ``(F, 3)``, counter-clockwise seen from outside gives outward normals.

    Returns:
        ``(N, V, 3)`` float32; vertices in no face get ``(0, 1, 0)``.
    """
    n, nv, _ = vertices.shape
    tri = vertices[:, faces]  # (N, F, 3, 3)
    fn = np.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])  # (N, F, 3), |.| = 2 area
    idx = (np.arange(n)[:, None, None] * nv + faces[None]).reshape(-1)  # (N*F*3,)
    weights = np.repeat(fn, 3, axis=1).reshape(-1, 3)  # each face normal once per corner
    acc = np.stack([np.bincount(idx, weights[:, k], minlength=n * nv) for k in range(3)], axis=-1)
    acc = acc.reshape(n, nv, 3)
    norm = np.linalg.norm(acc, axis=-1, keepdims=True)
    out = np.where(norm > 0, acc / np.maximum(norm, 1e-30), np.array([0.0, 1.0, 0.0]))
    return out.astype(np.float32)


def outward_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``faces`` reversed if the first mesh's signed volume is negative (clockwise winding)."""
    tri = vertices[0][faces].astype(np.float64)
    volume = np.einsum("fi,fi->", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))
    return faces[:, ::-1].copy() if volume < 0 else faces


def vertex_colors(colors: ColorSpec, n: int, v: int) -> np.ndarray:
    """Per-vertex colours ``(N, V, 3)`` float32 in [0, 1] from a colour specification.

    Accepted: None (the default grey), ``'palette'`` (one colour per sample), one colour ``(3,)``,
    one per sample ``(N, 3)``, one per vertex ``(V, 3)`` (shared by the samples, e.g. per body
    part, see :func:`part_colors`), or ``(N, V, 3)``. Floats in [0, 1] (clipped), or integers
    in [0, 255].
    """
    if colors is None:
        c = np.asarray(DEFAULT_COLOR, dtype=np.float32)
    elif isinstance(colors, str):
        if colors != "palette":
            raise RenderError(f"unknown colour specification {colors!r}: use 'palette' or RGB values")
        c = PALETTE[np.arange(n) % len(PALETTE)][:, None, :]
    else:
        c = np.asarray(_to_numpy(colors))
        c = c.astype(np.float32) / 255.0 if np.issubdtype(c.dtype, np.integer) else c.astype(np.float32)
        if c.shape[-1:] != (3,):
            raise RenderError(f"colours must end with 3 RGB values, got shape {c.shape}")
        if c.ndim == 2 and c.shape[0] == v:
            c = c[None]
        elif c.ndim == 2 and c.shape[0] == n:
            c = c[:, None, :]
        elif c.ndim not in (1, 3):
            raise RenderError(f"colours of shape {c.shape} fit neither (N, 3) nor (V, 3) nor (N, V, 3)")
    return np.ascontiguousarray(np.broadcast_to(np.clip(c, 0.0, 1.0), (n, v, 3)), dtype=np.float32)


def part_colors(weights: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """``(V, 3)`` colours by body part: each vertex takes the colour of its heaviest joint.

    Args:
        weights: ``(V, J)`` skinning weights.
        palette: ``(K, 3)`` colours, cycled over the joints; default :data:`PALETTE`.
    """
    pal = PALETTE if palette is None else np.asarray(palette, dtype=np.float32)
    return pal[np.asarray(_to_numpy(weights)).argmax(axis=1) % len(pal)]


def rotation_y(angles_deg) -> np.ndarray:
    """``(..., 3, 3)`` rotations about +y (right hand: +z goes to +x for +90 degrees)."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    zero, one = np.zeros_like(a), np.ones_like(a)
    return np.stack([c, zero, s, zero, one, zero, -s, zero, c], axis=-1).reshape(a.shape + (3, 3))


def placements(vertices: np.ndarray, angles_deg: Sequence[float], center: str = "each") -> np.ndarray:
    """Model matrices putting each body, turned by each view angle, on the floor.

    Each body is rotated about y, lifted so its lowest vertex lies on the floor ``y = 0``, and
    shifted horizontally so its bounding box is centred on the vertical axis: per body and view
    (``center='each'``) or with one shift per view for all bodies (``'joint'``, for animations,
    so the body does not drift between frames).

    Args:
        vertices: ``(N, V, 3)``.
        angles_deg: ``A`` view angles.

    Returns:
        ``(N, A, 4, 4)`` float64 model matrices (rotation and translation).
    """
    if center not in ("each", "joint"):
        raise RenderError(f"center must be 'each' or 'joint', got {center!r}")
    rot = rotation_y(np.asarray(angles_deg, dtype=np.float64).reshape(-1))  # (A, 3, 3)
    lo, hi = _rotated_bounds(vertices, rot)  # (N, A, 3) each
    mid = 0.5 * (lo + hi)
    if center == "joint":
        mid = np.broadcast_to(0.5 * (lo.min(0) + hi.max(0)), mid.shape)
    shift = np.stack([-mid[..., 0], -lo[..., 1], -mid[..., 2]], axis=-1)
    m = np.zeros(shift.shape[:2] + (4, 4))
    m[..., :3, :3] = rot
    m[..., :3, 3] = shift
    m[..., 3, 3] = 1.0
    return m


def _rotated_bounds(vertices: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per body and rotation the box ``(N, A, 3)`` min and max; y is unchanged by the rotation."""
    x, y, z = (vertices[..., k].astype(np.float64) for k in range(3))
    c, s = rot[:, 0, 0], rot[:, 0, 2]  # x' = c x + s z, z' = -s x + c z
    xr = x[:, None] * c[None, :, None] + z[:, None] * s[None, :, None]  # (N, A, V)
    zr = -x[:, None] * s[None, :, None] + z[:, None] * c[None, :, None]
    lo = np.stack([xr.min(-1), np.broadcast_to(y.min(-1)[:, None], xr.shape[:2]), zr.min(-1)], -1)
    hi = np.stack([xr.max(-1), np.broadcast_to(y.max(-1)[:, None], xr.shape[:2]), zr.max(-1)], -1)
    return lo, hi


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(..., K, 3)`` points through ``(..., 4, 4)`` affine matrices."""
    return points @ np.swapaxes(matrix[..., :3, :3], -1, -2) + matrix[..., None, :3, 3]


@dataclass(frozen=True)
class Camera:
    """A perspective camera looking at ``target`` from ``eye`` with +y up.

    Attributes:
        eye, target: ``(3,)`` world positions, metres.
        yfov_deg: vertical field of view.
        aspect: width / height.
        near, far: clip distances.
    """

    eye: np.ndarray
    target: np.ndarray
    yfov_deg: float
    aspect: float
    near: float
    far: float

    def view(self) -> np.ndarray:
        """``(4, 4)`` world-to-camera matrix (OpenGL: camera looks down -z)."""
        back = self.eye - self.target
        back = back / np.linalg.norm(back)
        right = np.cross([0.0, 1.0, 0.0], back)
        right = right / np.linalg.norm(right)
        up = np.cross(back, right)
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = right, up, back
        m[:3, 3] = -m[:3, :3] @ self.eye
        return m

    def projection(self) -> np.ndarray:
        """``(4, 4)`` OpenGL perspective projection."""
        f = 1.0 / math.tan(math.radians(self.yfov_deg) / 2)
        n, far = self.near, self.far
        return np.array(
            [
                [f / self.aspect, 0, 0, 0],
                [0, f, 0, 0],
                [0, 0, (far + n) / (n - far), 2 * far * n / (n - far)],
                [0, 0, -1, 0],
            ]
        )

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """``(..., 3)`` world points to ``(..., 2)`` pixel coordinates (x right, y down)."""
        p = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], -1) @ (self.projection() @ self.view()).T
        ndc = p[..., :2] / p[..., 3:4]
        return np.stack([(ndc[..., 0] + 1) * width / 2, (1 - ndc[..., 1]) * height / 2], -1)


def frame_camera(
    points: np.ndarray,
    aspect: float = 1.0,
    yfov_deg: float = 30.0,
    elevation_deg: float = 10.0,
    margin: float = 0.05,
) -> Camera:
    """The closest camera on a fixed direction that sees every point, with a margin.

    The camera looks horizontally-centred at the vertical axis, at mid-height of the points, from
    the front (+z) raised by ``elevation_deg``; its distance is the smallest one keeping each
    point inside the frustum shrunk by ``margin`` (a fraction of the half-width) on every side.

    Args:
        points: ``(K, 3)`` world points (bodies already placed on the floor).
        aspect: image width / height.
    """
    points = points.reshape(-1, 3).astype(np.float64)
    lo, hi = points.min(0), points.max(0)
    target = np.array([0.0, 0.5 * (lo[1] + hi[1]), 0.0])
    e = math.radians(elevation_deg)
    back = np.array([0.0, math.sin(e), math.cos(e)])
    right = np.array([1.0, 0.0, 0.0])
    up = np.cross(back, right)
    rel = points - target
    xc, yc, zc = rel @ right, rel @ up, rel @ back
    ty = math.tan(math.radians(yfov_deg) / 2) * (1 - margin)
    tx = ty * aspect
    dist = float(np.max(np.maximum(zc + np.abs(xc) / tx, zc + np.abs(yc) / ty)))
    dist = max(dist, float(zc.max()) + 0.05, 0.1)
    depth = dist - zc
    near = max(0.01, 0.5 * float(depth.min()))
    far = float(depth.max()) * 2.0 + 10.0
    return Camera(target + dist * back, target, float(yfov_deg), float(aspect), near, far)
