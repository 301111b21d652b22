"""The body model's arrays: its buffers, and views of them in the layouts of the published
model files (what the ``human_body_prior`` compat layer and exporters read).

:class:`~vposer.body.BodyModel` keeps its buffers packed for the forward pass: the rest joints
are stored as extra points after the vertices (``V + J`` points, coordinate-major), so that one
matrix product gives both. :class:`BodyArrays` documents that packing once and gives the
file layouts back (views where the layout allows, no copies of the large blend shapes).
"""
from __future__ import annotations

from torch import Tensor


class BodyArrays:
    """Buffers of a body model with ``V`` vertices, ``J`` joints, ``K`` shape coefficients
    (betas, then expressions, then DMPLs) and ``P`` pose blend-shape rows (9 per non-root
    joint; 0 without pose correctives), and their file layouts.

    Attributes:
        v_template_t: ``(3 * (V + J),)`` the rest points, coordinate-major (all x, then all y,
            then all z): the ``V`` vertices, then the ``J`` rest joints.
        blend_dirs: ``(K + P, 3 * (V + J))`` the shape directions (rows ``:K``), then the pose
            blend shapes (rows ``K:``), laid out as the rest points (the joints' pose rows are
            zero: pose correctives do not move joints).
        weights_t: ``(J, V + J)`` skinning weights, transposed; the joints' columns are the
            identity (each rest joint moves with its own joint).
        faces: ``(F, 3)`` long triangle vertex indices.
        parents: ``(J,)`` long parent of each joint, -1 for the root.
        num_shape_coeffs: ``K``.
    """

    v_template_t: Tensor
    blend_dirs: Tensor
    weights_t: Tensor
    eye3: Tensor
    faces: Tensor
    parents: Tensor
    input_zeros: Tensor
    chain_parent_pos: Tensor
    chain_order: Tensor
    chain_inverse: Tensor
    num_shape_coeffs: int

    @property
    def num_vertices(self) -> int:
        """``V`` (the model defines it)."""
        raise NotImplementedError

    @property
    def rest_vertices(self) -> Tensor:
        """``(V, 3)`` the template mesh (a view)."""
        return self.v_template_t.view(3, -1)[:, :self.num_vertices].t()

    @property
    def skinning_weights(self) -> Tensor:
        """``(V, J)`` skinning weights (a view)."""
        return self.weights_t[:, :self.num_vertices].t()

    @property
    def shape_dirs(self) -> Tensor:
        """``(V, 3, K)`` shape directions in use: betas, then expressions, then DMPLs (a view)."""
        k = self.num_shape_coeffs
        dirs = self.blend_dirs[:k].view(k, 3, -1)
        return dirs[:, :, :self.num_vertices].permute(2, 1, 0)

    @property
    def pose_dirs(self) -> Tensor:
        """``(P, 3 V)`` pose blend shapes in SMPL's file layout: 9 rows per non-root joint, each
        row ``(x0, y0, z0, x1, ...)`` over the vertices (a copy)."""
        rows = self.blend_dirs[self.num_shape_coeffs:].view(-1, 3, self.blend_dirs.shape[1] // 3)
        return rows[:, :, :self.num_vertices].transpose(1, 2).reshape(rows.shape[0], -1)
