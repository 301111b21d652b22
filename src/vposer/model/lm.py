"""Batched Levenberg-Marquardt: every sample with its own damping, step and convergence test.

Fitting objectives are sums of squares (robust penalties through iteratively reweighted least
squares: the residual function is rebuilt at each iteration with the robust weights of the
current point frozen). Per sample with ``P`` free numbers, residuals ``r`` and their Jacobian
``J`` ``(M, P)``::

    (J^T J + lam (diag(J^T J) + eps I)) delta = -J^T r

A step is kept when it lowers the sample's true objective; the damping follows Nielsen's rule
(``lam *= max(1/3, 1 - (2 rho - 1)^3)`` after a kept step, ``rho`` = actual / predicted decrease;
``lam *= nu, nu *= 2`` after a dropped one). The Jacobian comes from forward-mode
differentiation with the ``P`` tangent directions stacked along the batch (one pass over a
``P``-times larger batch, in chunks of :data:`MAX_JVP_ROWS` rows).

A sample has converged when a kept step lowered its objective by less than ``rtol`` (relative),
when the linearised model predicts less than that, or when its damping grew past
:data:`MAX_DAMPING` (no step helps). Converged samples drop out of the computation, and the
stage ends when every sample has converged or after ``max_iters`` iterations. Unlike
first-order methods this copes with the very uneven curvature of a decoder's latent space
(directions that barely move the targets next to ones that move them a lot), converging in tens
of iterations where L-BFGS needs hundreds.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.autograd.forward_ad as fwad
from torch import Tensor

__all__ = ["levenberg_marquardt", "jacobian", "MAX_JVP_ROWS"]

MAX_JVP_ROWS = 65536  # samples x tangent directions per forward-mode pass
MIN_DAMPING, MAX_DAMPING, START_DAMPING = 1e-9, 1e8, 1e-3
ResidualFactory = Callable[[Tensor, Tensor], Callable[[Tensor], Tensor]]
CostFn = Callable[[Tensor, Tensor], Tensor]


def jacobian(fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Residuals ``(N, M)`` and their Jacobian ``(N, M, P)`` at ``x`` ``(N, P)``.

    ``fn`` must accept a batch of ``k * N`` rows (``k`` copies of the samples, copy-major).
    """
    n, p = x.shape
    per_pass = max(1, MAX_JVP_ROWS // max(n, 1))
    columns: list[Tensor] = []
    value: Tensor | None = None
    for start in range(0, p, per_pass):
        k = min(per_pass, p - start)
        rows = torch.arange(k * n, device=x.device)
        tangent = torch.zeros(k * n, p, dtype=x.dtype, device=x.device)
        tangent[rows, start + rows // n] = 1.0
        with fwad.dual_level():
            out = fn(fwad.make_dual(x.repeat(k, 1), tangent))  # type: ignore[no-untyped-call]
            primal, tangent_out = fwad.unpack_dual(out)  # type: ignore[no-untyped-call]
        if value is None:
            value = primal[:n]
        columns.append(tangent_out.reshape(k, n, -1))
    if value is None:  # no free numbers (p == 0): the residuals alone
        value = fn(x)
    return value, torch.cat(columns, 0).permute(1, 2, 0)


def levenberg_marquardt(x: Tensor, cost: CostFn, residuals: ResidualFactory, max_iters: int,
                        rtol: float) -> tuple[Tensor, int, int, Tensor, Tensor]:
    """Minimise a per-sample objective over ``x`` ``(N, P)``.

    Args:
        x: the starting point (not modified).
        cost: ``cost(rows, x_rows)`` -> ``(len(rows),)`` true objective of the samples ``rows``.
        residuals: ``residuals(rows, x_rows)`` -> a function of ``k * len(rows)`` rows of
            parameters returning their residuals, whose squared sum approximates the objective
            near ``x_rows`` (robust weights frozen there).

    Returns:
        ``(x, iterations, evaluations, converged (N,), objective (N,))``.
    """
    with torch.no_grad():
        x = x.detach().clone()
        n, p_dim = x.shape
        every = torch.arange(n, device=x.device)
        value = cost(every, x).detach()
        lam = torch.full((n,), START_DAMPING, dtype=x.dtype, device=x.device)
        nu = torch.full_like(lam, 2.0)
        converged = ~torch.isfinite(value)
        eye = torch.eye(p_dim, dtype=x.dtype, device=x.device)
        iterations = evaluations = 0
        while iterations < max_iters and not bool(converged.all()):
            iterations += 1
            rows = (~converged).nonzero().squeeze(1)
            xa, va, la = x[rows], value[rows], lam[rows]
            r, jac = jacobian(residuals(rows, xa), xa)
            jtj = jac.transpose(1, 2) @ jac
            grad = (jac.transpose(1, 2) @ r.unsqueeze(-1)).squeeze(-1)
            damped = jtj + la[:, None, None] * (torch.diag_embed(jtj.diagonal(dim1=1, dim2=2)) + 1e-9 * eye)
            step = torch.linalg.solve(damped, -grad.unsqueeze(-1)).squeeze(-1)
            step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
            trial = xa + step
            new = cost(rows, trial).detach()
            evaluations += 1
            predicted = -(2 * (grad * step).sum(-1)
                          + (step.unsqueeze(1) @ jtj @ step.unsqueeze(-1)).reshape(-1))
            actual = va - new
            better = (new < va) & torch.isfinite(new)
            ratio = actual / predicted.clamp_min(1e-30)
            shrink = torch.clamp(1 - (2 * ratio - 1) ** 3, min=1 / 3)
            la = torch.where(better, (la * shrink).clamp_min(MIN_DAMPING), la * nu[rows])
            nu[rows] = torch.where(better, torch.full_like(la, 2.0), nu[rows] * 2)
            done = (better & (actual <= rtol * va.abs())) | (predicted <= rtol * va.abs())
            done |= (la >= MAX_DAMPING) | (torch.where(better, new, va) <= 0)
            x[rows] = torch.where(better[:, None], trial, xa)
            value[rows] = torch.where(better, new, va)
            lam[rows] = la.clamp_max(MAX_DAMPING)
            converged[rows] = done
    return x, iterations, evaluations, converged, value
