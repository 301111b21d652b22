"""Pose features the metrics work on: joint positions of the posed body, joint quaternions.

Conventions (those of VPoser's training): the body is posed with its 21 body joints only, zero
shape, zero root orientation and zero translation; joint positions are in metres.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..body import BodyModel, lbs
from ..model.vposer import as_pose_batch
from ..constants import NUM_BODY_JOINTS
from ..rotations import axis_angle_to_matrix, axis_angle_to_quaternion


__all__ = ["NUM_BODY_JOINTS", "JointPositions", "body_joint_names", "joint_quaternions"]


class JointPositions:
    """Positions of the 22 body joints (pelvis first) of ``body`` posed with ``pose_body`` alone.

    Only the kinematic chain is evaluated (no skinning), in batched matmuls over the tree, so
    tens of thousands of poses take milliseconds. Equal to ``body(pose_body=p).joints[:, :22]``.

    Args:
        body: any body model of the SMPL family or the open body (its first 22 joints are the
            SMPL body joints); its rest joints at zero shape are used.
    """

    def __init__(self, body: BodyModel):
        parents = [int(p) for p in body.parents[:NUM_BODY_JOINTS].tolist()]
        with torch.no_grad():
            zero = torch.zeros(1, 63, dtype=body.dtype, device=body.device)
            rest = body(pose_body=zero).joints[0, :NUM_BODY_JOINTS]  # (22, 3) zero shape
        self.device = body.device
        self.dtype = body.dtype
        self.rest = rest
        self._rest = rest.unsqueeze(0)  # (1, 22, 3)
        self._chain = lbs.chain_index(parents, body.device)

    @torch.no_grad()
    def __call__(self, pose_body: Tensor, chunk: int = 65536) -> Tensor:
        """``(N, 63)`` or ``(N, 21, 3)`` axis-angle body poses to ``(N, 22, 3)`` joints (metres)."""
        poses = as_pose_batch(pose_body).to(device=self.device, dtype=self.dtype)
        out = poses.new_empty(poses.shape[0], NUM_BODY_JOINTS, 3)
        for s in range(0, poses.shape[0], chunk):
            part = poses[s:s + chunk].reshape(-1, 21, 3)
            rot = axis_angle_to_matrix(part)
            eye = torch.eye(3, dtype=rot.dtype, device=rot.device).expand(len(part), 1, 3, 3)
            rot = torch.cat([eye, rot], dim=1)
            transforms = lbs.skinning_transforms(rot, self._rest, self._chain)
            out[s:s + chunk] = lbs.posed_joints(transforms, self._rest)
        return out


def joint_quaternions(pose_body: Tensor) -> Tensor:
    """``(N, 63)`` axis-angle to ``(N, 21, 4)`` unit quaternions (scalar last, ``w >= 0``)."""
    return axis_angle_to_quaternion(as_pose_batch(pose_body).reshape(-1, 21, 3))


def body_joint_names(body: BodyModel) -> list[str]:
    """Names of the 21 joints of ``pose_body`` (the body's joints 1..21)."""
    names = list(body.joint_names[1:NUM_BODY_JOINTS])
    return names if len(names) == 21 else [f"joint_{i}" for i in range(1, 22)]
