"""``human_body_prior.models.ik_engine``: inverse kinematics with the VPoser prior, original API.

``IK_Engine(vposer_expr_dir, data_loss, optimizer_args, stepwise_weights, ...)`` and
``forward(source_kpts_model, target_kpts, initial_body_params={})`` as in the original package
(see the spec's "IK engine" section). Free variables: ``poZ_body`` (the encoder mean of
``initial_body_params['pose_body']``, by default of the zero pose), ``root_orient``, ``trans`` and
``betas`` (zeros unless given, of any width given). Each stage of ``stepwise_weights`` minimises::

    w['data'] * data_loss(source_kpts, target_kpts) + w['poZ_body'] * sum(z^2)
        + w['betas'] * sum(betas^2)            # a term absent from the stage's dict is dropped

with ``LBFGS`` (lr 1, max_iter 100, tolerance_change 1e-5, history_size 100, strong Wolfe; one
``step`` per stage) or ``ADAM`` (lr 1e-3, ``max_iter`` 100 steps per stage, stopping early when the
loss changes by less than ``tolerance_change``, if given). Keys of ``optimizer_args`` the chosen
optimiser takes override these; others are ignored, as in the original. ``data_loss=None`` is
``SmoothL1Loss``. For new code, :func:`vposer.fit.fit` does batched fitting to joints, markers or
2D keypoints with per-sample Levenberg-Marquardt, robust terms and masks.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

import vposer
from vposer.fit.fitting import frozen

__all__ = ["IK_Engine"]

_DEFAULTS = {
    "LBFGS": {"lr": 1.0, "max_iter": 100, "tolerance_change": 1e-5, "history_size": 100,
              "line_search_fn": "strong_wolfe"},
    "ADAM": {"lr": 1e-3, "max_iter": 100, "tolerance_change": None},
}
#: The ``optimizer_args`` keys each optimiser takes (its torch arguments, and ADAM's loop).
_KEYS = {
    "LBFGS": {"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
              "history_size", "line_search_fn"},
    "ADAM": {"lr", "betas", "eps", "weight_decay", "amsgrad", "max_iter", "tolerance_change"},
}


class IK_Engine(nn.Module):  # noqa: N801 (original name)
    """Fit body parameters so that ``source_kpts_model`` keypoints reach target keypoints.

    Args:
        vposer_expr_dir: a VPoser release / native model (anything :func:`vposer.load_model`
            reads).
        data_loss: ``data_loss(source_kpts (N, K, 3), target_kpts (N, K, 3)) -> scalar``
            (the tutorials use ``torch.nn.MSELoss(reduction='sum')``; None: ``SmoothL1Loss``).
        optimizer_args: ``{'type': 'LBFGS' | 'ADAM', ...}`` (see the module docstring).
        stepwise_weights: one weight dict per stage, keys ``data``, ``poZ_body``, ``betas``.
        display_rc, verbosity, logger: progress reporting (``verbosity > 0`` logs each stage).
        num_betas: number of shape coefficients optimised.
    """

    def __init__(self, vposer_expr_dir: str,
                 data_loss: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
                 optimizer_args: Optional[Mapping[str, Any]] = None,
                 stepwise_weights: Optional[Sequence[Mapping[str, float]]] = None,
                 display_rc: tuple = (2, 1), verbosity: int = 1, num_betas: int = 16,
                 logger: Any = None):
        super().__init__()
        args = dict({"type": "ADAM"} if optimizer_args is None else optimizer_args)
        kind = str(args.pop("type", "ADAM")).upper()
        if kind not in _DEFAULTS:
            raise ValueError(f"optimizer type {kind!r} is not supported: use 'LBFGS' or 'ADAM'")
        self.optimizer_type = kind
        self.optimizer_args = dict(_DEFAULTS[kind], **{k: v for k, v in args.items()
                                                      if k in _KEYS[kind]})
        self.stepwise_weights = [dict(w) for w in (stepwise_weights or
                                                   [{"data": 10.0, "poZ_body": 0.01, "betas": 0.5}])]
        self.data_loss = nn.SmoothL1Loss() if data_loss is None else data_loss
        self.display_rc = display_rc
        self.verbosity = verbosity
        self.num_betas = int(num_betas)
        self.logger = logger if logger is not None else logging.getLogger(__name__)
        self.vp_model = vposer.load_model(vposer_expr_dir)
        for p in self.vp_model.parameters():
            p.requires_grad_(False)

    def _log(self, message: str) -> None:
        if self.verbosity > 0:
            log = getattr(self.logger, "info", None) or self.logger
            log(message)

    def _initial(self, target: Tensor, initial: Mapping[str, Any]) -> dict[str, Tensor]:
        n, dt, dev = target.shape[0], target.dtype, target.device
        model = self.vp_model.to(dev)

        def given(name: str, width: int) -> Tensor:
            value = initial.get(name)
            if value is None:
                return torch.zeros(n, width, dtype=dt, device=dev)
            return torch.as_tensor(value, dtype=dt, device=dev).reshape(n, -1).clone()

        pose = given("pose_body", 63)  # the encoder mean of the given pose, else of zeros
        with torch.no_grad():
            z = model.encode(pose.reshape(n, 63).to(next(model.parameters()).dtype)).mean
        free = {"poZ_body": z.to(dt).clone(), "root_orient": given("root_orient", 3),
                "trans": given("trans", 3), "betas": given("betas", self.num_betas)}
        return {k: v.requires_grad_(True) for k, v in free.items()}

    def forward(self, source_kpts: nn.Module, target_kpts: Tensor,
                initial_body_params: Optional[Mapping[str, Any]] = None) -> dict[str, Tensor]:
        """Run the stages; returns ``{'poZ_body', 'root_orient', 'trans', 'betas', 'pose_body'}``
        (detached; ``pose_body`` is ``(N, 63)``)."""
        target = torch.as_tensor(target_kpts)
        free = self._initial(target, initial_body_params or {})
        model = self.vp_model

        def body_params() -> dict[str, Tensor]:
            pose = model.decode(free["poZ_body"]).axis_angle.reshape(target.shape[0], 63)
            return {"pose_body": pose, "root_orient": free["root_orient"], "trans": free["trans"],
                    "betas": free["betas"]}

        def objective(weights: Mapping[str, float]) -> Tensor:
            terms = {"data": lambda: self.data_loss(source_kpts(body_params())["source_kpts"], target),
                     "poZ_body": lambda: free["poZ_body"].square().sum(),
                     "betas": lambda: free["betas"].square().sum()}
            return sum(float(w) * terms[k]() for k, w in weights.items() if k in terms)

        with frozen(model):
            for stage, weights in enumerate(self.stepwise_weights):
                loss = self._run_stage(list(free.values()), lambda w=weights: objective(w))
                self._log(f"IK stage {stage}: weights {weights}, loss {loss:.6g}")
        out = {k: v.detach() for k, v in free.items()}
        with torch.no_grad():
            out["pose_body"] = model.decode(out["poZ_body"]).axis_angle.reshape(target.shape[0], 63)
        return out

    def _run_stage(self, params: list, objective: Callable[[], Tensor]) -> float:
        args = dict(self.optimizer_args)
        if self.optimizer_type == "LBFGS":
            opt = torch.optim.LBFGS(params, **args)

            def closure() -> Tensor:
                opt.zero_grad()
                loss = objective()
                loss.backward()
                return loss

            opt.step(closure)
        else:
            iters, tolerance = int(args.pop("max_iter")), args.pop("tolerance_change")
            opt = torch.optim.Adam(params, **args)
            previous = None
            for _ in range(iters):
                opt.zero_grad()
                loss = objective()
                loss.backward()
                opt.step()
                value = float(loss.detach())
                if tolerance is not None and previous is not None \
                        and abs(previous - value) < float(tolerance):
                    break
                previous = value
        with torch.no_grad():
            return float(objective())
