"""Pictures of fits: targets drawn over the fitted bodies.

3D targets (joints, markers): each fitted body is rendered with :mod:`vposer.render` (shaded,
on a floor, from the front and the side by default); the targets are projected with the very
placement and camera the renderer used and drawn as red dots, the body's own counterparts as
small blue dots, each pair joined by a line (the residual). Joints lie inside the mesh, so all
points are drawn on top, without occlusion.

2D keypoints: drawn as the target camera sees them: the fitted mesh flat-shaded in the camera's
own projection (cropped around the body and the keypoints), target keypoints in red, the fitted
body's projected joints in blue.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._types import PathLike

__all__ = ["render_overlay", "render_overlay_2d", "TARGET_COLOR", "FIT_COLOR"]

TARGET_COLOR = (220, 40, 40)
FIT_COLOR = (30, 90, 220)
LINE_COLOR = (250, 160, 40)


def _draw_points(image: np.ndarray, targets: np.ndarray, fitted: np.ndarray | None,
                 present: np.ndarray, radius: float) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    r_t, r_f = radius, max(1.5, 0.6 * radius)
    for k in np.nonzero(present)[0]:
        tx, ty = targets[k]
        if fitted is not None:
            fx, fy = fitted[k]
            draw.line([(tx, ty), (fx, fy)], fill=LINE_COLOR, width=max(1, int(radius / 2)))
    for k in np.nonzero(present)[0]:
        tx, ty = targets[k]
        draw.ellipse([tx - r_t, ty - r_t, tx + r_t, ty + r_t], fill=TARGET_COLOR,
                     outline=(255, 255, 255))
        if fitted is not None:
            fx, fy = fitted[k]
            draw.ellipse([fx - r_f, fy - r_f, fx + r_f, fy + r_f], fill=FIT_COLOR)
    return np.asarray(img)


def render_overlay(vertices, faces, targets, fitted=None, present=None,
                   angles: Sequence[float] = (0.0, 90.0), size: int = 400,
                   path: PathLike | None = None) -> np.ndarray:
    """Fitted bodies with their 3D targets: rows = cases, columns = view angles.

    Args:
        vertices: ``(N, V, 3)`` fitted meshes (metres, world frame); faces: ``(F, 3)``.
        targets: ``(N, K, 3)`` target points; fitted: ``(N, K, 3)`` the body's counterparts.
        present: ``(N, K)`` booleans (missing targets are not drawn).
        angles: view angles about the vertical axis, degrees.
        size: cell side, pixels.
        path: also save the picture there (PNG).

    Returns:
        ``(N * size, len(angles) * size, 3)`` uint8.
    """
    from ..render.geometry import as_mesh_batch, frame_camera, placements, transform
    from ..render.grid import tile
    from ..render.io import save_image
    from ..render.renderer import get_renderer

    v, f = as_mesh_batch(vertices, faces)
    tgt = np.asarray(targets, dtype=np.float64).reshape(v.shape[0], -1, 3)
    fit = None if fitted is None else np.asarray(fitted, dtype=np.float64).reshape(tgt.shape)
    present = np.ones(tgt.shape[:2], bool) if present is None else np.asarray(present, bool)
    renderer = get_renderer(size)
    angles = [float(a) for a in angles]
    cells = np.empty((v.shape[0], len(angles), size, size, 3), np.uint8)
    for i in range(v.shape[0]):
        image = renderer.render_meshes(v[i:i + 1], f, angles, progress=False)[0]
        # the renderer's own placement and camera (defaults of render_meshes), for the points
        models = placements(v[i:i + 1], angles)[0]  # (A, 4, 4)
        placed = transform(v[i][None].astype(np.float32), models.astype(np.float32))
        camera = frame_camera(placed, 1.0)
        for a in range(len(angles)):
            t2 = camera.project(transform(tgt[i], models[a]), size, size)
            f2 = None if fit is None else camera.project(transform(fit[i], models[a]), size, size)
            cells[i, a] = _draw_points(image[a], t2, f2, present[i], radius=size / 110)
    picture = tile(cells)
    if path is not None:
        save_image(picture, path)
    return picture


def _shaded_mesh(image, pixels: np.ndarray, cam_points: np.ndarray, faces: np.ndarray) -> None:
    """Draw a mesh into a PIL image, back to front, flat-shaded by the facing of each triangle."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    tri = cam_points[faces]  # (F, 3, 3) camera frame
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-12
    centre = tri.mean(1)
    facing = np.abs((normal * centre).sum(-1)) / (np.linalg.norm(centre, axis=-1) + 1e-12)
    shade = (120 + 120 * facing).astype(int)
    for f in np.argsort(-centre[:, 2]):  # far first
        if centre[f, 2] <= 0:
            continue
        g = int(shade[f])
        draw.polygon([tuple(p) for p in pixels[faces[f]]], fill=(g, g, min(255, g + 8)))


def render_overlay_2d(vertices, faces, joints, keypoints, camera, present=None,
                      size: int = 400, path: PathLike | None = None) -> np.ndarray:
    """Fitted bodies over their 2D keypoints, seen by the target camera, one cell per case.

    Each cell is the part of the camera image around the keypoints and the body, scaled to
    ``size`` pixels high: the fitted mesh (flat-shaded, drawn in the camera's own projection),
    target keypoints in red, the fitted body's projected joints in blue.

    Args:
        vertices: ``(N, V, 3)`` fitted meshes; faces: ``(F, 3)``.
        joints: ``(N, K, 3)`` the fitted body's joints matching the keypoints.
        keypoints: ``(N, K, 2)`` target pixels; camera: the :class:`~vposer.fit.PinholeCamera`.
        present: ``(N, K)`` booleans; size: cell height, pixels.
        path: also save the picture there (PNG).

    Returns:
        ``(size, sum of cell widths, 3)`` uint8.
    """
    import torch
    from PIL import Image

    from ..render.io import save_image

    verts = torch.as_tensor(np.asarray(vertices, dtype=np.float32))
    n = verts.shape[0]
    faces = np.asarray(faces, dtype=np.int64)
    cam = camera.to(dtype=torch.float32)
    with torch.no_grad():
        in_cam = cam.to_camera(verts)
        pv = cam.project_camera(in_cam).numpy()
        pj = cam.project(torch.as_tensor(np.asarray(joints, dtype=np.float32))).numpy()
    in_cam = in_cam.numpy()
    kp = np.asarray(keypoints, dtype=np.float64).reshape(n, -1, 2)
    present = np.ones(kp.shape[:2], bool) if present is None else np.asarray(present, bool)
    cells = []
    for i in range(n):
        pts = np.concatenate([pv[i], kp[i][present[i]]])
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.08 * (hi - lo).max() + 1.0
        lo, hi = lo - pad, hi + pad
        scale = size / (hi[1] - lo[1])
        width = max(8, int(round((hi[0] - lo[0]) * scale)))
        img = Image.new("RGB", (width, size), (255, 255, 255))
        _shaded_mesh(img, (pv[i] - lo) * scale, in_cam[i], faces)
        cells.append(_draw_points(np.asarray(img), (kp[i] - lo) * scale, (pj[i] - lo) * scale,
                                  present[i], radius=size / 110))
    picture = np.concatenate(cells, axis=1)
    if path is not None:
        save_image(picture, path)
    return picture
