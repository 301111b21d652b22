"""``human_body_prior.mesh.sphere``: spheres as geometry (containment, overlap volume) and as
small meshes marking points (trimesh icospheres; ``pip install 'vposer[render]'``)."""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Sequence

import numpy as np

from vposer.errors import InputError

__all__ = ["Sphere", "points_to_spheres"]

_RED = (1.0, 0.0, 0.0)


class Sphere:
    """``Sphere(center (3,), radius)``."""

    def __init__(self, center: Any, radius: float):
        c = np.asarray(center, dtype=np.float64)
        if c.size != 3:
            raise InputError(f"Center should have size (1, 3) instead of {c.shape}")
        self.center = c.reshape(3)
        self.radius = float(radius)

    def __str__(self) -> str:
        return f"{self.center}:{self.radius}"

    def to_mesh(self, color: Sequence[float] = _RED) -> Any:
        """A 42-vertex icosphere (trimesh) of this centre and radius, coloured."""
        import trimesh

        mesh = trimesh.creation.icosphere(subdivisions=1, radius=self.radius)
        mesh.apply_translation(self.center)
        mesh.visual.vertex_colors = np.tile(np.asarray(color, dtype=np.float64), (len(mesh.vertices), 1))
        return mesh

    def has_inside(self, point: Any) -> bool:
        return bool(np.linalg.norm(np.asarray(point) - self.center) <= self.radius)

    def intersects(self, sphere: Sphere) -> bool:
        return bool(np.linalg.norm(sphere.center - self.center) < self.radius + sphere.radius)

    def intersection_vol(self, sphere: Sphere) -> float:
        """Volume shared with another sphere (0 when apart, the smaller one when inside)."""
        if not self.intersects(sphere):
            return 0.0
        d = float(np.linalg.norm(sphere.center - self.center))
        big, small = max(self.radius, sphere.radius), min(self.radius, sphere.radius)
        if big >= d + small:
            return 4.0 * math.pi * small ** 3 / 3.0
        lens = (big + small - d) ** 2 * (d * d + 2 * d * (small + big) - 3 * (small - big) ** 2)
        return math.pi * lens / (12.0 * d)


def points_to_spheres(points: Any, radius: float = 0.01, vc: Any = _RED) -> list:
    """One sphere mesh per ``(N, 3)`` point; ``vc`` one RGB colour or one per point."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    per_point = np.asarray(vc).ndim == 2
    return [Sphere(p, radius).to_mesh(vc[i] if per_point else vc) for i, p in enumerate(pts)]
