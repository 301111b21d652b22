"""The body model: blend shapes, kinematic chain and skinning as one batched forward pass."""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._types import PathLike
from ..errors import BodyModelError, InputError, reads_file
from ..rotations import axis_angle_to_matrix
from . import lbs
from .arrays import BodyArrays
from .files import BodyModelData, open_body_file, read_body_file, read_dmpl, shape_layout
from .inputs import as_rows, common_batch, fit_width, raise_non_finite
from .kinds import POSE_PARTS

__all__ = ["BodyModel", "BodyOutput", "load_body"]


# batch sizes up to which a forward pass without autograd runs in inference mode
_INFERENCE_MODE_MAX_BATCH = 8


@dataclass
class BodyOutput:
    """Result of a body model's forward pass.

    Attributes:
        vertices: ``(N, V, 3)`` posed mesh vertices, metres (None from ``vertices=False``).
        joints: ``(N, J, 3)`` posed positions of the model's own joints (no extra landmarks).
        faces: ``(F, 3)`` long vertex indices of the triangles: the model's own buffer, shared
            by every output (not copied per call); clone it before changing it in place.
        full_pose: ``(N, J, 3)`` axis-angle rotation of every joint, root first.
    """

    vertices: Tensor | None
    joints: Tensor
    faces: Tensor
    full_pose: Tensor


def _count(requested: int | None, available: int) -> int:
    """Components used: all when ``requested`` is None or negative, else truncated."""
    return available if requested is None or requested < 0 else min(int(requested), available)


