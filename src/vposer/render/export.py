"""Mesh export of posed bodies (``.obj``, ``.glb``, ``.ply``, ...) for rendering elsewhere."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import expand_path
from .geometry import ColorSpec, as_mesh_batch, vertex_colors
from .io import MESH_SUFFIXES, PathLike, atomic_path

#: formats that hold several named meshes in one file; others get one file per body.
SCENE_FORMATS = ("obj", "glb")
FORMATS = tuple(suffix.lstrip(".") for suffix in MESH_SUFFIXES)


def export_meshes(
    vertices,
    faces,
    path: PathLike,
    colors: ColorSpec = None,
    spacing: float = 0.0,
    names: list[str] | None = None,
) -> list[Path]:
    """Write bodies sharing one topology as mesh files.

    One body goes to ``path``. Several go to one file as named objects for ``.obj``/``.glb``
    (``body_000``, ...), and to one file each (``stem_000.ply``, ...) for single-mesh formats.

    Args:
        vertices: ``(V, 3)`` or ``(N, V, 3)`` metres.
        faces: ``(F, 3)``.
        path: destination; the suffix picks the format (obj, glb, ply, stl, off).
        colors: vertex colours (see :func:`vposer.render.geometry.vertex_colors`); None: none.
        spacing: shift body ``i`` by ``i * spacing`` metres along x (0 keeps them in place).
        names: object names (default ``body_000``, ...).

    Returns:
        The paths written.
    """
    import trimesh

    path = expand_path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"unknown mesh format {path.suffix!r}: use one of {', '.join(FORMATS)}", path)
    v, f = as_mesh_batch(vertices, faces)
    v = v + np.arange(v.shape[0], dtype=np.float32)[:, None, None] * np.array([spacing, 0.0, 0.0], np.float32)
    rgb = None if colors is None else np.rint(vertex_colors(colors, v.shape[0], v.shape[1]) * 255).astype(np.uint8)
    names = names or [f"body_{i:03d}" for i in range(v.shape[0])]
    if len(names) != v.shape[0]:
        raise InputError(f"{len(names)} names for {v.shape[0]} bodies")
    meshes = [
        trimesh.Trimesh(v[i], f, vertex_colors=None if rgb is None else rgb[i], process=False)
        for i in range(v.shape[0])
    ]
    if len(meshes) == 1:
        return [_write(meshes[0], path, fmt)]
    if fmt in SCENE_FORMATS:
        scene = trimesh.Scene()
        for name, mesh in zip(names, meshes, strict=True):
            scene.add_geometry(mesh, geom_name=name, node_name=name)
        return [_write(scene, path, fmt)]
    return [_write(m, path.with_name(f"{path.stem}_{i:03d}{path.suffix}"), fmt) for i, m in enumerate(meshes)]


def _write(obj, path: Path, fmt: str) -> Path:
    data = obj.export(file_type=fmt)
    if isinstance(data, str):
        data = data.encode()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
