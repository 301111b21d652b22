"""The body as the training loss sees it: vertices and joints of poses, compared in pairs.

VPoser's losses pose the body twice per batch (the reconstruction and the original, zero shape,
zero root orientation) and compare the vertices and joints. For a body without pose-corrective
blend shapes (the open body, or any model built with ``use_posedirs=False``) every skinned point
is a fixed linear function of the joints' ``3 x 4`` skinning transforms::

    p_i = sum_j w_ij [R_j | t_j] (r_i, 1)       so      P = M @ T,   M: (V + J, 4 J)

and the difference of two posings is ``M @ (T_a - T_b)``: one matrix product instead of two
skinning passes and a subtraction, and one in the backward pass. That is exact (the same
numbers as posing both bodies and subtracting, up to float rounding: a few 1e-7 m), so the loss
optimised is unchanged. Bodies with pose correctives, whose vertices also move with the pose
features, take the ordinary forward pass (:class:`BodyPoints` chooses).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..body import BodyModel, lbs
from ..rotations import matrix_to_axis_angle

__all__ = ["BodyPoints"]


class BodyPoints(nn.Module):
    """Differences of posed vertices and joints between two sets of body poses.

    Args:
        body: the body model (frozen); posed with zero shape, zero root orientation and every
            joint outside the 21 body joints at rest.
        linear: use the linear map (None: whenever the body allows it; False: always pose both
            bodies, the reference the benchmark compares with).

    Attributes:
        linear: True when the fast path (one linear map of the transforms) applies.
    """

    def __init__(self, body: BodyModel, linear: bool | None = None):
        super().__init__()
        self.body = body
        self.num_vertices = body.num_vertices
        self.num_joints = body.num_joints
        self.linear = not body.use_posedirs and linear is not False
        if self.linear:
            template, _ = body.rest_points()  # (3, V + J): vertices then joints
            with torch.no_grad():
                rest = template[:, self.num_vertices:].t().unsqueeze(0).clone()  # (1, J, 3)
                homogeneous = torch.cat([template, template.new_ones(1, template.shape[1])])
                mix = (body.weights_t.t().unsqueeze(2) * homogeneous.t().unsqueeze(1))
            mix = mix.reshape(template.shape[1], -1)
            self.register_buffer("rest_joints", rest, persistent=False)
            # vertices and joints as two products: slicing one result would make its backward
            # fill a zero tensor of the whole size for each slice
            self.register_buffer("mix_vertices", mix[:self.num_vertices].clone(), persistent=False)
            self.register_buffer("mix_joints", mix[self.num_vertices:].clone(), persistent=False)

    def transforms(self, rot_body: Tensor) -> Tensor:
        """``(N, 21, 3, 3)`` body-joint rotations -> ``(N, J, 3, 4)`` skinning transforms (root
        and joints beyond the body at rest)."""
        n = rot_body.shape[0]
        eye = torch.eye(3, dtype=rot_body.dtype, device=rot_body.device)
        rest_rows = eye.expand(n, self.num_joints - 22, 3, 3)
        rot = torch.cat([eye.expand(n, 1, 3, 3), rot_body, rest_rows], dim=1)
        return lbs.skinning_transforms(rot, self.rest_joints, self.body.chain_index)[:, :, :3]

    def joints(self, rot: Tensor) -> Tensor:
        """``(N, 21, 3, 3)`` body-joint rotations -> ``(N, 22, 3)`` posed positions of the root
        and the 21 body joints (zero shape, zero root orientation)."""
        n = rot.shape[0]
        if not self.linear:
            return self.body(pose_body=matrix_to_axis_angle(rot).reshape(n, 63)).joints[:, :22]
        stacked = _point_major(self.transforms(rot))
        return torch.matmul(self.mix_joints[:22], stacked).view(22, n, 3).transpose(0, 1)

    def difference(self, rot_a: Tensor, aa_a: Tensor, rot_b: Tensor, aa_b: Tensor
                   ) -> tuple[Tensor, Tensor]:
        """Posed vertices and joints of poses ``a`` minus those of poses ``b``.

        Args:
            rot_a, rot_b: ``(N, 21, 3, 3)`` body-joint rotations; aa_a, aa_b: the same poses as
                ``(N, 21, 3)`` axis-angle (used by bodies with pose correctives). Gradients
                flow into ``a``; ``b`` is treated as data.

        Returns:
            ``(V, N, 3)`` vertex and ``(J, N, 3)`` joint differences, *point-major* (the layout
            the products give; the losses reduce over everything, so they need no transpose).
        """
        n = rot_a.shape[0]
        if not self.linear:
            pa = self.body(pose_body=aa_a.reshape(n, 63))
            with torch.no_grad():
                pb = self.body(pose_body=aa_b.reshape(n, 63))
            return ((pa.vertices - pb.vertices).transpose(0, 1),
                    (pa.joints - pb.joints).transpose(0, 1))
        with torch.no_grad():
            t_b = self.transforms(rot_b)
        delta = self.transforms(rot_a) - t_b  # (N, J, 3, 4)
        stacked = _point_major(delta)
        return (torch.matmul(self.mix_vertices, stacked).view(-1, n, 3),
                torch.matmul(self.mix_joints, stacked).view(-1, n, 3))


def _point_major(transforms: Tensor) -> Tensor:
    """``(N, J, 3, 4)`` transforms -> ``(4 J, 3 N)``, the right operand of the mixing products."""
    n = transforms.shape[0]
    return transforms.permute(1, 3, 0, 2).reshape(-1, n * 3)
