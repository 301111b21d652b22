"""Moved to :mod:`vposer.pipelines` (model-driven rendering sits above :mod:`vposer.render`);
this module keeps the old import path, resolving its names on first use."""
from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["body_vertices",  # noqa: F822  (defined lazily, below) "interpolation_animation", "interpolation_poses", "load_pose",
           "pose_grid"]

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "vposer.pipelines"), globals())
