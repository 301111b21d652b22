"""Body models: SMPL, SMPL+H, SMPL-X and MANO from the user's files, and the open default body.

::

    from vposer.body import load_body
    body = load_body("SMPLX_NEUTRAL.npz")          # or .pkl; None / 'open' = the shipped body
    out = body(pose_body=poses, betas=betas)       # poses (N, 63) or (N, 21, 3)
    out.vertices, out.joints, out.faces            # (N, V, 3), (N, J, 3), (F, 3)

Files are read without chumpy and without unpickling anything outside an allow-list; the forward
pass is batched linear blend skinning, differentiable, for any float dtype and device.
"""
from __future__ import annotations

from .files import BodyModelData, open_body_path, read_arrays, read_body_file, read_dmpl
from .kinds import KINDS, Kind, kind_from_posedirs
from .legacy_pickle import UnsafeBodyFileError, load_legacy_pickle
from .model import BodyModel, BodyOutput, load_body

#: Alias of :func:`load_body`.
load = load_body

__all__ = [
    "KINDS",
    "BodyModel",
    "BodyModelData",
    "BodyOutput",
    "Kind",
    "UnsafeBodyFileError",
    "kind_from_posedirs",
    "load",
    "load_body",
    "load_legacy_pickle",
    "open_body_path",
    "read_arrays",
    "read_body_file",
    "read_dmpl",
]
