"""Reconstruction and distribution metrics of a pose prior (spec: "Pose-prior metrics used by the
field"). Each metric is one vectorised torch function (CPU or GPU); units follow the inputs
unless a name says otherwise (``_mm``, ``_deg``).

Reconstruction (a pose against its encode-decode):

- :func:`vertex_error_euclidean` - mean per-vertex Euclidean distance (what most papers call
  the "vertex-to-vertex" error);
- :func:`vertex_error_l1` - the mean absolute per-coordinate difference, ``mean|V_rec - V|``
  over vertices *and* x, y, z: the reference implementation's reconstruction loss and
  validation figure. It is about 0.5 x the Euclidean mean for isotropic errors;
- :func:`joint_geodesic_deg` - the rotation angle between reconstructed and original joint
  rotations, degrees;
- :func:`kl_per_dim` - KL of the encoder's posterior to ``N(0, I)`` per latent dimension.

Generation (a set of sampled poses):

- :func:`average_pairwise_distance` (APD, diversity);
- :func:`frechet_distance` (FID between Gaussian fits of two feature sets).

Nearest-neighbour metrics (dNN, precision / recall / coverage) are in
:mod:`vposer.evaluate.neighbours`, rotation ranges in :mod:`vposer.evaluate.plausibility`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError
from ..rotations import geodesic_distance

__all__ = [
    "active_units",
    "average_pairwise_distance",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_fit",
    "joint_geodesic_deg",
    "kl_per_dim",
    "vertex_error_euclidean",
    "vertex_error_l1",
]


def vertex_error_euclidean(v_rec: Tensor, v_orig: Tensor) -> Tensor:
    """Per-sample mean Euclidean vertex distance.

    Args:
        v_rec, v_orig: ``(N, V, 3)`` vertices (any unit; metres from the body models).

    Returns:
        ``(N,)``: ``mean_v ||v_rec[n, v] - v_orig[n, v]||``, in the unit of the inputs.
    """
    return (v_rec - v_orig).norm(dim=-1).mean(-1)


def vertex_error_l1(v_rec: Tensor, v_orig: Tensor) -> Tensor:
    """Per-sample mean absolute per-coordinate vertex difference (the reference's figure).

    Args:
        v_rec, v_orig: ``(N, V, 3)`` vertices.

    Returns:
        ``(N,)``: ``mean_{v, c} |v_rec[n, v, c] - v_orig[n, v, c]|`` (mean over the ``3 V``
        numbers), in the unit of the inputs.
    """
    return (v_rec - v_orig).abs().flatten(1).mean(-1)


def joint_geodesic_deg(r_rec: Tensor, r_orig: Tensor) -> Tensor:
    """Rotation angle between two sets of joint rotations, in degrees.

    Args:
        r_rec, r_orig: ``(..., 3, 3)`` rotation matrices, e.g. ``(N, 21, 3, 3)``.

    Returns:
        ``(...)`` angles of ``r_rec r_orig^T`` in ``[0, 180]`` degrees (exact near 0 and 180).
    """
    return torch.rad2deg(geodesic_distance(r_rec, r_orig))


def kl_per_dim(mean: Tensor, std: Tensor) -> Tensor:
    """Closed-form ``KL(N(mean, std^2) || N(0, 1))`` of each latent dimension, in nats.

    Args:
        mean, std: ``(N, D)`` parameters of the encoder's posterior.

    Returns:
        ``(N, D)``: ``0.5 (std^2 + mean^2 - 1 - log std^2)``. Summed over ``D`` and averaged over
        ``N`` it is the KL term of the training loss.
    """
    var = std * std
    return 0.5 * (var + mean * mean - 1.0 - torch.log(var.clamp_min(1e-30)))


def active_units(posterior_means: Tensor, threshold: float = 0.01) -> tuple[Tensor, Tensor]:
    """Active latent units (Burda et al. 2016): variance over the data of the posterior mean.

    Args:
        posterior_means: ``(N, D)`` encoder means of ``N`` data poses.
        threshold: a unit is active when its variance exceeds this (0.01, as Burda et al.).

    Returns:
        ``(D,)`` variances (unbiased, over the ``N`` poses) and ``(D,)`` booleans (active).
    """
    if posterior_means.shape[0] < 2:
        raise InputError("active units need the posterior means of at least 2 poses")
    var = posterior_means.double().var(dim=0)
    return var.to(posterior_means.dtype), var > threshold


def average_pairwise_distance(joints: Tensor, chunk: int = 256) -> Tensor:
    """APD: mean over ordered pairs of distinct samples of the mean per-joint Euclidean distance.

    ``APD = 1 / (N (N - 1)) * sum_{i != j} mean_k ||x_i[k] - x_j[k]||``. The field computes it on
    500 samples, 22 joints of the body posed with zero shape, and reports centimetres.

    Args:
        joints: ``(N, K, 3)`` joint positions (any unit), ``N >= 2``.
        chunk: rows of the ``(N, N)`` distance table computed at a time (bounds memory).

    Returns:
        Scalar tensor in the unit of ``joints`` (float64 accumulation).
    """
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise InputError(f"APD needs joints of shape (N, K, 3), got {tuple(joints.shape)}")
    n = joints.shape[0]
    if n < 2:
        raise InputError("APD needs at least 2 samples")
    total = joints.new_zeros((), dtype=torch.float64)
    for s in range(0, n, chunk):
        diff = joints[s:s + chunk, None] - joints[None]  # (c, N, K, 3)
        total = total + diff.norm(dim=-1).mean(-1).double().sum()
    return total / (n * (n - 1))


def gaussian_fit(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(F,)`` and unbiased covariance ``(F, F)`` (float64) of ``(N, F)`` features, ``N >= 2``."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise InputError(f"a Gaussian fit needs (N >= 2, F) features, got {tuple(features.shape)}")
    x = features.double()
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)


def _sqrt_psd(cov: Tensor) -> Tensor:
    """Symmetric square root of a positive semi-definite matrix (negative eigenvalues clipped)."""
    w, v = torch.linalg.eigh((cov + cov.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance_from_stats(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> Tensor:
    """Frechet (2-Wasserstein squared) distance between ``N(mu1, cov1)`` and ``N(mu2, cov2)``.

    ``||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))``, with the trace of the matrix
    square root computed as ``sum sqrt(eig(S1^(1/2) cov2 S1^(1/2)))`` (a symmetric PSD matrix, so
    singular covariances are fine). Float64; returns a scalar tensor, clipped at 0.
    """
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    s1 = _sqrt_psd(cov1)
    middle = s1 @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt
    return fd.clamp_min(0)


def frechet_distance(x: Tensor, y: Tensor) -> Tensor:
    """FID between the Gaussian fits of two feature sets.

    Args:
        x, y: ``(N, F)`` and ``(M, F)`` features, e.g. raw 63-D axis-angle poses (radians) or
            66-D joint positions (metres).

    Returns:
        Scalar float64 tensor, in squared feature units; 0 for identical sets.
    """
    if x.shape[-1] != y.shape[-1]:
        raise InputError(f"FID needs features of one width, got {x.shape[-1]} and {y.shape[-1]}")
    return frechet_distance_from_stats(*gaussian_fit(x), *gaussian_fit(y))
