"""The OpenGL renderer: shaded, lit, anti-aliased bodies on a floor with a soft shadow.

A :class:`Renderer` owns the framebuffers of one image size in the process-wide GL context
(:func:`vposer.render.context.shared_context`); :func:`get_renderer` caches one per size, so the
slow context and shader set-up happen once per process.
"""
from __future__ import annotations

import sys
from typing import Any
from collections.abc import Sequence

import numpy as np

from . import shaders
from .context import RenderError, shared_context
from .geometry import (
    Camera,
    ColorSpec,
    as_mesh_batch,
    frame_camera,
    outward_faces,
    placements,
    transform,
    vertex_colors,
    vertex_normals,
)

Background = str | Sequence[float]

#: (direction towards the light in world space, colour): key, fill and rim lights.
LIGHTS = (
    ((-0.45, 0.75, 0.85), (0.78, 0.76, 0.72)),
    ((0.85, 0.25, 0.55), (0.28, 0.30, 0.34)),
    ((0.30, 0.65, -0.90), (0.45, 0.45, 0.48)),
)
SKY, GROUND = (0.30, 0.31, 0.34), (0.14, 0.13, 0.12)
SHADOW_LIGHT = (-0.20, 1.0, 0.30)  # casts the floor shadow behind the body, slightly right
FLOOR_COLOR = (0.90, 0.90, 0.91)
SHADOW_MAP_SIZE = 2048
#: Depth bias of the shadow test, metres along the light: no self-shadowing floor where a sole
#: touches it, and contact shadows kept.
SHADOW_BIAS_M = 0.012
#: Share of the floor disc's radius kept inside the frame: the disc fades out from 45 % of its
#: radius and is nearly white beyond this.
FLOOR_FRAMED = 0.85
NAMED_BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "transparent": None}


def _gl(matrix: np.ndarray) -> bytes:
    """A row-major numpy ``(4, 4)`` matrix as the column-major float32 bytes GLSL expects."""
    return np.ascontiguousarray(matrix.T, dtype="f4").tobytes()


def parse_background(background: Background) -> tuple[float, float, float] | None:
    """``'white'``, ``'black'``, ``'transparent'`` (None) or an RGB triple in [0, 1]."""
    if isinstance(background, str):
        if background not in NAMED_BACKGROUNDS:
            raise RenderError(f"unknown background {background!r}: use white, black, transparent or RGB")
        return NAMED_BACKGROUNDS[background]
    rgb = tuple(float(c) for c in background)
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise RenderError(f"background must be 3 values in [0, 1], got {background!r}")
    return rgb  # type: ignore[return-value]


