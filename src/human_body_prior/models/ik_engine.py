"""``human_body_prior.models.ik_engine``: inverse kinematics with the VPoser prior, original API.

``IK_Engine(vposer_expr_dir, data_loss, optimizer_args, stepwise_weights, display_rc, verbosity,
num_betas, logger)`` and ``forward(source_kpts, target_kpts, initial_body_params={})`` as in the
original package (see the spec's "IK engine" section). Free variables: ``poZ_body`` (the encoder
mean of ``initial_body_params['pose_body']``, by default of the zero pose; a given ``poZ_body``
is used when no ``pose_body`` is), ``root_orient``, ``trans`` and ``betas`` (zeros unless given,
``num_betas`` wide). Each closure evaluation decodes ``poZ_body`` into ``pose_body`` (N, 63), calls
``source_kpts(free_vars)`` and minimises::

    w['data'] * data_loss(source_kpts, target_kpts) + w['poZ_body'] * sum(z^2)
        + w['betas'] * sum(betas^2)            # a term absent from the stage's dict is dropped

for each stage dict of ``stepwise_weights`` in turn, with one optimiser for all stages (as the
original): ``LBFGS`` (lr 1, max_iter 100, tolerance_change 1e-5, history_size 100, strong Wolfe)
or ``ADAM`` (lr 1e-3, ``max_iter`` 100 steps a stage, stopping when the loss changes by less than
``tolerance_change``, 1e-5). Keys of ``optimizer_args`` the optimiser takes override these;
others are ignored. ``data_loss=None`` is ``SmoothL1Loss``.

Progress: with ``verbosity > 0`` each evaluation prints the original's line to stderr (or to
``logger``): ``it 12 -- [total loss = 3.41e-01] - data = 3.40e-01 | poZ_body = 1.02e-03``.
``verbosity > 1`` opened psbody mesh viewers in the original; here it prints the same lines
(pictures of fits: :func:`vposer.fit.overlay.render_overlay`).

The engine reads only what ``source_kpts`` returns under ``'source_kpts'``; with the compat
:class:`~human_body_prior.body_model.body_model.BodyModel` reading ``.Jtr`` does not skin the
mesh, which is most of the original's cost per evaluation. For new code, :func:`vposer.fit.fit`
fits batches to joints, markers or 2D keypoints with Levenberg-Marquardt, robust terms and masks.
"""
from __future__ import annotations

import sys
from typing import Any
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

import vposer
from vposer.fit.fitting import frozen

__all__ = ["IK_Engine", "AdamInClosure", "ik_fit", "visualize"]

_DEFAULTS = {
    "LBFGS": {"lr": 1.0, "max_iter": 100, "tolerance_change": 1e-5, "history_size": 100,
              "line_search_fn": "strong_wolfe"},
    "ADAM": {"lr": 1e-3, "max_iter": 100, "tolerance_change": 1e-5},
}
#: The ``optimizer_args`` keys each optimiser takes (its torch arguments, and ADAM's loop).
_KEYS = {
    "LBFGS": {"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
              "history_size", "line_search_fn"},
    "ADAM": {"lr", "betas", "eps", "weight_decay", "amsgrad", "max_iter", "tolerance_change"},
}
_FREE = ("poZ_body", "root_orient", "trans", "betas")


