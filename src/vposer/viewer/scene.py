"""The 3D scene of the viewer: one mesh per body, the skeletons, a floor, the camera.

Used only by :class:`vposer.viewer.ViewerApp` (viser is imported by the caller). The scene is
y up, like the body models; the camera starts in front of the bodies (+z), looking at their chests.
"""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Sequence

import numpy as np

from .state import ViewerState

BODY_COLOR = (176, 184, 200)
SELECTED_COLOR = (236, 152, 96)
BONE_COLOR = (30, 60, 200)


class SceneView:
    """Scene nodes mirroring a :class:`ViewerState` (call :meth:`update` after a change)."""

    def __init__(self, server: Any, state: ViewerState):
        self.scene = server.scene
        self.meshes: list[Any] = []
        self.skeleton: Any | None = None
        self.show_mesh = True
        self.show_skeleton = False
        self.scene.set_up_direction("+y")
        self.scene.add_grid("/floor", width=12.0, height=12.0, plane="xz", cell_size=0.25,
                            section_size=1.0)
        self.frame_camera(server, state.num_bodies, state.spacing)
        self.rebuild(state)

    @staticmethod
    def frame_camera(server: Any, num_bodies: int, spacing: float) -> None:
        """Start new clients' cameras (and *Reset view*) in front of the row of bodies, 45 degree
        vertical field of view, far enough back to see them all left of the control panel."""
        half_width = spacing * num_bodies / 2 + 0.3
        distance = max(3.0, half_width / 0.45)  # tan(half horizontal fov) ~ 0.7 on a wide window
        shift = 0.25 * half_width  # look right of centre: the bodies move left, clear of the panel
        server.initial_camera.fov = math.radians(45.0)
        server.initial_camera.position = (shift, 1.2, distance)
        server.initial_camera.look_at = (shift, 0.85, 0.0)

    def rebuild(self, state: ViewerState) -> None:
        """Match the number of meshes to the number of bodies, then :meth:`update`."""
        while len(self.meshes) > state.num_bodies:
            self.meshes.pop().remove()
        for i in range(len(self.meshes), state.num_bodies):
            self.meshes.append(self.scene.add_mesh_simple(
                f"/bodies/body_{i}", state.vertices[i], state.faces, color=BODY_COLOR,
                side="double", visible=self.show_mesh))
        if self.skeleton is not None:
            self.skeleton.remove()
        segments = state.skeleton()
        self.skeleton = self.scene.add_line_segments(
            "/skeleton", segments, BONE_COLOR, thickness=0.012, visible=self.show_skeleton)
        self.update(state)

    def update(self, state: ViewerState, bodies: Sequence[int] | None = None) -> None:
        """Send the vertices of ``bodies`` (default all) and all bones; colour the selected body."""
        for i in range(state.num_bodies) if bodies is None else bodies:
            mesh = self.meshes[i]
            mesh.vertices = state.vertices[i]
            color = SELECTED_COLOR if (i == state.selected and state.num_bodies > 1) else BODY_COLOR
            if tuple(mesh.color) != color:
                mesh.color = color
        if self.skeleton is not None:
            self.skeleton.points = state.skeleton()

    def set_visibility(self, mesh: bool | None = None, skeleton: bool | None = None) -> None:
        if mesh is not None:
            self.show_mesh = bool(mesh)
            for handle in self.meshes:
                handle.visible = self.show_mesh
        if skeleton is not None:
            self.show_skeleton = bool(skeleton)
            if self.skeleton is not None:
                self.skeleton.visible = self.show_skeleton


def flatten_rgba(image: np.ndarray, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """``(H, W, 4)`` uint8 (straight alpha) over an opaque ``background`` -> ``(H, W, 3)`` uint8;
    ``(H, W, 3)`` passes through."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] == 3:
        return image.astype(np.uint8)
    alpha = image[..., 3:4].astype(np.float32) / 255.0
    rgb = image[..., :3].astype(np.float32) * alpha + np.asarray(background, np.float32) * (1 - alpha)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def render_offline(vertices: np.ndarray, faces: np.ndarray, width: int, height: int) -> np.ndarray:
    """A server-side picture of the bodies (``(N, V, 3)`` placed), when no browser is connected:
    :func:`vposer.render.render_grid`, one front view, ``(H, W, 3)`` uint8."""
    from ..render import render_grid

    image = render_grid(vertices, faces, angles=(0.0,), cell_size=max(64, min(width, height)))
    return np.asarray(image)[..., :3]
