"""Fitting a body to targets with the VPoser latent as the pose parameterisation.

Free variables per sample: the latent body pose ``z`` ``(D,)``, the root orientation (axis-angle)
and translation, and optionally the shape ``betas``. The objective of sample ``i``, in stage ``s``
with weights ``w = stages[s]``::

    E_i = w['data'] * sum_k c_ik rho(|p_ik(z, root, trans, betas) - t_ik|^2)
        + w['poZ_body'] * |z_i|^2 + w['betas'] * |betas_i|^2

``c`` is the per-target confidence (0 = missing), ``rho`` the robust penalty
(:mod:`vposer.fit.robust`), ``p`` the body's joint, marker vertex or projected joint. A term whose
key is absent from a stage is dropped (as in the original's ``stepwise_weights``).

Procedure (defaults):

1. initialisation: ``z = 0``; root and translation by Procrustes alignment of the ``z = 0`` body to
   3D targets, or, for 2D keypoints, upright and facing the camera at the depth matching the
   keypoints' spread (:mod:`vposer.fit.init`);
2. a coarse stage with the pose fixed at ``z = 0`` that moves only the root and translation
   (for 2D keypoints from 4 facing directions, 90 degrees apart, keeping the best per sample);
3. the stages, each from where the previous one ended; the prior's weight falls stage after
   stage (from "typical pose" to "match the data"). With ``data = 1`` a prior weight ``w`` is
   the MAP under isotropic Gaussian target noise of ``sqrt(w)`` per coordinate (same weight for
   ``betas``): 3D targets (metres) ``w`` = 1e-2 then 1e-5 (10 cm, then 3 mm); 2D keypoints
   (pixels) 400, 60, 5 (20, 8, 2 px);
4. optimiser: batched Levenberg-Marquardt (``'lm'``, :mod:`vposer.model.lm`; at most 100
   iterations a stage, per-sample relative tolerance 1e-4), or ``'lbfgs'`` (strong Wolfe, 500
   iterations, tolerance 1e-6 on the batch's objective) or ``'adam'`` (lr 0.02, 500 steps);
5. ``restarts > 1``: the whole fit is repeated from ``restarts - 1`` more initial codes drawn
   from ``N(0, 0.5^2 I)`` (seeded) and each sample keeps its lowest final objective.

Robust penalty: Geman-McClure with scale 0.2 m (3D) or 100 px (2D) by default: quadratic for the
usual errors, a bounded cost for gross outliers.

Choosing the optimiser (``benchmarks/bench_fit.py``, one CPU core): LM converges per sample and is
the more accurate on small batches and on targets the model can reproduce (prior samples of the
shipped weights: 1.05 mm mean joint error against 1.6 mm for L-BFGS); on 1,000 real held-out
poses L-BFGS is about 4x faster (44 s against 196 s) at a similar error (11.5 against 12.3 mm
mean, 6.8 against 6.1 mm median), because its cost per iteration does not grow with the latent
size. On a GPU both run the whole batch at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .._torchtools import frozen
from ..body import BodyModel
from ..errors import InputError
from ..model import VPoser
from .init import align_3d, camera_guess, yaw_hypotheses
from .optim import OptimizerSettings, StageReport, run_stage
from .points import BodyPoints
from .robust import Penalty, penalty
from .targets import Targets

__all__ = ["DEFAULT_STAGES", "DEFAULT_ROBUST_SCALE", "FitResult", "fit", "frozen"]

DEFAULT_STAGES: dict[str, list[dict[str, float]]] = {
    "3d": [{"data": 1.0, "poZ_body": 1e-2, "betas": 1e-2},
           {"data": 1.0, "poZ_body": 1e-5, "betas": 1e-5}],
    "2d": [{"data": 1.0, "poZ_body": 400.0, "betas": 400.0},
           {"data": 1.0, "poZ_body": 60.0, "betas": 60.0},
           {"data": 1.0, "poZ_body": 5.0, "betas": 5.0}],
}
DEFAULT_ROBUST_SCALE = {"3d": 0.2, "2d": 100.0}
STAGE_KEYS = ("data", "poZ_body", "betas")
#: per optimizer: (iterations per stage, relative tolerance)
DEFAULT_ITERS = {"lm": (100, 1e-4), "lbfgs": (500, 1e-6), "adam": (500, 1e-6)}
YAW_HYPOTHESES = 4


@dataclass
class FitResult:
    """The fitted bodies.

    Attributes:
        z: ``(N, D)`` latent body poses.
        pose_body: ``(N, 63)`` axis-angle body poses (``model.decode(z)``).
        root_orient, trans: ``(N, 3)`` each.
        betas: ``(N, B)`` shape (``B = 0`` when not fitted).
        residuals: ``(N, K)`` distance of each target to its body point (metres or pixels),
            NaN for missing targets.
        mean_error: ``(N,)`` mean of the present targets' residuals.
        objective: ``(N,)`` final objective of each sample.
        iterations: optimiser iterations over all stages (coarse included).
        converged: ``(N,)`` the last stage stopped on its tolerance and the sample's objective
            had settled (see :mod:`vposer.fit.optim`).
        stages: per stage, ``{'weights', 'iterations', 'evaluations', 'converged'}``.
    """

    z: Tensor
    pose_body: Tensor
    root_orient: Tensor
    trans: Tensor
    betas: Tensor
    residuals: Tensor
    mean_error: Tensor
    objective: Tensor
    iterations: int
    converged: Tensor
    stages: list = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        """Numpy arrays for an ``.npz`` file (float32, CPU)."""
        out = {k: getattr(self, k).detach().cpu().float().numpy()
               for k in ("z", "pose_body", "root_orient", "trans", "betas", "residuals",
                         "mean_error", "objective")}
        out["converged"] = self.converged.cpu().numpy()
        out["iterations"] = np.asarray(self.iterations)
        return out


def _check_stages(stages: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    out = []
    for i, s in enumerate(stages):
        unknown = set(s) - set(STAGE_KEYS)
        if unknown:
            raise InputError(f"stage {i}: unknown weight(s) {sorted(unknown)}; known are "
                             f"{', '.join(STAGE_KEYS)}")
        out.append({k: float(v) for k, v in s.items()})
    if not out:
        raise InputError("at least one stage of weights is needed")
    return out


class _Problem:
    """The objective of one batch as a function of the flat variables ``x`` ``(N, P)``.

    ``layout`` names the columns of ``x``: ``z``, ``root_orient``, ``trans``, ``betas`` in that
    order, each optional (``z`` absent: the pose is ``fixed_mats``).
    """

    def __init__(self, model: VPoser, points: BodyPoints, targets: Targets, rho: Penalty,
                 layout: Sequence[tuple[str, int]], fixed_mats: Tensor | None = None):
        self.model, self.points, self.targets, self.rho = model, points, targets, rho
        self.layout = list(layout)
        self.fixed_mats = fixed_mats
        self.prior_mean: Tensor | None = None  # (N, D) centre of the z prior term, or zero
        self.weights: dict[str, float] = {"data": 1.0}

    def split(self, x: Tensor) -> dict[str, Tensor]:
        parts = torch.split(x, [size for _, size in self.layout], dim=1)
        return {name: part for (name, _), part in zip(self.layout, parts)}

    def _targets(self, rows: Tensor, copies: int = 1) -> Targets:
        n = len(self.targets)
        if rows.numel() == n and copies == 1:
            return self.targets
        return self.targets.select(rows.repeat(copies))

    def _prior_offset(self, z: Tensor, rows: Tensor, copies: int = 1) -> Tensor:
        if self.prior_mean is None:
            return z
        mean = self.prior_mean if rows.numel() == len(self.targets) else self.prior_mean[rows]
        return z - mean.repeat(copies, 1)

    def _data_residuals(self, v: dict[str, Tensor], targets: Targets) -> Tensor:
        """``(m, K, D)`` predicted minus target points."""
        mats = self.model.decode(v["z"]).matrices if "z" in v else \
            self.fixed_mats.expand(v["trans"].shape[0], -1, -1, -1)
        joints, verts = self.points(mats, v["root_orient"], v["trans"], v.get("betas"))
        return targets.predict(joints, verts) - targets.points

    def energy(self, rows: Tensor, x: Tensor) -> Tensor:
        """``(len(rows),)`` objective of the samples ``rows`` at their variables ``x``."""
        w, v, targets = self.weights, self.split(x), self._targets(rows)
        diff = self._data_residuals(v, targets)
        e = w.get("data", 0.0) * (targets.confidence * self.rho((diff * diff).sum(-1))).sum(1)
        if "z" in v and "poZ_body" in w:
            e = e + w["poZ_body"] * self._prior_offset(v["z"], rows).square().sum(1)
        if "betas" in v and "betas" in w:
            e = e + w["betas"] * (v["betas"] * v["betas"]).sum(1)
        return e

    def residuals(self, rows: Tensor, x: Tensor) -> Any:
        """The residual function at ``x`` with the robust weights frozen there (for LM): its
        squared sum is the objective for the L2 penalty and its Gauss-Newton model otherwise.
        It takes ``k * len(rows)`` rows (``k`` copies of the samples, copy-major)."""
        w, m = self.weights, rows.numel()
        with torch.no_grad():
            targets = self._targets(rows)
            diff = self._data_residuals(self.split(x), targets)
            d2 = (diff * diff).sum(-1)
            sqrt_w = (w.get("data", 0.0) * targets.confidence * self.rho.weight(d2)).sqrt()
        w_z, w_b = w.get("poZ_body", 0.0) ** 0.5, w.get("betas", 0.0) ** 0.5

        def fn(xx: Tensor) -> Tensor:
            copies = xx.shape[0] // m
            v = self.split(xx)
            diff = self._data_residuals(v, self._targets(rows, copies))
            parts = [(sqrt_w.repeat(copies, 1).unsqueeze(-1) * diff).reshape(xx.shape[0], -1)]
            if "z" in v:
                parts.append(w_z * self._prior_offset(v["z"], rows, copies))
            if "betas" in v:
                parts.append(w_b * v["betas"])
            return torch.cat(parts, 1)

        return fn

    def run(self, x: Tensor, weights: Mapping[str, float], settings: OptimizerSettings
            ) -> tuple[Tensor, StageReport]:
        self.weights = dict(weights)
        return run_stage(x, self.energy, settings, self.residuals)


def _rest_points(model: VPoser, points: BodyPoints, targets: Targets) -> tuple[Tensor, Tensor, Tensor]:
    """Pose matrices of ``z = 0`` ``(1, 21, 3, 3)``, the target points of that body at rest root
    and zero translation ``(1, K, 3)``, and its rest pelvis ``(3,)``."""
    dt, dev = targets.points.dtype, targets.points.device
    mats0 = model.decode(torch.zeros(1, model.latent_dim, dtype=dt, device=dev)).matrices
    zero = torch.zeros(1, 3, dtype=dt, device=dev)
    joints, verts = points(mats0, zero, zero, None)
    pts = verts if targets.kind == "markers" else joints.index_select(1, targets.indices)
    return mats0, pts, joints[0, 0]


def _coarse(problem: _Problem, settings: OptimizerSettings, root: Tensor, trans: Tensor,
            hypotheses: int) -> tuple[Tensor, Tensor, StageReport]:
    """Root and translation only, pose at ``z = 0``; several facing directions for 2D."""
    n = root.shape[0]
    targets = problem.targets
    if hypotheses > 1:
        root, trans = yaw_hypotheses(root, trans, hypotheses)
        problem.targets = targets.select(torch.arange(n, device=root.device).repeat(hypotheses))
    x, report = problem.run(torch.cat([root, trans], 1), {"data": 1.0}, settings)
    problem.targets = targets
    if hypotheses > 1:
        best = report.objective.view(hypotheses, n).argmin(0)
        rows = best * n + torch.arange(n, device=best.device)
        x = x[rows]
        report.objective = report.objective[rows]
        report.sample_converged = report.sample_converged[rows]
    return x[:, :3], x[:, 3:], report


def _fit_batch(model: VPoser, points: BodyPoints, targets: Targets, stages: list,
               settings: OptimizerSettings, rho: Penalty, fit_betas: bool, coarse: bool,
               init: Mapping[str, Tensor], prior_mean: Tensor | None) -> FitResult:
    dev, dt = targets.points.device, targets.points.dtype
    n, n_dim = len(targets), model.latent_dim
    mats0, rest_pts, pelvis = _rest_points(model, points, targets)
    if targets.is_3d:
        root, trans = align_3d(rest_pts, targets.points, targets.confidence, pelvis)
    else:
        root, trans = camera_guess(rest_pts, targets.points, targets.confidence, targets.camera,
                                   pelvis)
    root = init["root_orient"] if "root_orient" in init else root
    trans = init["trans"] if "trans" in init else trans
    reports = []
    if coarse:
        hyp = 1 if targets.is_3d or "root_orient" in init else YAW_HYPOTHESES
        rough = _Problem(model, points, targets, rho, [("root_orient", 3), ("trans", 3)], mats0)
        root, trans, rep = _coarse(rough, settings, root, trans, hyp)
        reports.append(({"data": 1.0}, rep))
    z = init["z"] if "z" in init else torch.zeros(n, n_dim, dtype=dt, device=dev)
    layout, parts = [("z", n_dim), ("root_orient", 3), ("trans", 3)], [z, root, trans]
    if fit_betas:
        layout.append(("betas", points.num_betas))
        parts.append(init["betas"] if "betas" in init else
                     torch.zeros(n, points.num_betas, dtype=dt, device=dev))
    problem = _Problem(model, points, targets, rho, layout)
    problem.prior_mean = prior_mean
    x = torch.cat(parts, 1)
    for weights in stages:
        x, rep = problem.run(x, weights, settings)
        reports.append((weights, rep))
    return _result(problem, x, reports)


def _result(problem: _Problem, x: Tensor, reports: list) -> FitResult:
    v = problem.split(x.detach())
    n = x.shape[0]
    with torch.no_grad():
        decoded = problem.model.decode(v["z"])
        every = torch.arange(n, device=x.device)
        diff = problem._data_residuals(v, problem._targets(every))
        d2 = (diff * diff).sum(-1)
        present = problem.targets.present
        residuals = torch.where(present, d2.sqrt(), torch.full_like(d2, float("nan")))
        count = present.sum(1)
        mean = torch.where(count > 0, torch.nan_to_num(residuals).sum(1) / count.clamp_min(1),
                           torch.full_like(d2[:, 0], float("nan")))
    last = reports[-1][1]
    return FitResult(
        z=v["z"], pose_body=decoded.axis_angle.reshape(n, 63).to(v["z"].dtype),
        root_orient=v["root_orient"],
        trans=v["trans"], betas=v["betas"] if "betas" in v else x.new_zeros(n, 0),
        residuals=residuals, mean_error=mean, objective=last.objective,
        iterations=sum(r.iterations for _, r in reports),
        converged=last.sample_converged.clone(),
        stages=[{"weights": w, "iterations": r.iterations, "evaluations": r.evaluations,
                 "converged": r.converged} for w, r in reports])


def _select(result: FitResult, rows: Tensor) -> FitResult:
    pick = {k: getattr(result, k)[rows] for k in ("z", "pose_body", "root_orient", "trans", "betas",
                                                  "residuals", "mean_error", "objective",
                                                  "converged")}
    return FitResult(**pick, iterations=result.iterations, stages=result.stages)


def fit(model: VPoser, body: BodyModel, targets: Targets, *,
        stages: Sequence[Mapping[str, float]] | None = None, optimizer: str = "lm",
        max_iters: int | None = None, rtol: float | None = None, lr: float | None = None,
        robust: str = "gmof", robust_scale: float | None = None, fit_betas: bool = False,
        coarse: bool = True, restarts: int = 1, seed: int = 0,
        init: Mapping[str, Any] | None = None, prior_mean: Any | None = None) -> FitResult:
    """Fit the body to the targets, every sample independently but in one batched optimisation.

    Args:
        model: a VPoser (its latent space parameterises the 21 body joints).
        body: the body model (:func:`vposer.load_body`); its device and dtype are used.
        targets: :func:`~vposer.fit.joint_targets`, :func:`~vposer.fit.marker_targets`,
            :func:`~vposer.fit.keypoint_targets` or :func:`~vposer.fit.load_targets`.
        stages: list of weight dicts with keys ``'data'``, ``'poZ_body'``, ``'betas'`` (see the
            module docstring for the objective and the defaults).
        optimizer: ``'lm'`` (batched Levenberg-Marquardt, default), ``'lbfgs'`` (strong-Wolfe
            line search) or ``'adam'``.
        max_iters: iterations per stage; rtol: relative tolerance ending a stage (defaults per
            optimizer in the module docstring).
        lr: step size (default 1 for L-BFGS, 0.02 for Adam).
        robust: ``'gmof'``, ``'smooth_l1'`` or ``'l2'``; robust_scale: its scale (default 0.2 m
            for 3D targets, 100 px for 2D).
        fit_betas: also fit the body's shape coefficients (needs a body with shape components).
        coarse: run the root/translation-only stage first.
        restarts: fits per sample from different initial codes; the best is kept.
        seed: seed of the restarts' initial codes.
        init: optional initial values ``'z'`` ``(N, D)``, ``'root_orient'``, ``'trans'``
            ``(N, 3)``, ``'betas'`` ``(N, B)``.
        prior_mean: ``(N, D)`` centre of the prior term, ``|z - prior_mean|^2`` (default 0;
            pose completion centres it on prior samples).

    Returns:
        :class:`FitResult`.
    """
    if torch.is_inference_mode_enabled():
        raise InputError("fit needs gradients, which torch.inference_mode() forbids: call it "
                         "outside inference mode (torch.no_grad() around it is fine)")
    kind = "3d" if targets.is_3d else "2d"
    stages = _check_stages(DEFAULT_STAGES[kind] if stages is None else stages)
    if restarts < 1:
        raise InputError(f"restarts must be >= 1, got {restarts}")
    if fit_betas and body.num_betas == 0:
        raise InputError(f"this {body.model_type} body has no shape components to fit "
                         "(fit_betas needs a SMPL-family model file)")
    rho = penalty(robust, DEFAULT_ROBUST_SCALE[kind] if robust_scale is None else robust_scale)
    defaults = DEFAULT_ITERS.get(optimizer, (100, 1e-6))
    settings = OptimizerSettings(optimizer, max_iters=defaults[0] if max_iters is None else max_iters,
                                 rtol=defaults[1] if rtol is None else rtol, lr=lr)
    dev, dt = body.device, body.dtype
    model_device = next(model.parameters()).device
    if model_device != dev:
        raise InputError(f"the model is on {model_device} and the body on {dev}: put both on "
                         "the same device")
    targets = targets.to(dev, dt)
    if targets.kind != "markers" and int(targets.indices.max()) >= body.num_joints:
        raise InputError(f"target joint index {int(targets.indices.max())} is beyond the body's "
                         f"{body.num_joints} joints")
    points = BodyPoints(body, targets.indices if targets.kind == "markers" else None,
                        num_betas=body.num_betas if fit_betas else 0)
    n = len(targets)
    init_t = {k: torch.as_tensor(v).to(dev, dt).reshape(n, -1) for k, v in (init or {}).items()}
    unknown = set(init_t) - {"z", "root_orient", "trans", "betas"}
    if unknown:
        raise InputError(f"unknown initial value(s) {sorted(unknown)}: use z, root_orient, trans, betas")
    mean = None if prior_mean is None else torch.as_tensor(prior_mean).to(dev, dt).reshape(n, -1)
    if restarts > 1:
        g = torch.Generator().manual_seed(int(seed))
        z0 = init_t.get("z", torch.zeros(n, model.latent_dim, dtype=dt, device=dev))
        extra = 0.5 * torch.randn(restarts - 1, n, model.latent_dim, generator=g).to(dev, dt)
        init_t = {k: v.repeat(restarts, 1) for k, v in init_t.items()}
        init_t["z"] = torch.cat([z0.unsqueeze(0), extra]).reshape(-1, model.latent_dim)
        targets = targets.select(torch.arange(n, device=dev).repeat(restarts))
        mean = None if mean is None else mean.repeat(restarts, 1)
    with frozen(model):
        result = _fit_batch(model, points, targets, stages, settings, rho, fit_betas, coarse, init_t,
                            mean)
    if restarts > 1:
        best = result.objective.view(restarts, n).argmin(0)
        result = _select(result, best * n + torch.arange(n, device=best.device))
    return result
