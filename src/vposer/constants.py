"""The numbers every part of the package agrees on (one definition each).

A VPoser *body pose* is the rotation of the 21 SMPL body joints that follow the pelvis, in SMPL
order, as axis-angle: ``(N, 21, 3)`` or flattened ``(N, 63)``. The body's *body joints* count
the pelvis too (22): the joints a pose moves.
"""
from __future__ import annotations

from typing import Final

#: Joints of a body pose (pelvis excluded): ``pose_body`` is ``(N, NUM_JOINTS, 3)``.
NUM_JOINTS: Final = 21
#: Width of a flattened body pose, ``(N, POSE_DIM)`` axis-angle.
POSE_DIM: Final = NUM_JOINTS * 3
#: Joints of the body a pose moves: the pelvis and the 21 pose joints.
NUM_BODY_JOINTS: Final = NUM_JOINTS + 1
#: Latent size of both published releases.
LATENT_DIM: Final = 32

__all__ = ["LATENT_DIM", "NUM_BODY_JOINTS", "NUM_JOINTS", "POSE_DIM"]
