"""``BodyModel`` with the original package's two signatures, as a thin layer over vposer.body.

- v1 (2019): ``BodyModel(bm_path, model_type, params=None, num_betas=10, batch_size=1,
  num_dmpls=None, path_dmpl=None, num_expressions=10, use_posedirs=True, dtype=torch.float32)``;
  the pose fields (``root_orient``, ``pose_body``, ``pose_hand``, ``pose_jaw``, ``pose_eye``,
  ``betas``, ``trans``, ``expression``, ``dmpls``) are ``nn.Parameter`` of ``batch_size`` rows,
  used by ``forward()`` for every field not passed to it.
- v2 (2021): ``BodyModel(bm_fname, num_betas=10, num_expressions=80, num_dmpls=None,
  dmpl_fname=None, dtype=torch.float32, persistant_buffer=False)``, kind detected from the file;
  ``forward(**params)`` with zeros for the fields not given.

The call is v1 when a model type string follows the path (or ``batch_size`` / ``params`` is
given; v1's ``'mano_left'`` / ``'mano_right'`` are MANO). ``forward`` returns an object with
``.v`` (N, V, 3), ``.Jtr`` (N, J, 3), ``.f`` (F, 3) and ``.full_pose`` (N, 3 J), also readable as a
dict. The model's arrays read as the original's buffers: ``kintree_table`` (2, J), ``v_template``
(V, 3), ``weights`` (V, J), ``shapedirs`` (V, 3, B), ``posedirs`` (P, 3 V), ``J_regressor``
(J, V).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vposer.body import load_body, read_body_file
from vposer.errors import InputError

__all__ = ["BodyModel", "BodyModelOutput"]

_V1_ARGS = ("model_type", "params", "num_betas", "batch_size", "num_dmpls", "path_dmpl",
            "num_expressions", "use_posedirs", "dtype")
_V2_ARGS = ("num_betas", "num_expressions", "num_dmpls", "dmpl_fname", "dtype",
            "persistant_buffer")
_FIELDS = ("root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye", "betas", "trans",
           "expression", "dmpls")


class BodyModelOutput(dict):
    """The forward result: a dict whose keys also read as attributes (``out.v``, ``out.Jtr``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _named_args(path_args: tuple, kwargs: dict) -> tuple[dict, bool]:
    """Map positional arguments after the path to names, choosing the v1 or v2 signature."""
    v1 = (bool(path_args) and (isinstance(path_args[0], str) or path_args[0] is None)) or any(
        k in kwargs for k in ("model_type", "batch_size", "params", "path_dmpl", "bm_path"))
    names = _V1_ARGS if v1 else _V2_ARGS
    if len(path_args) > len(names):
        raise TypeError(f"BodyModel() takes at most {len(names) + 1} positional arguments")
    named = dict(zip(names, path_args))
    for key in kwargs:
        if key in named:
            raise TypeError(f"BodyModel() got multiple values for argument '{key}'")
    named.update(kwargs)
    return named, v1


class BodyModel(nn.Module):
    """SMPL / SMPL+H / SMPL-X / MANO body model with the original ``human_body_prior`` API."""

    def __init__(self, bm_fname: str | None = None, *args: Any, **kwargs: Any):
        super().__init__()
        a, v1 = _named_args(args, kwargs)
        path = bm_fname if bm_fname is not None else a.pop("bm_path", None)
        if path is None:
            raise TypeError("BodyModel() needs the body-model file (bm_fname / bm_path)")
        model_type = a.get("model_type")
        if isinstance(model_type, str) and model_type.lower() in ("mano_left", "mano_right"):
            model_type = "mano"
        params = a.get("params") or {}
        if v1 and params.get("betas") is not None and "num_betas" not in a:
            a["num_betas"] = int(torch.as_tensor(params["betas"]).reshape(
                int(a.get("batch_size", 1)), -1).shape[1])
        self.core = load_body(
            path, model_type=model_type,
            num_betas=a.get("num_betas", 10),
            num_expressions=a.get("num_expressions", 10 if v1 else 80),
            num_dmpls=a.get("num_dmpls"),
            dmpl_path=a.get("path_dmpl", a.get("dmpl_fname")) if a.get("num_dmpls") else None,
            use_posedirs=a.get("use_posedirs", True),
            dtype=a.get("dtype", torch.float32),
        )
        self.model_type = self.core.model_type
        self.num_betas = self.core.num_betas
        self.num_expressions = self.core.num_expressions
        self.num_dmpls = self.core.num_dmpls
        self.use_dmpl = self.num_dmpls > 0
        self.batch_size = int(a.get("batch_size", 1))
        self.v1 = v1
        if v1:
            self._make_parameters(params)
        self._j_regressor: torch.Tensor | None = None

    def _widths(self) -> dict[str, int]:
        core = self.core
        return {"root_orient": 3, "pose_body": core.pose_width("pose_body"),
                "pose_hand": core.pose_width("pose_hand"), "pose_jaw": core.pose_width("pose_jaw"),
                "pose_eye": core.pose_width("pose_eye"), "betas": core.num_betas, "trans": 3,
                "expression": core.num_expressions, "dmpls": core.num_dmpls}

    def _make_parameters(self, params: dict) -> None:
        dtype = self.core.dtype
        for name, width in self._widths().items():
            if width == 0:
                continue
            value = params.get(name)
            if value is None:
                value = torch.zeros(self.batch_size, width, dtype=dtype)
            else:
                value = torch.as_tensor(value, dtype=dtype).reshape(-1, width).clone()
            self.register_parameter(name, nn.Parameter(value, requires_grad=True))

    @property
    def f(self) -> torch.Tensor:
        """``(F, 3)`` long triangle vertex indices."""
        return self.core.faces

    @property
    def dtype(self) -> torch.dtype:
        return self.core.dtype

    @property
    def kintree_table(self) -> torch.Tensor:
        """``(2, J)`` long: parents (root -1), then the joint indices."""
        parents = self.core.parents
        return torch.stack([parents, torch.arange(len(parents), device=parents.device)])

    @property
    def v_template(self) -> torch.Tensor:
        """``(V, 3)`` rest vertices."""
        core = self.core
        return core.v_template_t.view(3, -1)[:, :core.num_vertices].t()

    @property
    def weights(self) -> torch.Tensor:
        """``(V, J)`` skinning weights."""
        return self.core.weights_t[:, :self.core.num_vertices].t()

    @property
    def shapedirs(self) -> torch.Tensor:
        """``(V, 3, B)`` shape (then expression, then DMPL) components in use."""
        core = self.core
        dirs = core.blend_dirs[:core.num_shape_coeffs].view(core.num_shape_coeffs, 3, -1)
        return dirs[:, :, :core.num_vertices].permute(2, 1, 0)

    @property
    def posedirs(self) -> torch.Tensor:
        """``(P, 3 V)`` pose blend shapes, 9 rows per non-root joint (the original's layout)."""
        core = self.core
        rows = core.blend_dirs[core.num_shape_coeffs:].view(-1, 3, core.blend_dirs.shape[1] // 3)
        return rows[:, :, :core.num_vertices].transpose(1, 2).reshape(rows.shape[0], -1)

    @property
    def J_regressor(self) -> torch.Tensor:  # noqa: N802 (original name)
        """``(J, V)`` joint regressor (read from the model file on first use)."""
        if self._j_regressor is None:
            data = read_body_file(self.core.path, self.core.model_type)
            if data.J_regressor is None:
                raise AttributeError("this body model has fixed rest joints, no J_regressor")
            self._j_regressor = torch.as_tensor(data.J_regressor, dtype=self.core.dtype,
                                                device=self.core.device)
        return self._j_regressor

    def forward(self, root_orient: Any = None, pose_body: Any = None, pose_hand: Any = None,
                pose_jaw: Any = None, pose_eye: Any = None, betas: Any = None, trans: Any = None,
                dmpls: Any = None, expression: Any = None, return_dict: bool = False,
                **kwargs: Any) -> Any:
        """Pose the body; fields not given come from the v1 parameters, or are zero (v2).

        Returns:
            :class:`BodyModelOutput` (or a plain dict with ``return_dict=True``) holding ``v``,
            ``Jtr``, ``f``, ``full_pose`` (N, 3 J) and the pose fields used.
        """
        unsupported = [k for k in ("v_template", "joints", "v_shaped") if kwargs.get(k) is not None]
        if unsupported:
            raise InputError(f"BodyModel.forward: {', '.join(unsupported)} (a personalised rest "
                             "shape) is not supported by this compatibility layer")
        given = {"root_orient": root_orient, "pose_body": pose_body, "pose_hand": pose_hand,
                 "pose_jaw": pose_jaw, "pose_eye": pose_eye, "betas": betas, "trans": trans,
                 "dmpls": dmpls, "expression": expression}
        if self.v1:
            smpl_full_body = (self.model_type == "smpl" and pose_body is not None
                              and pose_hand is None and torch.as_tensor(pose_body)[0].numel() == 69)
            for name in _FIELDS:
                skip = smpl_full_body and name == "pose_hand"
                if given[name] is None and name in self._parameters and not skip:
                    given[name] = getattr(self, name)
        used = {k: v for k, v in given.items() if v is not None}
        out = self.core(**used)
        res = {"v": out.vertices, "Jtr": out.joints, "f": out.faces,
               "full_pose": out.full_pose.reshape(out.full_pose.shape[0], -1)}
        res.update(used)
        return res if return_dict else BodyModelOutput(res)
