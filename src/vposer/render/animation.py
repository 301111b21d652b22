"""Animations: a sequence of bodies rendered with one camera, e.g. a latent interpolation."""
from __future__ import annotations

from typing import Any

import numpy as np

from .context import RenderError
from .grid import tile
from .renderer import get_renderer


def render_animation(
    vertices,
    faces,
    angle_deg: float = 0.0,
    size: int = 400,
    progress: bool | None = None,
    **options: Any,
) -> np.ndarray:
    """Render the frames of an animation with one fixed camera framing all of them.

    Each frame's body stands on the floor (its lowest vertex at ``y = 0``); the horizontal
    centring is shared by all frames (``center='joint'``) so the body does not drift.

    Args:
        vertices: ``(T, V, 3)`` metres, y up, +z front.
        faces: ``(F, 3)``.
        angle_deg: view angle about the vertical axis.
        size: frame side in pixels (or give ``width``/``height`` via a Renderer yourself).
        progress: tqdm bar (default: shown for more than 8 frames).
        options: passed to :meth:`vposer.render.Renderer.render_meshes`.

    Returns:
        ``(T, size, size, 3)`` uint8 (4 channels when transparent).
    """
    options.setdefault("center", "joint")
    frames = get_renderer(size).render_meshes(vertices, faces, [angle_deg], progress=progress, **options)
    return frames[:, 0]


def frame_strip(frames: np.ndarray, k: int = 6) -> np.ndarray:
    """``k`` evenly spaced frames (first and last included) side by side.

    Args:
        frames: ``(T, H, W, C)``.

    Returns:
        ``(H, k * W, C)`` (fewer columns if ``T < k``).
    """
    frames = np.asarray(frames)
    if k < 1:
        raise RenderError(f"a strip needs at least one frame, got k={k}")
    idx = np.unique(np.rint(np.linspace(0, len(frames) - 1, min(k, len(frames)))).astype(int))
    return tile(frames[idx][None])
