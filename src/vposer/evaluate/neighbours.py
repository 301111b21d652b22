"""Nearest-neighbour metrics: dNN to the training set and precision / recall / density / coverage.

dNN (DPoser's definition): for each sample, the smallest, over the training poses, of the sum over
the 21 body joints of the quaternion geodesic ``2 acos(|<q1, q2>|)`` (the rotation angle between
the two joint rotations, radians); averaged over samples. Published tables (about 0.07 rad for
V02_05) look like the *per-joint mean*, the sum divided by 21: both are reported.

- ``exact``: every training pose, in float64 (``acos`` near 1 loses about 3e-4 rad per joint
  in float32), in chunks that bound memory; cost ``N x M x 21`` angles.
- ``approx``: a shortlist of the ``shortlist`` training poses nearest in Euclidean distance of
  the stacked ``w >= 0`` quaternions (84-D; one float32 matrix product), then the exact sum on
  those only. The chord ``|q1 - q2|^2 = 2 - 2 cos(theta / 2) ~ theta^2 / 4`` ranks candidates
  nearly as the geodesic does, so the shortlist almost always holds the true nearest pose. The
  result is never below the exact one (a minimum over a subset) and equals it when the true
  nearest pose is shortlisted.

Precision / recall (Kynkaenniemi et al. 2019) and density / coverage (Naeem et al. 2020) with the
``k``-nearest-neighbour balls of each set (``r_k(x)``: distance from ``x`` to its ``k``-th
nearest other point of its own set), boundaries included (``<=``):

- precision = share of generated points inside the ball of at least one real point;
- recall = share of real points inside the ball of at least one generated point;
- density = ``1 / (k M) sum_j #{i: ||y_j - x_i|| <= r_k(x_i)}`` (may exceed 1);
- coverage = share of real points whose ball holds at least one generated point.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError

__all__ = ["knn_radii", "nearest_neighbour_distance", "precision_recall_coverage"]

_ANGLES_PER_CHUNK = 1 << 23  # (n, m, 21) float64 angles computed at a time


def _unit64(q: Tensor) -> Tensor:
    """Quaternions in float64, renormalised so that ``<q, q> = 1`` to 1e-16: a pose's distance to
    itself is then below 1e-6 rad (float32 quaternions give about 0.01 rad over 21 joints)."""
    q = q.double()
    return q / q.norm(dim=-1, keepdim=True)


def _pose_angle_sums(q: Tensor, ref: Tensor) -> Tensor:
    """``(n, J, 4)`` and ``(m, J, 4)`` unit float64 quaternions -> ``(n, m)`` sums of joint angles."""
    dots = torch.einsum("njc,mjc->nmj", q, ref).abs().clamp_max(1.0)
    return 2.0 * torch.acos(dots).sum(-1)


def _exact_min(q: Tensor, train_q: Tensor) -> Tensor:
    n, m = q.shape[0], train_q.shape[0]
    best = torch.full((n,), float("inf"), dtype=torch.float64, device=q.device)
    rows = max(1, min(n, 256))
    cols = max(1, _ANGLES_PER_CHUNK // (rows * q.shape[1]))
    q = _unit64(q)
    for t in range(0, m, cols):
        ref = _unit64(train_q[t:t + cols])
        for s in range(0, n, rows):
            d = _pose_angle_sums(q[s:s + rows], ref)
            best[s:s + rows] = torch.minimum(best[s:s + rows], d.min(dim=1).values)
    return best


def _approx_min(q: Tensor, train_q: Tensor, shortlist: int) -> Tensor:
    n, m = q.shape[0], train_q.shape[0]
    k = min(shortlist, m)
    x = q.reshape(n, -1).float()
    ref = train_q.reshape(m, -1).float()
    ref_sq = ref.square().sum(-1)
    rows = max(1, min(n, (1 << 26) // max(m, 1)))
    best = torch.empty(n, dtype=torch.float64, device=q.device)
    for s in range(0, n, rows):
        part = x[s:s + rows]
        # squared distances up to a per-row constant: |ref|^2 - 2 <x, ref>
        proxy = torch.addmm(ref_sq.unsqueeze(0), part, ref.T, alpha=-2.0)
        idx = proxy.topk(k, dim=1, largest=False).indices  # (r, k)
        cand = _unit64(train_q[idx])  # (r, k, J, 4)
        dots = (_unit64(q[s:s + rows, None]) * cand).sum(-1).abs().clamp_max(1.0)
        best[s:s + rows] = (2.0 * torch.acos(dots).sum(-1)).min(dim=1).values
    return best


def nearest_neighbour_distance(samples_q: Tensor, train_q: Tensor, mode: str = "exact",
                               shortlist: int = 128) -> Tensor:
    """dNN of each sample: the smallest sum of joint angles to any training pose (radians).

    Args:
        samples_q: ``(N, J, 4)`` joint quaternions of the samples (J = 21 for body poses).
        train_q: ``(M, J, 4)`` joint quaternions of the training poses (same device).
        mode: ``'exact'`` or ``'approx'`` (see the module docstring).
        shortlist: candidates per sample in ``'approx'`` mode.

    Returns:
        ``(N,)`` float64 sums over the ``J`` joints of ``2 acos(|<q1, q2>|)``, radians; divide by
        ``J`` for the per-joint mean.
    """
    if samples_q.ndim != 3 or samples_q.shape[1:] != train_q.shape[1:] or samples_q.shape[-1] != 4:
        raise InputError(f"dNN needs (N, J, 4) and (M, J, 4) quaternions, got "
                         f"{tuple(samples_q.shape)} and {tuple(train_q.shape)}")
    if train_q.shape[0] == 0:
        raise InputError("dNN needs at least one training pose")
    if mode == "exact":
        return _exact_min(samples_q, train_q)
    if mode == "approx":
        return _approx_min(samples_q, train_q, shortlist)
    raise InputError(f"unknown dNN mode {mode!r}: use 'exact' or 'approx'")


def _distances(a: Tensor, b: Tensor) -> Tensor:
    """``(n, F)``, ``(m, F)`` -> ``(n, m)`` Euclidean distances in float64 (accurate near 0)."""
    a, b = a.double(), b.double()
    d2 = a.square().sum(-1, keepdim=True) + b.square().sum(-1) - 2.0 * a @ b.T
    return d2.clamp_min(0).sqrt()


def knn_radii(x: Tensor, k: int, chunk: int = 1024) -> Tensor:
    """``(N,)`` distance from each of ``(N, F)`` points to its ``k``-th nearest other point."""
    n = x.shape[0]
    if not 1 <= k < n:
        raise InputError(f"k-NN radii need 1 <= k < number of points, got k={k}, n={n}")
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    for s in range(0, n, chunk):
        d = _distances(x[s:s + chunk], x)
        # the k+1 smallest include the point itself (distance 0)
        out[s:s + chunk] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def precision_recall_coverage(real: Tensor, fake: Tensor, k: int = 5, chunk: int = 1024,
                              real_radii: Tensor | None = None) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` (module docstring).

    Args:
        real: ``(N, F)`` reference features (e.g. held-out poses' joint positions).
        fake: ``(M, F)`` generated features. Equal sizes are the usual protocol.
        k: neighbours defining each point's ball (5, as Naeem et al.).
        real_radii: precomputed ``knn_radii(real, k)``, to reuse across models.

    Returns:
        ``{'precision', 'recall', 'density', 'coverage'}`` as floats in ``[0, 1]`` (density may
        exceed 1).
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise InputError(f"P/R needs (N, F) and (M, F) features, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    r_real = knn_radii(real, k, chunk) if real_radii is None else real_radii.double()
    r_fake = knn_radii(fake, k, chunk)
    inside_count = torch.zeros(fake.shape[0], dtype=torch.float64, device=fake.device)
    recalled = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for s in range(0, fake.shape[0], chunk):
        d = _distances(real, fake[s:s + chunk])  # (N, c)
        inside = d <= r_real.unsqueeze(1)  # fake j in the ball of real i
        inside_count[s:s + chunk] = inside.sum(0).double()
        covered |= inside.any(1)
        recalled |= (d <= r_fake[s:s + chunk].unsqueeze(0)).any(1)
    return {
        "precision": (inside_count > 0).double().mean().item(),
        "recall": recalled.double().mean().item(),
        "density": (inside_count.sum() / (k * fake.shape[0])).item(),
        "coverage": covered.double().mean().item(),
    }