class BodyModel(BodyArrays, nn.Module):
    """A SMPL-family body model (SMPL, SMPL+H, SMPL-X, MANO) or the open body.

    Build it with :func:`load_body` or :meth:`from_file`. Calling it poses the mesh::

        out = body(pose_body=poses, root_orient=root, betas=betas, trans=trans)
        out.vertices  # (N, V, 3)

    Its buffers and their file layouts (``rest_vertices``, ``skinning_weights``, ``shape_dirs``,
    ``pose_dirs``) are documented in :class:`~vposer.body.arrays.BodyArrays`.

    Args:
        data: the checked arrays of a body-model file (:func:`~vposer.body.read_body_file`).
        num_betas: shape components used; truncated to those in the file; None or -1 = all.
        num_expressions: SMPL-X expression components (truncated likewise; others have none).
        dmpls: optional ``(V, 3, D)`` DMPL soft-tissue components; ``num_dmpls`` of them used.
        use_posedirs: apply pose-corrective blend shapes by default.
        dtype, device: of the buffers and outputs.
    """

    def __init__(self, data: BodyModelData, num_betas: int | None = 10,
                 num_expressions: int | None = 10, dmpls: np.ndarray | None = None,
                 num_dmpls: int | None = None, use_posedirs: bool = True,
                 dtype: torch.dtype = torch.float32, device: Any = None):
        super().__init__()
        self.kind = data.kind
        self.path = data.path
        self.joint_names = tuple(data.joint_names)
        self.use_posedirs = bool(use_posedirs) and data.posedirs is not None
        chain = lbs.chain_index(data.parents.tolist())  # its tensors become buffers below
        self._chain_sizes, self._chain_slices = chain.sizes, chain.parent_slices
        self._chain_steps = len(chain.ancestors)

        shape_blocks = self._shape_blocks(data, num_betas, num_expressions, dmpls, num_dmpls)
        shapes = np.concatenate(shape_blocks, axis=2)  # (V, 3, K)
        k, num_j = shapes.shape[2], data.num_joints
        self.num_shape_coeffs = k
        # the joints are skinned as extra points after the vertices: rest joints are linear in
        # the shape coefficients (and free of pose blend shapes), each skinned to its own joint
        if data.joints is not None or data.J_regressor is None:  # fixed rest joints (open body)
            j_template, j_dirs = data.joints, np.zeros((num_j, 3, k))
        else:
            j_template = data.J_regressor @ data.v_template
            j_dirs = np.einsum("jv,vdk->jdk", data.J_regressor, shapes)
        pose_rows = (data.posedirs if self.use_posedirs and data.posedirs is not None
                     else np.zeros((data.num_vertices, 3, 0)))
        num_v = data.num_vertices
        # (K+P, 3, V+J), filled block by block in the model's dtype: no float64 copies of the
        # (large) pose blend shapes while loading
        dirs = torch.zeros((k + pose_rows.shape[2], 3, num_v + num_j), dtype=dtype)
        dirs[:k, :, :num_v] = torch.from_numpy(np.ascontiguousarray(shapes)).permute(2, 1, 0)
        dirs[k:, :, :num_v] = torch.from_numpy(pose_rows).permute(2, 1, 0)
        dirs[:k, :, num_v:] = torch.from_numpy(np.ascontiguousarray(j_dirs)).permute(2, 1, 0)
        self._num_vertices = num_v

        def buf(name: str, value: np.ndarray, floating: bool = True) -> None:
            t = torch.as_tensor(np.ascontiguousarray(value))
            t = t.to(dtype) if floating else t.long()
            self.register_buffer(name, t.to(device), persistent=False)

        buf("v_template_t", np.concatenate([data.v_template, j_template]).T.reshape(-1))
        self.register_buffer("blend_dirs", dirs.view(dirs.shape[0], 3 * (num_v + num_j)).to(device),
                             persistent=False)
        buf("weights_t", np.concatenate([data.weights.T, np.eye(num_j)], axis=1))
        buf("eye3", np.eye(3))
        buf("faces", data.faces, floating=False)
        buf("parents", data.parents, floating=False)
        for name in ("parent_pos", "order", "inverse"):
            buf(f"chain_{name}", getattr(chain, name).numpy(), floating=False)
        for step, up in enumerate(chain.ancestors):
            buf(f"chain_up{step}", up.numpy(), floating=False)
        self._layout = self._input_layout()
        buf("input_zeros", np.zeros((1, self._layout[-1][2])))
        for name, tensor in self.named_buffers():  # float64 values beyond float32, or sums
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise BodyModelError(
                    f"its values do not fit {str(dtype).replace('torch.', '')} (they overflow "
                    f"to Inf in the model's {name.removesuffix('_t')}); is the file damaged?",
                    self.path)

    def _shape_blocks(self, data: BodyModelData, num_betas: int | None,
                      num_expressions: int | None, dmpls: np.ndarray | None,
                      num_dmpls: int | None) -> list[np.ndarray]:
        empty = np.zeros((data.num_vertices, 3, 0))
        sd = data.shapedirs if data.shapedirs is not None else empty
        n_shape, expr_start, n_expr = shape_layout(data.kind, sd.shape[2])
        self.num_betas = _count(num_betas, n_shape) if n_shape else 0
        self.num_expressions = _count(num_expressions, n_expr) if n_expr else 0
        self.num_dmpls = 0 if dmpls is None else _count(num_dmpls, dmpls.shape[2])
        blocks = [sd[:, :, : self.num_betas], sd[:, :, expr_start:expr_start + self.num_expressions]]
        if dmpls is not None:
            blocks.append(dmpls[:, :, : self.num_dmpls])
        return blocks

    @classmethod
    def from_file(cls, path: PathLike, model_type: str | None = None,
                  dmpl_path: PathLike | None = None, **kwargs: Any) -> BodyModel:
        """Load a model from an ``.npz`` / ``.pkl`` file (kind detected unless ``model_type``)."""
        data = read_body_file(path, model_type)
        dmpls = None if dmpl_path is None else read_dmpl(dmpl_path, data.num_vertices)
        return cls(data, dmpls=dmpls, **kwargs)

    # -- properties ------------------------------------------------------------------------
    @property
    def model_type(self) -> str:
        """``'smpl'``, ``'smplh'``, ``'smplx'``, ``'mano'`` or ``'open'``."""
        return self.kind.name

    @property
    def num_joints(self) -> int:
        return self.kind.num_joints

    @property
    def num_vertices(self) -> int:
        return self._num_vertices

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template_t.dtype

    @property
    def device(self) -> torch.device:
        return self.v_template_t.device

    @property
    def chain_index(self) -> lbs.ChainIndex:
        """The kinematic tree as :func:`lbs.skinning_transforms` takes it, on this model's
        device."""
        ancestors = tuple(getattr(self, f"chain_up{s}") for s in range(self._chain_steps))
        return lbs.ChainIndex(self._chain_sizes, self._chain_slices, self.chain_parent_pos,
                              ancestors, self.chain_order, self.chain_inverse)

    def rest_points(self) -> tuple[Tensor, Tensor]:
        """The rest mesh and rest joints as linear functions of the shape coefficients.

        Returns:
            ``(3, V + J)`` template and ``(K, 3, V + J)`` shape directions, coordinate-major:
            the ``V`` vertices, then the ``J`` joints in joint order.
        """
        k = self.num_shape_coeffs
        width = self.num_vertices + self.num_joints
        return self.v_template_t.view(3, width), self.blend_dirs[:k].view(k, 3, width)

    def pose_width(self, part: str) -> int:
        """Axis-angle numbers of a pose part (``'pose_body'``: 63; 0 when the model lacks it)."""
        return self.kind.part_width(part)

    def extra_repr(self) -> str:
        return (f"model_type={self.model_type!r}, vertices={self.num_vertices}, "
                f"joints={self.num_joints}, num_betas={self.num_betas}, "
                f"num_expressions={self.num_expressions}, use_posedirs={self.use_posedirs}")

    # -- forward ---------------------------------------------------------------------------
    def _input_layout(self) -> list[tuple[str, int, int]]:
        """``(name, start, stop)`` columns of each parameter in the assembled input row:
        the full pose (pose parts in joint order), shape coefficients, translation."""
        layout, start = [], 0
        widths = [(part, self.pose_width(part)) for part in POSE_PARTS]
        widths += [("betas", self.num_betas), ("expression", self.num_expressions),
                   ("dmpls", self.num_dmpls), ("trans", 3)]
        for name, width in widths:
            layout.append((name, start, start + width))
            start += width
        return layout

    def _assemble(self, rows: dict[str, Tensor | None], n: int) -> Tensor:
        """``(N, 3 J + K + 3)`` row of all parameters (see :meth:`_input_layout`); absent ones
        are zero. Checks widths; broadcasts single rows."""
        body = rows.get("pose_body")
        smpl = self.model_type == "smpl"
        if smpl and body is not None and body.shape[1] == 69:
            if rows.get("pose_hand") is not None:
                raise InputError("pose_body has 69 values (body and hands) and pose_hand is also "
                                 "given; give 63 body values with pose_hand, or 69 alone")
            rows = dict(rows, pose_body=body[:, :63], pose_hand=body[:, 63:])
        blocks = []
        for name, start, stop in self._layout:
            width = stop - start
            expected = ""
            if name == "pose_body":
                expected = "63, as (N, 63) or (N, 21, 3)" + (" or 69" if smpl else "")
            pad = name in ("betas", "expression", "dmpls")
            value = fit_width(name, rows.get(name), width, n, pad=pad, expected=expected)
            if width:
                blocks.append(value if value is not None
                              else self.input_zeros[:, start:stop].expand(n, width))
        return torch.cat(blocks, dim=1)

    def forward(self, pose_body: Any = None, root_orient: Any = None, betas: Any = None,
                trans: Any = None, pose_hand: Any = None, pose_jaw: Any = None,
                pose_eye: Any = None, expression: Any = None, dmpls: Any = None, *,
                pose_correctives: bool | None = None, vertices: bool = True) -> BodyOutput:
        """Pose the model.

        Args (all optional, axis-angle, batch first; a single row broadcasts over the batch):
            pose_body: ``(N, 63)`` or ``(N, 21, 3)`` (SMPL: also ``(N, 69)`` with the hands).
            root_orient: ``(N, 3)`` global orientation.
            betas: ``(N, B)``, ``B <= num_betas`` (missing columns are zero).
            trans: ``(N, 3)`` translation.
            pose_hand: ``(N, 6)`` SMPL, ``(N, 90)`` SMPL+H / SMPL-X (left hand first),
                ``(N, 45)`` MANO.
            pose_jaw: ``(N, 3)``; pose_eye: ``(N, 6)`` (SMPL-X).
            expression: ``(N, E)``, ``E <= num_expressions``; dmpls: ``(N, D)``.
            pose_correctives: apply pose-corrective blend shapes (default: the model's
                ``use_posedirs``).
            vertices: skin the mesh; False computes the joints alone (the kinematic chain on
                the shaped rest joints, which pose correctives do not move: the same joints,
                without the cost of the mesh) and returns ``vertices=None``.

        Returns:
            :class:`BodyOutput`.

        Raises:
            InputError: wrong widths, NaN / Inf, mismatched batch sizes, parameters the model
                does not have.
        """
        given = {"pose_body": pose_body, "root_orient": root_orient, "betas": betas,
                 "trans": trans, "pose_hand": pose_hand, "pose_jaw": pose_jaw,
                 "pose_eye": pose_eye, "expression": expression, "dmpls": dmpls}
        dtype, device = self.dtype, self.device
        rows = {k: as_rows(k, v, dtype, device) for k, v in given.items() if v is not None}
        n = common_batch(rows)
        x = self._assemble(rows, n)
        use_pose = self.use_posedirs if pose_correctives is None else bool(pose_correctives)
        if use_pose and not self.use_posedirs:
            raise InputError("pose correctives requested but this model was built without them")
        num_j, k = self.num_joints, self.num_shape_coeffs
        full = x[:, :3 * num_j].view(n, num_j, 3)
        shaped = k > 0 and any(name in rows for name in ("betas", "expression", "dmpls"))
        if not vertices:
            self._check(x, rows, True)
            coeffs = x[:, 3 * num_j:3 * num_j + k] if shaped else None
            trans_rows = x[:, 3 * num_j + k:] if "trans" in rows else None
            return BodyOutput(None, self._joints_only(full, coeffs, trans_rows), self.faces, full)
        # with nothing to differentiate, inference mode trims the per-operator overhead at small
        # batches; the outputs are allocated outside it, so they are ordinary tensors
        tracked = torch.is_grad_enabled() and x.requires_grad
        differentiable = tracked or (
            torch.is_grad_enabled() and any(t.requires_grad for t in self.buffers()))
        inference = n <= _INFERENCE_MODE_MAX_BATCH and not differentiable
        out = None if differentiable else (x.new_empty(n, self.num_vertices, 3),
                                           x.new_empty(n, num_j, 3))
        with torch.inference_mode() if inference else contextlib.nullcontext():
            moving = self._check(x, rows, tracked)
            coeffs = x[:, 3 * num_j:3 * num_j + k] if shaped else None
            trans_rows = x[:, 3 * num_j + k:] if "trans" in rows else None
            points = self._pose(full, coeffs, trans_rows, moving if use_pose else (1, 1), out)
        if out is None:
            out = points[:, :self.num_vertices], points[:, self.num_vertices:]
        return BodyOutput(out[0], out[1], self.faces, full)

    def _check(self, x: Tensor, rows: dict[str, Tensor | None], tracked: bool) -> tuple[int, int]:
        """Raise :class:`InputError` naming a parameter that holds NaN or Inf; return the range
        ``[a, b)`` of non-root joints whose pose blend shapes can be non-zero.

        One pass over the assembled row serves both (its values for one body, the column maxima
        of their absolute values for more). A joint at exactly zero rotation (hands and face at
        rest) has a zero pose feature, so its rows of ``posedirs`` can be skipped, unless a
        gradient must flow through them (``tracked``).
        """
        num_j = self.num_joints
        if x.shape[0] == 0:
            return 1, num_j
        # one row: its values (their sum is finite, and each is non-zero, when their absolute
        # values are); more rows: the column maxima of the absolute values
        stats = x.tolist()[0] if x.shape[0] == 1 else \
            torch.linalg.vector_norm(x.detach(), math.inf, dim=0).tolist()
        if not math.isfinite(sum(stats)):
            raise_non_finite(rows)
        if tracked:
            return 1, num_j
        pose = stats[3:3 * num_j]
        nonzero = [i for i, v in enumerate(pose) if v]
        return (1 + nonzero[0] // 3, 2 + nonzero[-1] // 3) if nonzero else (1, 1)

    def _pose(self, full_pose: Tensor, coeffs: Tensor | None, trans: Tensor | None,
              moving: tuple[int, int], out: tuple[Tensor, Tensor] | None) -> Tensor:
        """LBS core: ``(N, J, 3)`` pose, ``(N, K)`` shape coefficients -> ``(N, V + J, 3)``
        skinned vertices then joints, or into ``out`` (vertices, joints)."""
        rot = axis_angle_to_matrix(full_pose)  # (N, J, 3, 3)
        points_t = self._blend(rot, coeffs, *moving)  # (N or 1, 3, V + J)
        rest = points_t[:, :, self.num_vertices:].transpose(1, 2)  # (N or 1, J, 3)
        transforms = lbs.skinning_transforms(rot, rest, self.chain_index)
        return lbs.skin(transforms, self.weights_t, points_t, trans, out=out)

    def _joints_only(self, full_pose: Tensor, coeffs: Tensor | None,
                     trans: Tensor | None) -> Tensor:
        """``(N, J, 3)`` posed joints: the rest joints (template plus the shape blend of their
        columns of ``blend_dirs``) carried along the kinematic chain; no mesh is skinned."""
        num_v, num_j = self.num_vertices, self.num_joints
        template, dirs = self.rest_points()  # (3, V + J), (K, 3, V + J)
        rest = template[:, num_v:].t().unsqueeze(0)  # (1, J, 3)
        if coeffs is not None:
            k = coeffs.shape[1]
            offsets = coeffs @ dirs[:, :, num_v:].reshape(k, 3 * num_j)  # (N, 3 J)
            rest = rest + offsets.view(-1, 3, num_j).transpose(1, 2)
        rot = axis_angle_to_matrix(full_pose)
        joints = lbs.posed_joints(lbs.skinning_transforms(rot, rest, self.chain_index), rest)
        return joints if trans is None else joints + trans.unsqueeze(1)

    def _blend(self, rot: Tensor, coeffs: Tensor | None, a: int, b: int) -> Tensor:
        """Rest points (vertices, then joints) plus shape and pose blend shapes, coordinate-major
        ``(N or 1, 3, V + J)``.

        Pose blend shapes of joints ``[a, b)`` only; ``blend_dirs`` rows: K shape components,
        then 9 per non-root joint in joint order.
        """
        n, k = rot.shape[0], self.num_shape_coeffs
        feature = None
        if b > a:
            feature = (rot[:, a:b] - self.eye3).reshape(n, -1)
        pose_rows = slice(k + 9 * (a - 1), k + 9 * (b - 1))
        if feature is None:
            if coeffs is None:
                return self.v_template_t.view(1, 3, -1)
            out = torch.addmm(self.v_template_t, coeffs, self.blend_dirs[:k])
        elif coeffs is None:
            out = torch.addmm(self.v_template_t, feature, self.blend_dirs[pose_rows])
        elif a == 1:  # shape and pose rows contiguous: one product
            out = torch.addmm(self.v_template_t, torch.cat([coeffs, feature], dim=1),
                              self.blend_dirs[:pose_rows.stop])
        else:
            out = torch.addmm(self.v_template_t, coeffs, self.blend_dirs[:k])
            out = torch.addmm(out, feature, self.blend_dirs[pose_rows])
        return out.view(n, 3, -1)


@reads_file
def load_body(path_or_name: PathLike | None = None, model_type: str | None = None,
              **kwargs: Any) -> BodyModel:
    """Load a body model.

    Args:
        path_or_name: an ``.npz`` / ``.pkl`` SMPL, SMPL+H, SMPL-X or MANO file; None or
            ``'open'`` for the open default body shipped with the package.
        model_type: force the kind instead of detecting it.
        **kwargs: ``num_betas``, ``num_expressions``, ``dmpl_path``, ``num_dmpls``,
            ``use_posedirs``, ``dtype``, ``device`` (see :class:`BodyModel`).

    Raises:
        BodyModelError: missing, unreadable or inconsistent file.
    """
    if path_or_name is None or (isinstance(path_or_name, str) and path_or_name == "open"):
        if model_type not in (None, "open"):
            raise BodyModelError(f"model_type {model_type!r} needs a model file: SMPL-family "
                                 "models are licensed downloads; the built-in body is 'open'")
        with open_body_file() as path:
            return BodyModel.from_file(path, model_type or "open", **kwargs)
    return BodyModel.from_file(path_or_name, model_type, **kwargs)
