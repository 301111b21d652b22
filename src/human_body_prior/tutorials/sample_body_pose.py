"""``human_body_prior.tutorials.sample_body_pose``: the tutorial's ``sample_vposer``."""
from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import numpy as np

import torch

from vposer.body import BodyModel as NativeBodyModel
from vposer.pipelines import body_vertices
from vposer.posefiles import atomic_savez
from vposer.render import render_grid, save_image

from ..tools.model_loader import load_vposer

__all__ = ["sample_vposer"]

VIEW_ANGLES = (0, 90, -90)


def sample_vposer(expr_dir: str, bm: Any, num_samples: int = 5, vp_model: Any = "snapshot",
                  seed: int | None = None, cell_size: int = 400) -> np.ndarray:
    """Sample ``num_samples`` poses, render them on ``bm`` at 0, 90 and -90 degrees about the vertical
    axis (rows = angles, columns = samples; 2000 x 1200 for 5 samples) and write the picture to
    ``expr_dir/evaluations/pose_generation/<id>.png`` with the poses in ``<id>.npz`` (key
    ``pose``, ``(num_samples, 1, 21, 3)`` as the original wrote it; also ``pose_body``,
    ``(num_samples, 63)``).

    ``bm`` is any body model: the compat ``BodyModel``, a ``vposer.BodyModel``.
    Returns the sampled poses, a ``(num_samples, 1, 21, 3)`` float32 numpy array of axis-angle.
    """
    vposer_pt, _ = load_vposer(expr_dir, vp_model=vp_model)
    poses = vposer_pt.sample_poses(num_poses=num_samples, seed=seed)
    pose = poses.reshape(num_samples, 1, 21, 3).cpu().numpy().astype(np.float32)
    pose_body = pose.reshape(num_samples, 63)
    vertices, faces = _vertices(bm, pose_body)
    image = render_grid(vertices, faces, angles=VIEW_ANGLES, cell_size=cell_size)
    out_dir = Path(expr_dir) / "evaluations" / "pose_generation"
    name = uuid.uuid4().hex[:8]
    save_image(image, out_dir / f"{name}.png")
    atomic_savez(out_dir / f"{name}.npz", {"pose": pose, "pose_body": pose_body})
    print(f"sample_vposer: wrote {out_dir / (name + '.png')}")
    return pose


def _vertices(bm: Any, pose_body: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(N, V, 3)`` float32 vertices and ``(F, 3)`` int32 faces of ``bm`` in the poses: a
    :class:`vposer.BodyModel` through :func:`vposer.pipelines.body_vertices`, the original's
    ``BodyModel`` (its parameters for the other fields) through its ``.v`` and ``.f``."""
    if isinstance(bm, NativeBodyModel):
        return body_vertices(bm, pose_body, batch_size)
    poses = torch.as_tensor(pose_body, dtype=torch.float32).reshape(len(pose_body), -1)
    device = next(itertools.chain(bm.parameters(), bm.buffers()), torch.empty(0)).device
    chunks = []
    with torch.no_grad():
        for start in range(0, poses.shape[0], batch_size):
            out = bm(pose_body=poses[start:start + batch_size].to(device))
            chunks.append(out.v.detach().cpu().numpy().astype(np.float32))
    return np.concatenate(chunks), np.asarray(bm.f.detach().cpu().numpy(), dtype=np.int32)
