"""Atomic file output: images, GIF and MP4 animations (pose files: :mod:`vposer.posefiles`).

Every writer creates a temporary file in the destination folder and renames it over the target
(``os.replace``), so a reader never sees a half-written file and a failure leaves no debris.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..fileio import OUTPUT_FORMATS, atomic_path, check_outputs, expand_path  # noqa: F401  (check_outputs: re-export)
from ..posefiles import save_poses  # noqa: F401  (re-export: the pose-file writer lives there)
from .context import RenderError
from .._types import PathLike



def as_frames(frames) -> np.ndarray:
    """``(T, H, W, 3|4)`` uint8 from a sequence or array of images (one ``(H, W, C)`` image ok)."""
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4) or arr.shape[0] == 0 or arr.dtype != np.uint8:
        raise InputError(f"frames must be uint8 of shape (T, H, W, 3|4), got {arr.shape} {arr.dtype}")
    return arr


def flatten_alpha(frames: np.ndarray, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """RGB frames: RGBA composited over ``background`` (RGB passes through)."""
    if frames.shape[-1] == 3:
        return frames
    alpha = frames[..., 3:4].astype(np.float32) / 255.0
    rgb = frames[..., :3] * alpha + np.asarray(background, dtype=np.float32) * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def save_image(image: np.ndarray, path: PathLike) -> Path:
    """Save an ``(H, W, 3|4)`` uint8 image; the format follows the suffix (PNG recommended)."""
    image = as_frames(image)[0]
    fmt = _pil_format(path)
    Image = _pil_image()
    if image.shape[-1] == 4 and fmt in ("JPEG", "BMP", "PPM"):  # no alpha channel: onto white
        image = flatten_alpha(image[None])[0]
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt)
    return expand_path(path)


#: Mesh formats :func:`~vposer.render.export_meshes` writes, by suffix.
MESH_SUFFIXES = OUTPUT_FORMATS["mesh"]


def _pil_image():
    """Pillow's ``Image`` module, or a :class:`RenderError` saying how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise RenderError(f"images need Pillow ({exc}): pip install 'vposer[render]'") from None
    return Image


def _pil_format(path: PathLike) -> str:
    Image = _pil_image()
    suffix = Path(path).suffix.lower()
    Image.init()
    if suffix not in Image.EXTENSION:
        raise InputError(f"unknown image format {suffix!r}: use {', '.join(OUTPUT_FORMATS['image'])}",
                         path)
    return Image.EXTENSION[suffix]


def save_gif(frames, path: PathLike, duration_ms: int = 100, loop: int = 0) -> Path:
    """Save an animated GIF.

    Args:
        frames: ``(T, H, W, 3|4)`` uint8; transparency is flattened onto white.
        duration_ms: display time of each frame (GIF stores hundredths of a second).
        loop: 0 loops forever, k plays k + 1 times.

    Consecutive identical frames are merged by Pillow with their durations added, so the total
    time is kept but the stored frame count can be lower.
    """
    frames = flatten_alpha(as_frames(frames))
    if duration_ms < 10:
        raise InputError(f"GIF frame duration must be at least 10 ms, got {duration_ms}")
    Image = _pil_image()
    images = [Image.fromarray(f) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(duration_ms),
            loop=int(loop), disposal=1, optimize=False,
        )
    return expand_path(path)


def save_mp4(frames, path: PathLike, fps: float = 10.0, quality: float = 8.0) -> Path:
    """Save an H.264 MP4 (yuv420p, plays everywhere) with imageio-ffmpeg's bundled ffmpeg.

    Args:
        frames: ``(T, H, W, 3|4)`` uint8; transparency is flattened onto white, odd sizes are
            padded by one white row/column (H.264 in yuv420p needs even sizes).
        fps: frames per second.
        quality: 0 (worst) to 10 (best), imageio-ffmpeg's scale.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"the frame rate must be a positive number, got {fps}", path)
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary)
    except ImportError as exc:
        raise RenderError(f"MP4 output needs imageio and imageio-ffmpeg ({exc}): pip install 'vposer[render]'") from exc
    frames = flatten_alpha(as_frames(frames))
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=255)
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(
            tmp, format="FFMPEG", mode="I", fps=float(fps), codec="libx264", quality=quality,
            pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
        )
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()
        if os.path.getsize(tmp) == 0:
            raise RenderError(f"ffmpeg wrote nothing to {path}")
    return expand_path(path)
