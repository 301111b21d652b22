"""The tutorial's picture: samples in columns, view angles in rows, one camera for all cells."""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from .context import RenderError
from .renderer import get_renderer

DEFAULT_ANGLES = (0.0, 90.0, -90.0)


def tile(cells: np.ndarray) -> np.ndarray:
    """``(R, C, H, W, ch)`` cells to one ``(R * H, C * W, ch)`` image (row-major)."""
    r, c, h, w, ch = cells.shape
    return np.ascontiguousarray(cells.transpose(0, 2, 1, 3, 4).reshape(r * h, c * w, ch))


def render_grid(
    vertices,
    faces,
    angles: Sequence[float] = DEFAULT_ANGLES,
    cell_size: int = 400,
    **options: Any,
) -> np.ndarray:
    """Render bodies as a grid: rows = view angles, columns = samples.

    All cells share one camera (same distance and height), so the bodies are drawn at the same
    scale, each standing on the floor and centred in its cell. For 5 samples and the default
    angles ``(0, 90, -90)`` at 400 pixels this is the tutorial's 2000 x 1200 picture.

    Args:
        vertices: ``(N, V, 3)`` or ``(V, 3)`` metres, y up, +z front.
        faces: ``(F, 3)``.
        angles: view angles about the vertical axis, degrees (one row each).
        cell_size: side of a square cell, pixels.
        options: passed to :meth:`vposer.render.Renderer.render_meshes` (``colors``,
            ``background``, ``floor``, ``shadow``, ``yfov_deg``, ``elevation_deg``, ``progress``).

    Returns:
        ``(len(angles) * cell_size, N * cell_size, 3)`` uint8 (4 channels when transparent).
    """
    angles = list(angles)
    if not angles:
        raise RenderError("give at least one view angle")
    cells = get_renderer(cell_size).render_meshes(vertices, faces, angles, **options)  # (N, A, ...)
    return tile(cells.swapaxes(0, 1))

