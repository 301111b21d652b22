"""``human_body_prior.tools.viz_tools`` (2018): ``smpl_params2ply`` and ``imagearray2file`` of
:mod:`~human_body_prior.tools.visualization_tools` (a 5-D ``R x T x H x W x 3`` array is read as one
column); ``vis_smpl_params`` rendered through a trimesh window and is not provided."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._refused import DISPLAY, refused
from .visualization_tools import imagearray2file as _imagearray2file
from .visualization_tools import smpl_params2ply

__all__ = ["imagearray2file", "smpl_params2ply", "vis_smpl_params"]

vis_smpl_params = refused("human_body_prior.tools.viz_tools.vis_smpl_params", DISPLAY + " (render_grid)")


def imagearray2file(img_array: Any, outpath: str | None = None, fps: int = 30) -> list:
    """As :func:`~human_body_prior.tools.visualization_tools.imagearray2file`."""
    images = np.asarray(img_array)
    if images.ndim < 6:
        images = images[:, np.newaxis]
    return _imagearray2file(images, outpath, fps)
