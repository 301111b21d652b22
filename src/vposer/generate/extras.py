"""What a sample may carry besides its pose: body vertices and joints, rendered images, meshes.

Computed chunk by chunk (``settings.body_chunk`` bodies at a time) so writers can stream them.
Images are rendered one body per call, so each picture is framed for its own body alone and
does not depend on how samples are batched.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

import numpy as np
import torch

from .sampling import PoseBatch
from .settings import GenerateSettings, shard_generator
if TYPE_CHECKING:
    from ..body import BodyModel


#: elevation range of ``--random-camera``, degrees.
RANDOM_ELEVATION = (0.0, 30.0)
PNG_LEVEL = 6


@dataclass
class Chunk:
    """Heavy outputs of samples ``start .. start + len``; absent ones are None.

    Attributes:
        vertices: ``(c, V, 3)`` in the geometry dtype.
        joints: ``(c, J, 3)`` in the geometry dtype.
        images: ``(c, A, H, W, 3)`` uint8, A views.
        meshes: ``c`` binary little-endian PLY files (float32 vertices, int32 faces).
    """

    start: int
    vertices: np.ndarray | None = None
    joints: np.ndarray | None = None
    images: np.ndarray | None = None
    meshes: list[bytes] | None = None


def body_digest(body: BodyModel) -> dict[str, Any]:
    """Identify a body model by the SHA-256 of its buffers (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(body.named_buffers()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.float().numpy().tobytes() if t.is_floating_point() else t.numpy().tobytes())
    return {"sha256": h.hexdigest(), "type": getattr(body, "model_type", "body"),
            "vertices": int(body.num_vertices), "joints": int(body.num_joints)}


def cameras(settings: GenerateSettings, shard: int, count: int) -> dict[str, np.ndarray] | None:
    """Per-sample ``camera_azimuth`` and ``camera_elevation`` ``(count,)`` float32 degrees for
    ``--random-camera`` (azimuth uniform in [0, 360), elevation in :data:`RANDOM_ELEVATION`)."""
    if not (settings.needs_render and settings.random_camera):
        return None
    gen = shard_generator(settings.seed, shard, "camera")
    u = torch.rand(count, 2, generator=gen, dtype=torch.float64).numpy()
    lo, hi = RANDOM_ELEVATION
    return {"camera_azimuth": (360.0 * u[:, 0]).astype(np.float32),
            "camera_elevation": (lo + (hi - lo) * u[:, 1]).astype(np.float32)}


def ply_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """A binary little-endian PLY of one mesh: ``vertices`` ``(V, 3)``, ``faces`` ``(F, 3)``."""
    v = np.ascontiguousarray(vertices, dtype="<f4")
    f = np.empty(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    f["n"], f["i"] = 3, faces
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    return header + v.tobytes() + f.tobytes()


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of an ``(H, W, 3|4)`` uint8 image, no metadata (same pixels, same bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def iter_chunks(settings: GenerateSettings, shard: int, batch: PoseBatch, body: BodyModel,
                renderer: Any = None) -> Iterator[Chunk]:
    """Pose the body for every sample and yield :class:`Chunk` s in order.

    Args:
        body: a ``vposer.BodyModel`` (on the device to compute on).
        renderer: a :class:`vposer.render.Renderer` when images are asked for.
    """
    outputs = set(settings.outputs)
    n = batch.pose_body.shape[0]
    dtype = np.dtype(settings.geometry_dtype)
    faces = body.faces.cpu().numpy().astype(np.int32)
    cams = cameras(settings, shard, n)
    device = body.device
    for start in range(0, n, settings.body_chunk):
        stop = min(start + settings.body_chunk, n)
        kwargs = {"pose_body": torch.from_numpy(batch.pose_body[start:stop]).to(device)}
        if batch.root_orient is not None:
            kwargs["root_orient"] = torch.from_numpy(batch.root_orient[start:stop]).to(device)
        with torch.no_grad():
            out = body(**kwargs)
        verts = out.vertices.float().cpu().numpy()
        chunk = Chunk(start)
        if "vertices" in outputs:
            chunk.vertices = verts.astype(dtype)
        if "joints" in outputs:
            chunk.joints = out.joints.float().cpu().numpy().astype(dtype)
        if "meshes" in outputs:
            chunk.meshes = [ply_bytes(v, faces) for v in verts]
        if "images" in outputs:
            chunk.images = render_chunk(renderer, verts, faces, settings, cams, start)
        yield chunk


def render_chunk(renderer: Any, verts: np.ndarray, faces: np.ndarray, settings: GenerateSettings,
                 cams: dict[str, np.ndarray] | None, start: int) -> np.ndarray:
    """``(c, A, H, W, 3)`` uint8: each body alone, at the settings' angles or its random camera."""
    c, size = len(verts), settings.image_size
    images = np.empty((c, settings.num_views, size, size, 3), dtype=np.uint8)
    for i in range(c):
        if cams is not None:
            angles = [float(cams["camera_azimuth"][start + i])]
            elevation = float(cams["camera_elevation"][start + i])
        else:
            angles, elevation = list(settings.angles), 10.0
        images[i] = renderer.render_meshes(verts[i : i + 1], faces, angles, elevation_deg=elevation,
                                           progress=False)[0]
    return images


def total_views(settings: GenerateSettings, n: int) -> int:
    """Images a shard of ``n`` samples holds."""
    return n * settings.num_views if settings.needs_render else 0
