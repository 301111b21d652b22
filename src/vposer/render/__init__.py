"""Headless rendering of bodies: pose grids, animations, mesh export.

A real OpenGL rasteriser through moderngl, headless with EGL (Mesa's llvmpipe on a CPU, the
NVIDIA driver on a GPU); shaded with smooth normals, lit by key/fill/rim lights, 4x MSAA,
perspective camera framed automatically around all the bodies of a picture, each body standing
on a floor with a soft shadow::

    from vposer.render import render_grid, save_image, render_animation, save_gif
    image = render_grid(vertices, faces, angles=(0, 90, -90), cell_size=400)  # (1200, 2000, 3)
    save_image(image, "grid.png")
    frames = render_animation(vertices_t, faces)                              # (T, 400, 400, 3)
    save_gif(frames, "anim.gif", duration_ms=100)

With a model and a body: :func:`pose_grid`, :func:`interpolation_animation` (they live in
:mod:`vposer.pipelines`, a layer above this package, and resolve from here on first use).
Importing this package does not touch OpenGL; the shared context is created on the first render.
"""
from .._lazy import lazy_exports
from .animation import frame_strip, render_animation
from .context import RenderError, create_context, describe, gl_available, shared_context
from .export import export_meshes
from .geometry import DEFAULT_COLOR, PALETTE, Camera, frame_camera, part_colors, vertex_normals
from .grid import DEFAULT_ANGLES, render_grid, tile
from .io import atomic_path, check_outputs, save_gif, save_image, save_mp4, save_poses
from .renderer import Renderer, get_renderer
from .toy import toy_bodies

__all__ = [
    "DEFAULT_ANGLES",
    "DEFAULT_COLOR",
    "PALETTE",
    "Camera",
    "RenderError",
    "Renderer",
    "atomic_path",
    "body_vertices",
    "check_outputs",
    "create_context",
    "describe",
    "export_meshes",
    "frame_camera",
    "frame_strip",
    "get_renderer",
    "gl_available",
    "interpolation_animation",
    "interpolation_poses",
    "load_pose",
    "part_colors",
    "pose_grid",
    "render_animation",
    "render_grid",
    "save_gif",
    "save_image",
    "save_mp4",
    "save_poses",
    "shared_context",
    "tile",
    "toy_bodies",
    "vertex_normals",
]

#: Names kept here for old imports; defined by the model-driven pipelines above this package.
_PIPELINES = {name: "vposer.pipelines" for name in (
    "body_vertices", "interpolation_animation", "interpolation_poses", "load_pose", "pose_grid")}
__getattr__, _dir = lazy_exports(__name__, _PIPELINES, globals())
