"""``human_body_prior.tools.visualization_tools``: the cvpr19 line's mesh and image writers.

``smpl_params2ply`` writes one ``.ply`` per pose (:func:`vposer.render.export_meshes`);
``imagearray2file`` tiles an ``R x C x T x H x W x 3`` array into ``T`` pictures and writes them
as ``.png`` (one per frame), ``.gif`` or ``.mp4`` (:mod:`vposer.render`); ``render_smpl_params``
(a pyrender viewer) is not provided: :func:`vposer.render.render_grid` draws bodies.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from vposer.errors import InputError

from .._refused import DISPLAY, refused
from .omni_tools import makepath

__all__ = ["imagearray2file", "render_smpl_params", "smpl_params2ply"]

render_smpl_params = refused("human_body_prior.tools.visualization_tools.render_smpl_params",
                             DISPLAY + " (render_grid)")


def _posed(bm: Any, idx: int, pose_body: Any, pose_hand: Any, trans: Any, betas: Any,
           root_orient: Any) -> np.ndarray:
    def row(x: Any) -> torch.Tensor | None:
        return None if x is None else torch.as_tensor(np.asarray(x[idx], dtype=np.float32)).reshape(1, -1)

    with torch.no_grad():
        out = bm(pose_body=row(pose_body), pose_hand=row(pose_hand), trans=row(trans),
                 betas=row(betas), root_orient=row(root_orient))
    return out.v[0].detach().cpu().numpy()


def smpl_params2ply(bm: Any, out_dir: str, pose_body: Any, pose_hand: Any = None, trans: Any = None,
                    betas: Any = None, root_orient: Any = None) -> None:
    """Write ``out_dir/000.ply``, ``001.ply``, ... one posed body per row of ``pose_body``."""
    from vposer.render import export_meshes

    makepath(out_dir)
    faces = bm.f.detach().cpu().numpy() if torch.is_tensor(bm.f) else np.asarray(bm.f)
    for i in range(len(pose_body)):
        verts = _posed(bm, i, pose_body, pose_hand, trans, betas, root_orient)
        export_meshes(verts[np.newaxis], faces, os.path.join(out_dir, "%03d.ply" % i))


def imagearray2file(img_array: np.ndarray, outpath: str | None = None, fps: int = 30) -> list:
    """Tile ``(R, C, T, H, W, 3)`` images into ``T`` pictures of ``R x C`` cells; write them to
    ``outpath`` (``.png``: one file per frame, ``_000`` suffixed when ``T > 1``; ``.gif``;
    ``.mp4``) when given. Returns the ``T`` pictures."""
    if not isinstance(img_array, np.ndarray) or img_array.ndim < 6:
        raise InputError("img_array should be a numpy array of shape R x C x T x height x width x 3")
    r, c, t = img_array.shape[:3]
    frames = [np.vstack([np.hstack([img_array[i, j, k] for j in range(c)]) for i in range(r)])
              for k in range(t)]
    if outpath is None:
        return frames
    from vposer.render import save_gif, save_image, save_mp4

    makepath(outpath, isfile=True)
    stacked = np.stack(frames).astype(np.uint8)
    suffix = os.path.splitext(outpath)[1].lower()
    if suffix == ".png":
        for k, frame in enumerate(stacked):
            save_image(frame, outpath.replace(".png", "_%03d.png" % k) if t > 1 else outpath)
    elif suffix == ".gif":
        save_gif(stacked, outpath, duration_ms=int(round(1000 / fps)))
    elif suffix == ".mp4":
        save_mp4(stacked, outpath, fps=fps)
    else:
        raise InputError(f"imagearray2file writes .png, .gif or .mp4, not {suffix or 'no suffix'}",
                         outpath)
    return frames