def floor_color(bg: tuple[float, float, float] | None) -> tuple[float, float, float]:
    """The floor disc's colour: a shade darker than a light background, lighter than a dark one."""
    if bg is None:
        return FLOOR_COLOR
    shade = -0.08 if sum(bg) > 1.5 else 0.08
    return tuple(float(np.clip(c + shade, 0.0, 1.0)) for c in bg)  # type: ignore[return-value]


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    back = (eye - target) / np.linalg.norm(eye - target)
    up = np.array([0.0, 1.0, 0.0]) if abs(back[1]) < 0.99 else np.array([0.0, 0.0, -1.0])
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = right, np.cross(back, right), back
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def floor_disc(placed: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre ``(x, z)`` and radius of the floor disc under bodies placed on the floor: it holds
    every body's footprint and its shadow, and its centre moves towards the shadow (which falls
    away from the camera), so that little empty floor lies between the feet and the frame's
    bottom edge."""
    height = float(placed[..., 1].max())
    away = -np.asarray(SHADOW_LIGHT, dtype=np.float64)[[0, 2]] / SHADOW_LIGHT[1]  # per metre of height
    center = 0.3 * height * away
    reach = float(np.sqrt(((placed[..., 0] - center[0]) ** 2 + (placed[..., 2] - center[1]) ** 2).max()))
    shadow = float(np.linalg.norm(height * away - center))  # to the head's shadow
    return center, 1.1 * max(reach, 0.0) + 0.15 * max(shadow, reach)


def light_view_projection(center: np.ndarray, radius: float) -> np.ndarray:
    """``(4, 4)`` orthographic view-projection of the shadow light covering a sphere."""
    d = np.asarray(SHADOW_LIGHT, dtype=np.float64)
    d /= np.linalg.norm(d)
    view = _look_at(center + 2.0 * radius * d, center)
    near, far = 0.5 * radius, 3.5 * radius
    proj = np.diag([1.0 / radius, 1.0 / radius, -2.0 / (far - near), 1.0])
    proj[2, 3] = -(far + near) / (far - near)
    return proj @ view


class Renderer:
    """Renders batches of meshes into ``width x height`` images.

    Args:
        width, height: image size in pixels (height defaults to width).
        samples: MSAA samples (clamped to what the GL implementation offers; 0 disables).
        context: a ``moderngl.Context``; default the shared headless one.
    """

    def __init__(self, width: int = 400, height: int | None = None, samples: int = 4, context: Any = None):
        height = width if height is None else height
        if width < 8 or height < 8 or width > 8192 or height > 8192:
            raise RenderError(f"image size must be within 8..8192 pixels, got {width} x {height}")
        self.width, self.height = int(width), int(height)
        self.ctx = context if context is not None else shared_context()
        with self.ctx:
            self.samples = int(min(max(samples, 0), self.ctx.max_samples))
            self._build()
        self._faces: np.ndarray | None = None
        self._num_vertices = -1

    def _build(self) -> None:
        ctx, size = self.ctx, (self.width, self.height)
        self.body_prog = ctx.program(vertex_shader=shaders.BODY_VERTEX, fragment_shader=shaders.BODY_FRAGMENT)
        self.depth_prog = ctx.program(vertex_shader=shaders.DEPTH_VERTEX, fragment_shader=shaders.DEPTH_FRAGMENT)
        self.floor_prog = ctx.program(vertex_shader=shaders.FLOOR_VERTEX, fragment_shader=shaders.FLOOR_FRAGMENT)
        self.body_prog["u_light_dir"].value = [direction for direction, _ in LIGHTS]
        self.body_prog["u_light_color"].value = [color for _, color in LIGHTS]
        self.body_prog["u_sky"].value, self.body_prog["u_ground"].value = SKY, GROUND
        self.body_prog["u_specular"].value = 0.12
        self.resolved = ctx.framebuffer(ctx.renderbuffer(size), ctx.depth_renderbuffer(size))
        if self.samples > 1:
            self.target = ctx.framebuffer(
                ctx.renderbuffer(size, samples=self.samples), ctx.depth_renderbuffer(size, samples=self.samples)
            )
        else:
            self.target = self.resolved
        self.shadow_map = ctx.depth_texture((SHADOW_MAP_SIZE, SHADOW_MAP_SIZE))
        self.shadow_map.compare_func = "<="
        self.shadow_map.filter = (self.ctx.LINEAR, self.ctx.LINEAR)  # 2 x 2 compared per tap
        self.shadow_map.repeat_x = self.shadow_map.repeat_y = False
        self.shadow_fbo = ctx.framebuffer(depth_attachment=self.shadow_map)
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype="f4")
        self.floor_vao = ctx.vertex_array(self.floor_prog, [(ctx.buffer(quad.tobytes()), "2f", "in_xz")])
        self.floor_prog["u_shadow_map"].value = 0

    def _upload_topology(self, faces: np.ndarray, num_vertices: int) -> None:
        """(Re)create the buffers when the topology changes; keep them otherwise."""
        if self._faces is not None and self._num_vertices == num_vertices and np.array_equal(self._faces, faces):
            return
        ctx = self.ctx
        self._faces, self._num_vertices = faces.copy(), num_vertices
        self.ibo = ctx.buffer(np.ascontiguousarray(faces, dtype="i4").tobytes())
        self.vbo_pos = ctx.buffer(reserve=num_vertices * 12)
        self.vbo_normal = ctx.buffer(reserve=num_vertices * 12)
        self.vbo_color = ctx.buffer(reserve=num_vertices * 12)
        self.body_vao = ctx.vertex_array(
            self.body_prog,
            [(self.vbo_pos, "3f", "in_pos"), (self.vbo_normal, "3f", "in_normal"), (self.vbo_color, "3f", "in_color")],
            index_buffer=self.ibo,
            index_element_size=4,
        )
        self.depth_vao = ctx.vertex_array(
            self.depth_prog, [(self.vbo_pos, "3f", "in_pos")], index_buffer=self.ibo, index_element_size=4
        )

    def render_meshes(
        self,
        vertices,
        faces,
        angles_deg: float | Sequence[float] = 0.0,
        *,
        colors: ColorSpec = None,
        background: Background = "white",
        floor: bool = True,
        shadow: bool = True,
        yfov_deg: float = 30.0,
        elevation_deg: float = 10.0,
        margin: float = 0.05,
        center: str = "each",
        progress: bool | None = None,
    ) -> np.ndarray:
        """Render every body at every view angle, all with one camera.

        Each body is turned about the vertical axis by each angle, its lowest vertex put on the
        floor ``y = 0`` and centred horizontally (see :func:`~vposer.render.geometry.placements`);
        one perspective camera then frames all of them with a margin, so no body is clipped and
        sizes are comparable across the whole batch.

        Args:
            vertices: ``(V, 3)`` or ``(N, V, 3)`` metres, y up, +z the body's front (array or tensor).
            faces: ``(F, 3)`` vertex indices.
            angles_deg: one or ``A`` view angles about +y, degrees.
            colors: see :func:`~vposer.render.geometry.vertex_colors` (default a light grey).
            background: ``'white'``, ``'black'``, an RGB triple, or ``'transparent'`` (RGBA out).
            floor: draw a floor disc (only its shadow on a transparent background).
            shadow: soft shadow of the body on the floor.
            yfov_deg, elevation_deg: camera field of view and height angle above the horizon.
            margin: free border, as a fraction of the half-image.
            center: ``'each'`` centres each body per view; ``'joint'`` shifts all bodies alike.
            progress: tqdm bar on stderr; None shows one for more than 8 images when stderr is a
                terminal.

        Returns:
            ``(N, A, H, W, C)`` uint8, ``C = 3`` or 4 for a transparent background.
        """
        v, f = as_mesh_batch(vertices, faces)
        angles = np.atleast_1d(np.asarray(angles_deg, dtype=np.float64))
        if angles.ndim != 1 or not np.isfinite(angles).all():
            raise RenderError(f"angles must be a finite number or 1-D sequence, got {angles_deg!r}")
        bg = parse_background(background)
        f = outward_faces(v, f)
        colors_v = vertex_colors(colors, v.shape[0], v.shape[1])
        models = placements(v, angles, center)  # (N, A, 4, 4)
        placed = transform(v[:, None].astype(np.float32), models.astype(np.float32))  # (N, A, V, 3)
        center, radius = floor_disc(placed)
        framed = placed.reshape(-1, 3)
        if floor:  # the visible floor (the disc fades out towards its rim) stays in the frame too
            t = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
            ring = FLOOR_FRAMED * radius * np.stack([np.sin(t), np.zeros_like(t), np.cos(t)], -1)
            framed = np.concatenate([framed, (ring + [center[0], 0.0, center[1]]).astype(np.float32)])
        camera = frame_camera(framed, self.width / self.height, yfov_deg, elevation_deg, margin)
        spheres = self._cell_spheres(placed)
        out = np.empty(models.shape[:2] + (self.height, self.width, 3 if bg is not None else 4), dtype=np.uint8)
        from tqdm.auto import tqdm

        total = out.shape[0] * out.shape[1]
        if progress is None:  # a bar for long jobs, on a terminal only (not in logs or pipes)
            progress = total > 8 and sys.stderr.isatty()
        bar = tqdm(total=total, desc="rendering", unit="img", disable=not progress, file=sys.stderr)
        with self.ctx, bar:
            self._upload_topology(f, v.shape[1])
            self._set_frame(camera, bg, floor, shadow, radius)
            self.floor_prog["u_center"].value = tuple(center)
            for n in range(v.shape[0]):
                self.vbo_pos.write(v[n].tobytes())
                self.vbo_normal.write(vertex_normals(v[n : n + 1], f)[0].tobytes())  # per body: O(V) memory
                self.vbo_color.write(colors_v[n].tobytes())
                for a in range(len(angles)):
                    out[n, a] = self._draw(models[n, a], spheres[n, a], bg, floor, shadow)
                    bar.update()
        return out

    def render_mesh(self, vertices, faces, angle_deg: float = 0.0, **options: Any) -> np.ndarray:
        """One body ``(V, 3)`` at one angle: ``(H, W, C)`` uint8 (options of :meth:`render_meshes`)."""
        return self.render_meshes(vertices, faces, [angle_deg], **options)[0, 0]

    @staticmethod
    def _cell_spheres(placed: np.ndarray) -> np.ndarray:
        """``(N, A, 4)`` bounding spheres (centre, radius) of each placed body, for the shadow map."""
        lo, hi = placed.min(axis=2), placed.max(axis=2)
        center = 0.5 * (lo + hi)
        radius = np.linalg.norm(placed - center[:, :, None], axis=-1).max(-1) * 1.02 + 1e-3
        return np.concatenate([center, radius[..., None]], -1).astype(np.float64)

    def _set_frame(self, camera: Camera, bg, floor: bool, shadow: bool, radius: float) -> None:
        view_proj = _gl(camera.projection() @ camera.view())
        self.body_prog["u_view_proj"].write(view_proj)
        self.body_prog["u_eye"].value = tuple(camera.eye)
        self.floor_prog["u_view_proj"].write(view_proj)
        self.floor_prog["u_radius"].value = radius
        self.floor_prog["u_floor_color"].value = floor_color(bg)
        self.floor_prog["u_shadow_strength"].value = 0.55
        self.floor_prog["u_use_shadow"].value = bool(shadow)
        self.floor_prog["u_shadow_only"].value = bg is None

    def _draw(self, model: np.ndarray, sphere: np.ndarray, bg, floor: bool, shadow: bool) -> np.ndarray:
        ctx, model_gl = self.ctx, _gl(model)
        if floor and shadow:
            light_vp = light_view_projection(sphere[:3], sphere[3])
            self.shadow_fbo.use()
            self.shadow_fbo.clear(depth=1.0)
            ctx.enable_only(ctx.DEPTH_TEST)
            self.depth_prog["u_model"].write(model_gl)
            self.depth_prog["u_light_vp"].write(_gl(light_vp))
            self.depth_vao.render()
            self.floor_prog["u_light_vp"].write(_gl(light_vp))
            # tap spacing: ~1 cm for a standing body (the light's view spans 2 radii)
            self.floor_prog["u_soft"].value = 0.0045 * 1.15 / max(sphere[3], 1e-3)
            self.floor_prog["u_bias"].value = SHADOW_BIAS_M / (3.0 * sphere[3])  # near..far = 3 r
        self.target.use()
        clear = (0.0, 0.0, 0.0, 0.0) if bg is None else (*bg, 1.0)
        self.target.clear(*clear, depth=1.0)
        ctx.enable_only(ctx.DEPTH_TEST)
        self.body_prog["u_model"].write(model_gl)
        self.body_vao.render()
        if floor:
            ctx.enable_only(ctx.DEPTH_TEST | ctx.BLEND)
            ctx.blend_func = ctx.ONE, ctx.ONE_MINUS_SRC_ALPHA
            self.shadow_map.use(location=0)
            self.floor_vao.render(mode=ctx.TRIANGLE_STRIP)
        if self.target is not self.resolved:
            ctx.copy_framebuffer(self.resolved, self.target)
        data = self.resolved.read(components=3 if bg is not None else 4, alignment=1)
        image = np.frombuffer(data, dtype=np.uint8).reshape(self.height, self.width, -1)[::-1]
        return image if bg is not None else _unpremultiply(image)


def _unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Straight alpha from premultiplied ``(H, W, 4)`` uint8."""
    out = rgba.copy()
    alpha = rgba[..., 3:4].astype(np.float32)
    rgb = np.where(alpha > 0, rgba[..., :3] * (255.0 / np.maximum(alpha, 1.0)), 0.0)
    out[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out


_RENDERERS: dict[tuple[int, int, int], Renderer] = {}


def get_renderer(width: int = 400, height: int | None = None, samples: int = 4) -> Renderer:
    """A cached :class:`Renderer` of this size in the shared context (created on first use)."""
    key = (int(width), int(width if height is None else height), int(samples))
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(*key)
    return _RENDERERS[key]

