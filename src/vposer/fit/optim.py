"""Staged minimisation of a batched objective: Levenberg-Marquardt, L-BFGS or Adam.

The free variables of ``N`` samples are one ``(N, P)`` tensor ``x``; the objective returns one
value per sample, ``cost(rows, x[rows]) -> (len(rows),)``. Samples are independent (no term
couples two of them), so one optimisation serves the whole batch:

- ``'lm'`` (default of :func:`vposer.fit.fit`): batched Levenberg-Marquardt
  (:mod:`vposer.model.lm`), each sample with its own damping and convergence; needs the residuals.
- ``'lbfgs'``: ``torch.optim.LBFGS`` with the strong-Wolfe line search on the summed objective
  (one line search for the whole batch).
- ``'adam'``: ``torch.optim.Adam`` on the summed objective.

For L-BFGS and Adam a stage stops when the relative change of the summed objective over one
check interval (``check_every`` iterations) falls to ``rtol`` or below, when L-BFGS stops by
itself (no descent left), or after ``max_iters`` iterations; a sample counts as converged when
its own objective changed by at most ``sample_rtol`` (relative) over the last interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import InputError
from ..model.lm import levenberg_marquardt

__all__ = ["OptimizerSettings", "StageReport", "run_stage", "OPTIMIZERS"]

OPTIMIZERS = ("lm", "lbfgs", "adam")
MAX_EVALS_PER_ITER = 4  # objective evaluations allowed per L-BFGS iteration (line searches)
CostFn = Callable[[Tensor, Tensor], Tensor]


@dataclass
class OptimizerSettings:
    """How one stage is minimised.

    Attributes:
        name: ``'lm'``, ``'lbfgs'`` or ``'adam'`` (see the module docstring).
        max_iters: iterations per stage (LM or L-BFGS iterations, or Adam steps).
        rtol: relative tolerance ending a stage (per sample for LM, see the module docstring).
        lr: step size of L-BFGS (default 1) and Adam (default 0.02).
        history_size: L-BFGS memory.
        check_every: iterations between convergence checks (L-BFGS, Adam).
        sample_rtol: relative change under which a sample is reported converged (L-BFGS, Adam).
    """

    name: str = "lm"
    max_iters: int = 50
    rtol: float = 1e-5
    lr: float | None = None
    history_size: int = 20
    check_every: int = 10
    sample_rtol: float = 1e-4

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.name!r}: use one of {', '.join(OPTIMIZERS)}")
        if self.max_iters < 0 or self.check_every < 1:
            raise InputError("max_iters must be >= 0 and check_every >= 1")

    @property
    def step_size(self) -> float:
        return float(self.lr) if self.lr is not None else (1.0 if self.name == "lbfgs" else 0.02)


@dataclass
class StageReport:
    """What one stage did.

    Attributes:
        iterations: optimiser iterations run.
        evaluations: objective evaluations (L-BFGS line searches evaluate several times).
        converged: every sample converged (LM) / the stage met its tolerance (L-BFGS, Adam).
        sample_converged: ``(N,)`` per-sample flags.
        objective: ``(N,)`` per-sample objective at the end.
    """

    iterations: int
    evaluations: int
    converged: bool
    sample_converged: Tensor
    objective: Tensor


def _lbfgs_iterations(opt: torch.optim.LBFGS) -> int:
    state = opt.state_dict()["state"]
    return int(state[0].get("n_iter", 0)) if 0 in state else 0


def run_stage(x: Tensor, cost: CostFn, settings: OptimizerSettings,
              residuals: Callable | None = None) -> tuple[Tensor, StageReport]:
    """Minimise the per-sample ``cost`` over ``x`` ``(N, P)``.

    Args:
        x: starting point (not modified).
        cost: ``cost(rows, x_rows) -> (len(rows),)``.
        residuals: for ``'lm'``, see :func:`vposer.model.lm.levenberg_marquardt`.

    Returns:
        ``(x, report)``.
    """
    n = x.shape[0]
    every = torch.arange(n, device=x.device)
    if x.shape[1] == 0 or settings.max_iters == 0:
        with torch.no_grad():
            value = cost(every, x).detach()
        return x, StageReport(0, 1, True, torch.ones(n, dtype=torch.bool, device=x.device), value)
    if settings.name == "lm":
        if residuals is None:
            raise InputError("the 'lm' optimizer needs a residual function")
        x, its, evals, ok, value = levenberg_marquardt(x, cost, residuals, settings.max_iters,
                                                       settings.rtol)
        return x, StageReport(its, evals, bool(ok.all()), ok, value)
    return _first_order(x.detach().clone().requires_grad_(True), cost, settings, every)


def _first_order(x: Tensor, cost: CostFn, settings: OptimizerSettings, every: Tensor
                 ) -> tuple[Tensor, StageReport]:
    evaluations = 0

    def closure() -> Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad(set_to_none=False)
        loss = cost(every, x).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        current = cost(every, x).detach()
    previous = current
    if settings.name == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=settings.step_size, max_iter=settings.check_every,
                                history_size=settings.history_size, tolerance_grad=1e-12,
                                tolerance_change=1e-15, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([x], lr=settings.step_size)
    iterations, converged = 0, False
    while iterations < settings.max_iters and not converged:
        chunk = min(settings.check_every, settings.max_iters - iterations)
        if settings.name == "lbfgs":
            group = opt.param_groups[0]
            group["max_iter"], group["max_eval"] = chunk, MAX_EVALS_PER_ITER * chunk
            before, evals_before = _lbfgs_iterations(opt), evaluations
            opt.step(closure)
            done = _lbfgs_iterations(opt) - before
            # fewer iterations than asked without running out of evaluations: L-BFGS stopped
            # by itself (no descent left along its direction, or a vanishing change)
            stopped = done < chunk and evaluations - evals_before < group["max_eval"]
        else:
            for _ in range(chunk):
                opt.step(closure)
            done, stopped = chunk, False
        iterations += done
        with torch.no_grad():
            previous, current = current, cost(every, x).detach()
        total_prev, total = float(previous.sum()), float(current.sum())
        change = abs(total_prev - total) / max(abs(total_prev), abs(total), 1e-30)
        converged = stopped or change <= settings.rtol or not torch.isfinite(current).all()
    delta = (previous - current).abs()
    scale = torch.maximum(current.abs(), previous.abs()).clamp_min(1e-12)
    report = StageReport(iterations, evaluations, converged, delta <= settings.sample_rtol * scale,
                         current)
    return x.detach(), report
