"""The body points a fit compares with its targets, without skinning the whole mesh.

Fitting evaluates the body hundreds of times on batches of thousands; skinning every vertex
(13k for the open body, 10k for SMPL-X) costs ~1.5 s a pass for 1,000 bodies on two cores, while
the targets only involve the joints or a few dozen marker vertices. :class:`BodyPoints` evaluates
the kinematic chain (:func:`vposer.body.lbs.skinning_transforms`)
and skins only the chosen vertices, with the model's own shape and pose-corrective blend shapes.

It reads the model's :meth:`~vposer.body.BodyModel.rest_points`, its documented buffers
(``blend_dirs``, ``weights_t``) and its ``chain_index``, and checks itself once against the
model's full forward pass; when they disagree (a future model layout) it falls back to the full
forward pass.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..body import BodyModel, lbs
from ..constants import NUM_BODY_JOINTS
from ..errors import InputError
from ..rotations import axis_angle_to_matrix


__all__ = ["BodyPoints", "NUM_BODY_JOINTS"]


class BodyPoints:
    """Posed joints and selected vertices of a body model, differentiable.

    Args:
        body: a SMPL-family or open body whose pose has the 21 SMPL body joints.
        vertex_indices: ``(M,)`` vertices to return besides the joints (markers), or None.
        num_betas: shape coefficients the fit may use (``<= body.num_betas``).
        check: compare with ``body(...)`` once and fall back to it on disagreement.
    """

    def __init__(self, body: BodyModel, vertex_indices: Sequence[int] | None = None,
                 num_betas: int | None = None, check: bool = True):
        if body.pose_width("pose_body") != 63:
            raise InputError(f"a {body.model_type} body has no 21-joint body pose to fit")
        self.body = body
        self.num_betas = body.num_betas if num_betas is None else min(int(num_betas), body.num_betas)
        self.num_joints = body.num_joints
        dev, dt = body.device, body.dtype
        self.vertex_indices = None
        if vertex_indices is not None:
            idx = torch.as_tensor(vertex_indices, dtype=torch.long).reshape(-1)
            if idx.numel() and (idx.min() < 0 or idx.max() >= body.num_vertices):
                raise InputError(f"marker vertex indices must be in [0, {body.num_vertices}), got "
                                 f"[{int(idx.min())}, {int(idx.max())}]")
            self.vertex_indices = idx.to(dev)
        self.fast = False
        try:
            self._prepare(dev, dt)
            self.fast = not check or self._agrees()
        except (AttributeError, RuntimeError, ValueError):
            self.fast = False

    # -- setup ---------------------------------------------------------------------------------
    def _prepare(self, dev: torch.device, dt: torch.dtype) -> None:
        body, num_j, nb = self.body, self.num_joints, self.num_betas
        num_v = body.num_vertices
        self.chain = body.chain_index
        self.eye3 = body.eye3
        template, shape_dirs = body.rest_points()  # (3, V + J), (K, 3, V + J)
        self.joint_template = template[:, num_v:].t().contiguous().unsqueeze(0)  # (1, J, 3)
        self.joint_dirs = shape_dirs[:nb, :, num_v:].transpose(1, 2).reshape(nb, num_j * 3)
        if self.vertex_indices is None:
            return
        idx = self.vertex_indices
        self.v_rest = template[:, idx].unsqueeze(0)  # (1, 3, M)
        rows = body.blend_dirs.shape[0]
        dirs = body.blend_dirs.view(rows, 3, template.shape[1])[:, :, idx]  # (K + P, 3, M)
        m = dirs.shape[2]
        self.shape_dirs = dirs[:nb].reshape(nb, 3 * m)
        k = body.num_shape_coeffs
        self.pose_dirs = dirs[k:k + 9 * 21].reshape(9 * 21, 3 * m) if body.use_posedirs else None
        self.weights = body.weights_t[:, idx]  # (J, M)

    def _agrees(self) -> bool:
        g = torch.Generator().manual_seed(0)
        dt, dev = self.body.dtype, self.body.device
        pose = (torch.randn(2, 21, 3, generator=g) * 0.4).to(dev, dt)
        root = (torch.randn(2, 3, generator=g) * 0.5).to(dev, dt)
        trans = torch.randn(2, 3, generator=g).to(dev, dt)
        betas = (torch.randn(2, self.num_betas, generator=g)).to(dev, dt) if self.num_betas else None
        with torch.no_grad():
            ref = self.body(pose_body=pose, root_orient=root, trans=trans, betas=betas)
            joints, verts = self._fast(axis_angle_to_matrix(pose), root, trans, betas)
        ok = torch.allclose(joints, ref.joints, atol=1e-4)
        if verts is not None:
            ok = ok and torch.allclose(verts, ref.vertices[:, self.vertex_indices], atol=1e-4)
        return bool(ok)

    # -- evaluation ----------------------------------------------------------------------------
    def __call__(self, pose_matrices: Tensor, root_orient: Tensor, trans: Tensor,
                 betas: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Pose the body.

        Args:
            pose_matrices: ``(N, 21, 3, 3)`` body-joint rotations.
            root_orient: ``(N, 3)`` axis-angle; trans: ``(N, 3)`` metres.
            betas: ``(N, B)`` shape coefficients (``B <= num_betas``) or None (zero shape).

        Returns:
            ``(joints (N, J, 3), vertices (N, M, 3) or None)``.
        """
        if self.fast:
            return self._fast(pose_matrices, root_orient, trans, betas)
        from ..rotations import matrix_to_axis_angle

        out = self.body(pose_body=matrix_to_axis_angle(pose_matrices), root_orient=root_orient,
                        trans=trans, betas=betas)
        verts = None if self.vertex_indices is None else out.vertices[:, self.vertex_indices]
        return out.joints, verts

    def _fast(self, pose_matrices: Tensor, root_orient: Tensor, trans: Tensor,
              betas: Tensor | None) -> tuple[Tensor, Tensor | None]:
        n, num_j = pose_matrices.shape[0], self.num_joints
        dt = self.joint_template.dtype
        rot = torch.cat([axis_angle_to_matrix(root_orient.to(dt)).unsqueeze(1),
                         pose_matrices.to(dt)], dim=1)  # (N, 22, 3, 3) joint order
        if num_j > NUM_BODY_JOINTS:  # hands, jaw, eyes at rest
            rot = torch.cat([rot, self.eye3.expand(n, num_j - NUM_BODY_JOINTS, 3, 3)], dim=1)
        shaped = betas is not None and self.num_betas > 0
        if shaped:
            b = betas.to(dt)[:, : self.num_betas]
            if b.shape[1] < self.num_betas:
                b = torch.nn.functional.pad(b, (0, self.num_betas - b.shape[1]))
            rest = (self.joint_template.view(1, -1) + b @ self.joint_dirs).view(n, num_j, 3)
        else:
            rest = self.joint_template
        transforms = lbs.skinning_transforms(rot, rest, self.chain)
        joints = lbs.posed_joints(transforms, rest)
        joints = joints + trans.to(dt).unsqueeze(1)
        if self.vertex_indices is None:
            return joints, None
        v = self.v_rest
        if shaped:
            v = v + (b @ self.shape_dirs).view(n, 3, -1)
        if self.pose_dirs is not None:
            feature = (rot[:, 1:NUM_BODY_JOINTS] - self.eye3).reshape(n, -1)
            v = v + (feature @ self.pose_dirs).view(n, 3, -1)
        verts = lbs.skin(transforms, self.weights, v.expand(n, 3, v.shape[-1]), trans.to(dt))
        return joints, verts