def _stderr_logger(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def _emit(logger: Any, text: str) -> None:
    """``logger(text)`` (the original's ``log2file``), or ``logger.info(text)`` (``logging``)."""
    if logger is None:
        _stderr_logger(text)
    elif callable(logger):
        logger(text)
    else:
        logger.info(text)


def progress_line(step: int, terms: Mapping[str, Tensor]) -> str:
    """The original's progress line for one evaluation of the weighted terms."""
    values = {k: float(v.detach().sum()) for k, v in terms.items()}
    detail = " | ".join("%s = %2.2e" % (k, v) for k, v in values.items())
    return f"it {step} -- [total loss = {sum(values.values()):.2e}] - {detail}"


def visualize(points: Any, bm_f: Any, mvs: Any, kpts_colors: Any, verbosity: int = 2,
              logger: Any = None) -> Callable[..., None]:
    """The original's per-step callback ``view(opt_objs, body_v, virtual_markers, opt_it)``:
    prints the progress line when ``verbosity > 0``; the psbody viewers it also drove are not
    provided (vposer.render / vposer.fit.overlay draw fits)."""

    def view(opt_objs: Mapping[str, Tensor], body_v: Any = None, virtual_markers: Any = None,
             opt_it: int = 0) -> None:
        if verbosity > 0:
            _emit(logger, progress_line(opt_it, opt_objs))

    return view


class AdamInClosure:
    """Adam driven like L-BFGS: ``step(closure)`` runs up to ``max_iter`` steps, stopping when
    the loss is NaN or changes by less than ``tolerance_change`` between steps."""

    def __init__(self, var_list: Sequence[Tensor], lr: float, max_iter: int = 100,
                 tolerance_change: float | None = 1e-5, **adam_args: Any):
        self.optimizer = torch.optim.Adam(var_list, lr, **adam_args)
        self.max_iter = int(max_iter)
        self.tolerance_change = tolerance_change

    def step(self, closure: Callable[[], Tensor]) -> Tensor | None:
        previous, loss = None, None
        for _ in range(self.max_iter):
            loss = closure()
            self.optimizer.step()
            value = float(loss.detach())
            if value != value:  # NaN
                break
            if previous is not None and self.tolerance_change is not None \
                    and abs(value - previous) < float(self.tolerance_change):
                break
            previous = value
        return loss

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()


def _pose_body(vp_model: Any, z: Tensor) -> Tensor:
    """``(N, 63)`` axis-angle decoded by any of the package's VPoser classes."""
    out = vp_model.decode(z)
    if isinstance(out, Mapping):
        out = out["pose_body"]
    elif hasattr(out, "axis_angle"):
        out = out.axis_angle
    return out.reshape(z.shape[0], 63)


def _weighted(weights: Mapping[str, float], terms: Mapping[str, Callable[[], Tensor]]) -> dict:
    return {k: terms[k]() * float(w) for k, w in weights.items() if k in terms}


def ik_fit(optimizer: Any, source_kpts_model: Callable, static_vars: Mapping[str, Tensor],
           vp_model: Any, extra_params: Mapping[str, Any] | None = None,
           on_step: Callable | None = None, gstep: int = 0) -> Callable:
    """The original's closure factory: ``fit(weights, free_vars)`` evaluates the weighted terms,
    back-propagates and returns the total; ``fit.gstep``, ``fit.free_vars`` and
    ``fit.final_loss`` hold the evaluation count, variables and last loss."""
    data_loss = (extra_params or {}).get("data_loss", nn.SmoothL1Loss(reduction="mean"))

    def fit(weights: Mapping[str, float], free_vars: dict) -> Tensor:
        fit.gstep += 1
        optimizer.zero_grad()
        free_vars["pose_body"] = _pose_body(vp_model, free_vars["poZ_body"])
        res = source_kpts_model(free_vars)
        terms = _weighted(weights, {
            "data": lambda: data_loss(res["source_kpts"], static_vars["target_kpts"]),
            "betas": lambda: free_vars["betas"].square().sum(),
            "poZ_body": lambda: free_vars["poZ_body"].square().sum()})
        total = torch.stack(list(terms.values())).sum()
        total.backward()
        if on_step is not None:
            body = res.get("body")
            on_step(terms, getattr(body, "v", None), res["source_kpts"].detach(), fit.gstep)
        fit.free_vars, fit.final_loss = dict(free_vars), total
        return total

    fit.gstep, fit.final_loss, fit.free_vars = gstep, None, {}
    return fit


class IK_Engine(nn.Module):  # noqa: N801 (original name)
    """Fit body parameters so that ``source_kpts`` keypoints reach target keypoints.

    Args:
        vposer_expr_dir: a VPoser release / native model (anything :func:`vposer.load_model`
            reads).
        data_loss: ``data_loss(source_kpts (N, K, 3), target_kpts (N, K, 3)) -> scalar``
            (the tutorials use ``torch.nn.MSELoss(reduction='sum')``; None: ``SmoothL1Loss``).
        optimizer_args: ``{'type': 'LBFGS' | 'ADAM', ...}`` (see the module docstring).
        stepwise_weights: one weight dict per stage, keys ``data`` (required), ``poZ_body``,
            ``betas``.
        display_rc: rows and columns of the original's viewers (kept, unused).
        verbosity: 0 silent; 1 and 2 print each evaluation's losses.
        num_betas: width of the ``betas`` optimised (when ``initial_body_params`` has none).
        logger: where progress lines go: a callable (the original's ``log2file``) or a
            ``logging.Logger``; None: stderr.
    """

    def __init__(self, vposer_expr_dir: str,
                 data_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
                 optimizer_args: Mapping[str, Any] | None = None,
                 stepwise_weights: Sequence[Mapping[str, float]] | None = None,
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
        weights = [{"data": 10.0, "poZ_body": 0.01, "betas": 0.5}] if stepwise_weights is None \
            else stepwise_weights
        if not isinstance(weights, (list, tuple)) or not all("data" in w for w in weights):
            raise ValueError("stepwise_weights should be a list of dictionaries, each with the "
                             f"term 'data': {weights}")
        self.stepwise_weights = [dict(w) for w in weights]
        self.data_loss = nn.SmoothL1Loss(reduction="mean") if data_loss is None else data_loss
        self.display_rc = display_rc
        self.verbosity = int(verbosity)
        self.num_betas = int(num_betas)
        self.logger = logger
        self.vp_model = vposer.load_model(vposer_expr_dir)
        for p in self.vp_model.parameters():
            p.requires_grad_(False)

    def _log(self, text: str) -> None:
        if self.verbosity > 0:
            _emit(self.logger, text)

    def _initial(self, target: Tensor, initial: Mapping[str, Any]) -> dict[str, Tensor]:
        n, dt, dev = target.shape[0], target.dtype, target.device
        model = self.vp_model.to(dev)

        def given(name: str, width: int) -> Tensor:
            value = initial.get(name)
            if value is None:
                return torch.zeros(n, width, dtype=dt, device=dev)
            return torch.as_tensor(value, dtype=dt, device=dev).reshape(n, -1).detach().clone()

        if initial.get("poZ_body") is not None and initial.get("pose_body") is None:
            z = given("poZ_body", model.latent_dim)
        else:  # the encoder mean of the given pose, else of the zero pose
            with torch.no_grad():
                z = model.encode(given("pose_body", 63)).mean.to(dt)
        free = {"poZ_body": z.clone(), "root_orient": given("root_orient", 3),
                "trans": given("trans", 3), "betas": given("betas", self.num_betas)}
        return {k: v.requires_grad_(True) for k, v in free.items()}

    def _optimizer(self, params: list) -> Any:
        args = dict(self.optimizer_args)
        if self.optimizer_type == "LBFGS":
            return torch.optim.LBFGS(params, **args)
        return AdamInClosure(params, **args)

    def forward(self, source_kpts: Callable, target_kpts: Tensor,
                initial_body_params: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
        """Run the stages; returns ``{'poZ_body', 'root_orient', 'trans', 'betas', 'pose_body'}``
        (detached; ``pose_body`` is ``(N, 63)``, decoded from the final ``poZ_body``)."""
        target = torch.as_tensor(target_kpts)
        free = self._initial(target, initial_body_params or {})
        model = self.vp_model
        optimizer = self._optimizer([free[k] for k in _FREE])
        step = 0

        def closure(weights: Mapping[str, float]) -> Tensor:
            nonlocal step
            step += 1
            optimizer.zero_grad()
            params = dict(free, pose_body=_pose_body(model, free["poZ_body"]))
            res = source_kpts(params)
            terms = _weighted(weights, {
                "data": lambda: self.data_loss(res["source_kpts"], target),
                "betas": lambda: free["betas"].square().sum(),
                "poZ_body": lambda: free["poZ_body"].square().sum()})
            total = sum(terms.values())
            total.backward()
            if self.verbosity > 0:
                _emit(self.logger, progress_line(step, terms))
            return total

        with frozen(model):
            for weights in self.stepwise_weights:
                optimizer.step(lambda w=weights: closure(w))
            out = {k: free[k].detach() for k in _FREE}
            with torch.no_grad():
                out["pose_body"] = _pose_body(model, out["poZ_body"])
        return out
