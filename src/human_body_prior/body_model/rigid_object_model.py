"""``human_body_prior.body_model.rigid_object_model``: a rigid mesh with a root orientation and
a translation (the v2 line's object model)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from vposer.errors import BodyModelError
from vposer.rotations import axis_angle_to_matrix

__all__ = ["RigidObjectModel"]


def _read_mesh(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of a ``.ply`` / ``.obj`` file, in the file's vertex order."""
    try:
        import trimesh
    except ImportError:
        raise BodyModelError("reading meshes needs trimesh (pip install 'vposer[render]')",
                             path) from None
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise BodyModelError(f"not a readable mesh file ({exc})", path) from None
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


class RigidObjectModel(nn.Module):
    """``RigidObjectModel(plpath, batch_size=1, dtype=torch.float32)``; ``forward(root_orient,
    trans)`` returns an object with ``v`` (B, V, 3) and ``f`` (F, 3). As in the original, the
    vertices are multiplied on the right by the root's rotation matrix (``v R``)."""

    def __init__(self, plpath: str, batch_size: int = 1, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.register_parameter("trans", nn.Parameter(torch.zeros(batch_size, 3, dtype=dtype)))
        self.register_parameter("root_orient",
                                nn.Parameter(torch.zeros(batch_size, 3, dtype=dtype)))
        v, f = _read_mesh(plpath)
        self.rigid_v = torch.from_numpy(np.repeat(v[np.newaxis], batch_size, axis=0)).to(dtype)
        self.f = torch.from_numpy(f.astype(np.int32))

    def forward(self, root_orient: Any | None = None, trans: Any | None = None) -> Any:
        root = self.root_orient if root_orient is None else torch.as_tensor(root_orient)
        shift = self.trans if trans is None else torch.as_tensor(trans)
        verts = torch.bmm(self.rigid_v.to(root), axis_angle_to_matrix(root.reshape(-1, 3)))
        verts = verts + shift.reshape(-1, 1, 3)

        class result_meta:  # noqa: N801 (the original's plain result object)
            pass

        res = result_meta()
        res.v, res.f = verts, self.f
        return res
