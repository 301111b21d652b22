"""``BodyModel`` with the original package's signatures, as a thin layer over vposer.body.

- v1 (2019): ``BodyModel(bm_path, model_type, params=None, num_betas=10, batch_size=1,
  num_dmpls=None, path_dmpl=None, num_expressions=10, use_posedirs=True, dtype=torch.float32)``;
  the pose fields (``root_orient``, ``pose_body``, ``pose_hand``, ``pose_jaw``, ``pose_eye``,
  ``betas``, ``trans``, ``expression``, ``dmpls``) are ``nn.Parameter`` of ``batch_size`` rows,
  used by ``forward()`` for every field not passed to it.
- v2 (2021): ``BodyModel(bm_fname, num_betas=10, num_dmpls=None, dmpl_fname=None,
  num_expressions=None, use_posedirs=True, model_type=None, dtype=torch.float32,
  persistant_buffer=False)`` (the first v2 releases had ``num_expressions=80`` and no
  ``model_type``; both orders are read), kind detected from the file; ``forward(**params)`` with
  zeros for the fields not given. As in the original, no expression components unless
  ``num_expressions`` is given.

The call is v1 when a model type string follows the path, or ``batch_size`` / ``params`` /
``path_dmpl`` / ``bm_path`` is given (v1's ``'mano_left'`` / ``'mano_right'`` are MANO).

``betas`` (and ``expression``) wider than the model's are truncated when the extra values are
zero (the IK tutorials optimise 16 betas next to a 10-beta body) and refused otherwise; narrower
ones are zero-padded. The open body (``vposer paths``) loads under any SMPL-family type: the
hand, jaw, eye and expression fields are accepted and ignored.

``forward`` returns :class:`BodyModelOutput`: ``.v`` (N, V, 3), ``.Jtr`` (N, J, 3), ``.f`` (F, 3),
``.full_pose`` (N, 3 J) and the pose fields used, also readable as a mapping. The joints come
from the kinematic chain alone and the mesh is skinned only when ``.v`` is first read, so code
that reads joints (keypoint fitting) costs a fraction of a full pass, with the same numbers.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from collections.abc import Iterator

import torch
from torch import nn

from vposer.body import load_body, read_body_file
from vposer.body.kinds import KINDS
from vposer.errors import BodyModelError, InputError

__all__ = ["BodyModel", "BodyModelOutput", "BodyModelWithPoser"]

_V1_ARGS = ("model_type", "params", "num_betas", "batch_size", "num_dmpls", "path_dmpl",
            "num_expressions", "use_posedirs", "dtype")
_V2_ARGS = ("num_betas", "num_dmpls", "dmpl_fname", "num_expressions", "use_posedirs",
            "model_type", "dtype", "persistant_buffer")
_V2_FIRST_ARGS = ("num_betas", "num_dmpls", "dmpl_fname", "num_expressions", "use_posedirs",
                  "dtype", "persistant_buffer")
_FIELDS = ("root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye", "betas", "trans",
           "expression", "dmpls")
_IGNORED_ON_OPEN = ("pose_hand", "pose_jaw", "pose_eye", "expression", "dmpls")
_V1_ONLY = ("batch_size", "params", "path_dmpl", "bm_path")


class BodyModelOutput(Mapping):
    """The forward result: ``out.v``, ``out.Jtr``, ``out.f``, ``out.full_pose`` and the pose
    fields used, as attributes or items. ``Jtr`` and ``full_pose`` come from the kinematic chain
    alone; the mesh is skinned when ``v`` is first read."""

    def __init__(self, core: nn.Module, params: dict[str, Any]):
        joints = core(**params, vertices=False)  # checks the inputs now, skins nothing
        object.__setattr__(self, "_core", core)
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_values", {
            "Jtr": joints.joints, "f": core.faces,
            "full_pose": joints.full_pose.reshape(joints.full_pose.shape[0], -1), **params})

    def __getitem__(self, name: str) -> Any:
        values = self._values
        if name not in values and name == "v":
            values["v"] = self._core(**self._params).vertices
        return values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:  # the original's result was writable
        self._values[name] = value

    def __iter__(self) -> Iterator[str]:
        return iter(["v"] + [k for k in self._values if k != "v"])

    def __len__(self) -> int:
        return len(self._values) + ("v" not in self._values)


def _named_args(path_args: tuple, kwargs: dict) -> tuple[dict, bool]:
    """Map positional arguments after the path to names, choosing the v1 or v2 signature."""
    v1 = (bool(path_args) and (isinstance(path_args[0], str) or path_args[0] is None)) or any(
        k in kwargs for k in _V1_ONLY)
    names = _V1_ARGS if v1 else _V2_ARGS
    if not v1 and len(path_args) > 5 and isinstance(path_args[5], torch.dtype):
        names = _V2_FIRST_ARGS
    if len(path_args) > len(names):
        raise TypeError(f"BodyModel() takes at most {len(names) + 1} positional arguments")
    named = dict(zip(names, path_args))
    for key in kwargs:
        if key in named:
            raise TypeError(f"BodyModel() got multiple values for argument '{key}'")
    named.update(kwargs)
    return named, v1


def _load_core(path: Any, model_type: str | None, **kwargs: Any) -> tuple[nn.Module, str | None]:
    """The vposer body model, and the requested SMPL-family type when the file is the open body
    (loaded as it is: it has the 22 body joints only)."""
    try:
        return load_body(path, model_type=model_type, **kwargs), None
    except BodyModelError:
        if model_type is None:
            raise
        try:
            data = read_body_file(path)
        except BodyModelError:
            data = None
        if data is None or data.kind.name != "open":
            raise
    return load_body(path, model_type="open", **kwargs), model_type


def _narrow(name: str, value: Any, width: int) -> Any:
    """Rows wider than ``width``: the first ``width`` columns when the rest are zero."""
    if value is None:
        return None
    t = torch.as_tensor(value)
    rows = t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(1, -1)
    if rows.shape[1] <= width:
        return value
    if bool(rows[:, width:].detach().any()):
        raise InputError(f"{name} has {rows.shape[1]} values per row, this body model uses "
                         f"{width}, and the extra values are not zero (load the body with more "
                         f"components, e.g. num_{'betas' if name == 'betas' else 'expressions'}="
                         f"{rows.shape[1]}, if the file has them)")
    return rows[:, :width] if width else None


class BodyModel(nn.Module):
    """SMPL / SMPL+H / SMPL-X / MANO body model with the original ``human_body_prior`` API."""

    def __init__(self, bm_fname: str | None = None, *args: Any, **kwargs: Any):
        super().__init__()
        a, v1 = _named_args(args, kwargs)
        path = bm_fname if bm_fname is not None else a.pop("bm_path", None)
        if path is None:
            raise TypeError("BodyModel() needs the body-model file (bm_fname / bm_path)")
        model_type = a.get("model_type")
        if isinstance(model_type, str):
            model_type = model_type.lower()
            if model_type in ("mano_left", "mano_right"):
                model_type = "mano"
        params = a.get("params") or {}
        if v1 and params.get("betas") is not None and "num_betas" not in a:
            a["num_betas"] = int(torch.as_tensor(params["betas"]).reshape(
                int(a.get("batch_size", 1)), -1).shape[1])
        num_betas = a.get("num_betas", 10)
        expressions = a.get("num_expressions", 10 if v1 else None)
        self.core, self.requested_type = _load_core(
            path, model_type,
            num_betas=None if num_betas is not None and int(num_betas) < 1 else num_betas,
            num_expressions=0 if expressions is None else expressions,
            num_dmpls=a.get("num_dmpls"),
            dmpl_path=a.get("path_dmpl", a.get("dmpl_fname")) if a.get("num_dmpls") else None,
            use_posedirs=a.get("use_posedirs", True),
            dtype=a.get("dtype", torch.float32),
        )
        self._open_widths = {"betas": int(num_betas or 0), "expression": int(expressions or 0)}
        self.model_type = self.requested_type or self.core.model_type
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
        widths = {"betas": core.num_betas, "expression": core.num_expressions}
        kind = core.kind
        if self.requested_type:  # the open body: the requested kind's fields (ignored or zero)
            kind = KINDS[self.requested_type]
            widths = dict(self._open_widths)
            if kind.part_width("pose_jaw") == 0:
                widths["expression"] = 0
        return {"root_orient": 3, "pose_body": kind.part_width("pose_body"),
                "pose_hand": kind.part_width("pose_hand"), "pose_jaw": kind.part_width("pose_jaw"),
                "pose_eye": kind.part_width("pose_eye"), "trans": 3, "dmpls": core.num_dmpls,
                **widths}

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
        return self.core.rest_vertices

    @property
    def weights(self) -> torch.Tensor:
        """``(V, J)`` skinning weights."""
        return self.core.skinning_weights

    @property
    def shapedirs(self) -> torch.Tensor:
        """``(V, 3, B)`` shape (then expression, then DMPL) components in use."""
        return self.core.shape_dirs

    @property
    def posedirs(self) -> torch.Tensor:
        """``(P, 3 V)`` pose blend shapes, 9 rows per non-root joint (the original's layout)."""
        return self.core.pose_dirs

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

    def r(self) -> Any:
        """The vertices of ``forward()`` as a numpy array (the original's shortcut)."""
        return self.forward().v.detach().cpu().numpy()

    def forward(self, root_orient: Any = None, pose_body: Any = None, pose_hand: Any = None,
                pose_jaw: Any = None, pose_eye: Any = None, betas: Any = None, trans: Any = None,
                dmpls: Any = None, expression: Any = None, return_dict: bool = False,
                **kwargs: Any) -> Any:
        """Pose the body; fields not given come from the v1 parameters, or are zero (v2).

        Returns:
            :class:`BodyModelOutput` (or, with ``return_dict=True``, a plain dict computed at
            once) holding ``v``, ``Jtr``, ``f``, ``full_pose`` (N, 3 J) and the pose fields used.
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
        params = dict(used)
        if self.requested_type:  # the open body: hands, face and expression ignored
            for name in _IGNORED_ON_OPEN:
                params.pop(name, None)
            body = params.get("pose_body")
            if body is not None and torch.as_tensor(body)[0].numel() == 69:
                params["pose_body"] = torch.as_tensor(body).reshape(-1, 69)[:, :63]
        for name, width in (("betas", self.core.num_betas),
                            ("expression", self.core.num_expressions)):
            if name in params:
                params[name] = _narrow(name, params[name], width)
                if params[name] is None:
                    del params[name]
        out = BodyModelOutput(self.core, params)
        for name, value in used.items():
            out._values[name] = value
        if return_dict:
            return {key: out[key] for key in out}
        return out


class BodyModelWithPoser(BodyModel):
    """The cvpr19 line's body model whose body pose is a VPoser latent ``poZ_body`` parameter.

    ``BodyModelWithPoser(poser_type='vposer', smpl_exp_dir=VPOSER_DIR, bm_path=..., model_type=...,
    batch_size=...)``: ``forward(**kwargs)`` decodes ``poZ_body`` into ``pose_body``;
    ``randomize_pose()`` draws a new code. Hand priors (``mano_exp_dir``) are not provided.
    """

    def __init__(self, poser_type: str, smpl_exp_dir: str = "0020_06",
                 mano_exp_dir: str | None = None, **kwargs: Any):
        kwargs.setdefault("batch_size", 1)
        super().__init__(**kwargs)
        self.poser_type = poser_type
        if poser_type != "vposer":
            return
        if mano_exp_dir is not None:
            raise InputError("BodyModelWithPoser: hand pose priors (mano_exp_dir) are not "
                             "provided by vposer; only the body prior is")
        from ..tools.model_loader import load_vposer

        self.poser_body_pt, self.poser_body_ps = load_vposer(smpl_exp_dir)
        latent = self.poser_body_pt.latentD
        self.register_parameter("poZ_body", nn.Parameter(
            torch.zeros(self.batch_size, latent, dtype=self.dtype), requires_grad=True))
        if "pose_body" in self._parameters:
            self.pose_body.requires_grad_(False)

    def forward(self, poZ_body: Any = None, **kwargs: Any) -> Any:  # noqa: N803 (original name)
        if self.poser_type != "vposer":
            return super().forward()
        z = self.poZ_body if poZ_body is None else poZ_body
        self.poser_body_pt.to(z.device)
        pose = self.poser_body_pt.decode(z, output_type="aa").reshape(z.shape[0], -1)
        out = super().forward(pose_body=pose, **kwargs)
        out.poZ_body = z
        return out

    def randomize_pose(self) -> None:
        """A new ``poZ_body`` drawn from N(0, I) (numpy's global stream, as the original)."""
        import numpy as np

        if self.poser_type != "vposer":
            return
        with torch.no_grad():
            self.poZ_body[:] = torch.as_tensor(np.random.randn(*self.poZ_body.shape),
                                               dtype=self.dtype)
            pose = self.poser_body_pt.decode(self.poZ_body, output_type="aa")
            if "pose_body" in self._parameters:
                self.pose_body[:] = pose.reshape(self.batch_size, -1)
