"""From a VPoser model and a body model to pictures: the tutorial's pose grid and latent
interpolation animations. The CLI and the ``human_body_prior`` compat layer call these.

This module sits above :mod:`vposer.render` (which draws meshes and knows no model) and
:mod:`vposer.model` / :mod:`vposer.body`; ``vposer.render`` still exports these names (resolved
lazily from here), so ``from vposer.render import pose_grid`` keeps working.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._types import PathLike
from .constants import POSE_DIM
from .errors import InputError
from .model import interpolate
from .posefiles import load_poses
from .render.animation import render_animation
from .render.grid import DEFAULT_ANGLES, render_grid

if TYPE_CHECKING:
    from .body import BodyModel
    from .model import VPoser

__all__ = ["body_vertices", "interpolation_animation", "interpolation_poses", "load_pose",
           "pose_grid"]


def body_vertices(body: BodyModel, pose_body: Any, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Pose a body model (zero shape, root orientation and translation).

    Args:
        body: a :class:`vposer.BodyModel` (anything called with ``pose_body=`` that returns
            ``.vertices`` and ``.faces``).
        pose_body: ``(N, 63)`` or ``(N, 21, 3)`` axis-angle (array or tensor).
        batch_size: poses per forward pass.

    Returns:
        ``(N, V, 3)`` float32 vertices and ``(F, 3)`` int32 faces.
    """
    poses = torch.as_tensor(np.asarray(_numpy(pose_body), dtype=np.float32)).reshape(-1, POSE_DIM)
    device = _device(body)
    chunks, faces = [], None
    with torch.no_grad():
        for start in range(0, poses.shape[0], batch_size):
            out = body(pose_body=poses[start : start + batch_size].to(device))
            chunks.append(np.asarray(_numpy(out.vertices), dtype=np.float32))
            faces = out.faces
    if faces is None:
        raise InputError("no poses to pose the body with")
    return np.concatenate(chunks), np.asarray(_numpy(faces), dtype=np.int32)


def _numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _device(module: Any) -> torch.device | str:
    for getter in ("parameters", "buffers"):
        for tensor in getattr(module, getter, lambda: iter(()))():
            device: torch.device = tensor.device
            return device
    return "cpu"


def pose_grid(
    model: VPoser,
    body: BodyModel,
    n: int = 5,
    seed: int | None = None,
    angles: Sequence[float] = DEFAULT_ANGLES,
    size: int = 400,
    temperature: float = 1.0,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` poses and render them as the tutorial's grid (rows = angles, columns = samples).

    Returns:
        The image ``(len(angles) * size, n * size, 3)`` uint8 and the poses ``(n, 63)`` float32.
    """
    if n < 1:
        raise InputError(f"the number of samples must be >= 1, got {n}")
    decoded = model.sample(n, seed=seed, temperature=temperature)
    poses = _numpy(decoded.axis_angle).reshape(n, POSE_DIM).astype(np.float32)
    vertices, faces = body_vertices(body, poses)
    return render_grid(vertices, faces, angles, size, **options), poses


def load_pose(path: PathLike, index: int = 0) -> np.ndarray:
    """One body pose ``(63,)``: row ``index`` of :func:`vposer.posefiles.load_poses` (an ``.npz``
    with ``pose_body``, ``pose`` or AMASS ``poses``, or an ``.npy``; full poses lose their root)."""
    poses = load_poses(path)
    if not -poses.shape[0] <= index < poses.shape[0]:
        raise InputError(f"pose index {index} out of range for {poses.shape[0]} poses", path)
    pose: np.ndarray = poses[index]
    return pose


def interpolation_poses(
    model: VPoser,
    seeds: Sequence[int] | None = None,
    poses: Any = None,
    steps: int = 60,
    method: str = "lerp",
    there_and_back: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode the poses on the way between two latent codes.

    The codes come from two ``seeds`` (codes of ``model.sample_latent(1, seed)``, i.e. the codes
    behind ``model.sample(1, seed=s)``) or from two body ``poses`` ``(2, 63)`` (encoder means).

    Returns:
        Poses ``(T, 63)`` float32 and codes ``(T, D)`` float32, ``T = steps``
        (``2 * steps - 2`` with ``there_and_back``).
    """
    if (seeds is None) == (poses is None):
        raise InputError("give either two seeds or two poses")
    with torch.no_grad():
        if seeds is not None:
            if len(seeds) != 2:
                raise InputError(f"give two seeds, got {len(seeds)}")
            z = torch.cat([model.sample_latent(1, seed=int(s)) for s in seeds])
        else:
            p = torch.as_tensor(np.asarray(_numpy(poses), dtype=np.float32)).reshape(-1, POSE_DIM)
            if p.shape[0] != 2:
                raise InputError(f"give two poses, got {p.shape[0]}")
            z = model.encode(p.to(_device(model))).mean
        codes = interpolate(z[0], z[1], steps, method=method, there_and_back=there_and_back)
        decoded = model.decode(codes)
    pose = _numpy(decoded.axis_angle).reshape(codes.shape[0], POSE_DIM).astype(np.float32)
    return pose, _numpy(codes).astype(np.float32)


def interpolation_animation(
    model: VPoser,
    body: BodyModel,
    seeds: Sequence[int] | None = None,
    poses: Any = None,
    steps: int = 60,
    method: str = "lerp",
    there_and_back: bool = False,
    angle_deg: float = 0.0,
    size: int = 400,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of a latent interpolation (see :func:`interpolation_poses`), one camera for all.

    Returns:
        Frames ``(T, size, size, 3)`` uint8, poses ``(T, 63)`` and codes ``(T, D)``.
    """
    pose, codes = interpolation_poses(model, seeds, poses, steps, method, there_and_back)
    vertices, faces = body_vertices(body, pose)
    return render_animation(vertices, faces, angle_deg, size, **options), pose, codes
