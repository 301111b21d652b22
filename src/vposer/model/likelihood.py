"""How plausible is a body pose under VPoser: importance-weighted log-likelihood and ELBO.

VPoser's decoder is deterministic, so a likelihood needs an observation model ``p(x | z)``.
Ours (:class:`ObservationModel`): each of the 21 joint rotations of ``x`` is an isotropic
Gaussian perturbation, in the joint's tangent space, of the decoded rotation, with a fixed scale
``sigma`` (default 0.1 rad, 5.7 degrees)::

    log p(x | z) = sum_j [ -theta_j^2 / (2 sigma^2) - 1.5 log(2 pi sigma^2) ]
    theta_j = geodesic angle between x_j and decode(z)_j

Why this one: the geodesic angle is intrinsic to the rotation (unlike differences of axis-angle,
6D or matrix entries it does not depend on the joint's frame and has no wrap-around at pi), it is
the rotation error VPoser's training and evaluation already use, and ``sigma`` reads directly as
"how far from the decoded pose a joint may be". 0.1 rad is the order of a trained VPoser's
per-joint reconstruction error (the shipped weights on held-out CMU poses: mean 0.12, median
0.075 rad), so a pose the model represents scores by its latent prior, and a joint the model
cannot produce costs ``(theta / 0.1)^2 / 2`` nats: a joint turned 60 degrees away from anything
decodable costs about 55 nats. The normaliser is the small-``sigma`` one
(density with respect to the rotation vector's Lebesgue measure at the decoded rotation); it is
a constant, so rankings and thresholds do not depend on it.

Estimates (``z_k ~ q(z | x)``, the encoder's posterior, ``K`` samples)::

    log p(x) ~= logsumexp_k [log p(x|z_k) + log N(z_k; 0, I) - log q(z_k|x)] - log K
    ELBO      = mean_k log p(x|z_k) - KL(q(z|x) || N(0, I))      (KL in closed form)

The first is a lower bound in expectation that tightens as ``K`` grows (importance-weighted
autoencoder bound); the ELBO is the ``K = 1`` bound, cheaper and lower. Both are in nats per
pose, higher = more plausible. Draws come from a CPU generator (``seed``, default 0, or
``generator``; ``seed=None`` draws from torch's global generator, the package's one rule, see
:mod:`vposer._torchtools`), so the same call gives the same numbers on every run and device.

Threshold: :func:`calibrate_threshold` takes a quantile (default 5 %) of the scores of held-out
real poses; ``vposer score --calibrate`` does the same and ``--write-calibration DIR`` stores it
as ``plausibility.json`` beside a model, where :func:`read_calibration` finds it. For the shipped
weights (K = 16, sigma = 0.1, seed 0) on all 13,570 held-out test poses: 2.06 nats; it flags
every one of 2,000 of them with three joints turned by 60-120 degrees, and 0.1 % of 2,000 of
the model's own samples (0.75 % when they are drawn from N(0, I) instead of its latent prior).
The prior term is always ``N(0, I)``, the prior the network was trained against, also for a
model with a learned latent prior (:mod:`vposer.model.latent_prior`).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import torch
from torch import Tensor

from .._torchtools import eval_mode, frozen, make_generator
from .._types import PathLike
from ..constants import NUM_JOINTS
from ..errors import InputError
from ..rotations import axis_angle_to_matrix, geodesic_distance, matrix_to_axis_angle
from .lm import levenberg_marquardt
from .vposer import as_pose_batch

if TYPE_CHECKING:
    from .vposer import VPoser

__all__ = ["ObservationModel", "Calibration", "DEFAULT_SIGMA", "DEFAULT_SAMPLES",
           "log_likelihood", "elbo", "calibrate_threshold", "read_calibration",
           "write_calibration", "CALIBRATION_FILE", "fit_rotations", "map_codes", "posterior"]

DEFAULT_SIGMA = 0.1
DEFAULT_SAMPLES = 16
DEFAULT_CHUNK = 4096
CALIBRATION_FILE = "plausibility.json"
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class ObservationModel:
    """Isotropic tangent-space Gaussian on each joint rotation (see the module docstring)."""

    sigma: float = DEFAULT_SIGMA

    def __post_init__(self) -> None:
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise InputError(f"sigma must be a finite number > 0, got {self.sigma}")

    def log_prob(self, poses: Tensor, decoded: Tensor) -> Tensor:
        """``log p(x | z)`` for matrices ``poses`` and ``decoded`` ``(..., 21, 3, 3)``: ``(...)``."""
        theta = geodesic_distance(decoded, poses)
        s2 = self.sigma ** 2
        return -(theta * theta).sum(-1) / (2 * s2) - theta.shape[-1] * 1.5 * (_LOG_2PI + math.log(s2))


def _std_normal_log_prob(z: Tensor) -> Tensor:
    return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * _LOG_2PI


MIN_STD = 1e-6  # posterior scales below this (softplus underflow on odd inputs) are raised to it


def posterior(model: VPoser, poses: Tensor) -> tuple[Tensor, Tensor]:
    """The encoder's mean and standard deviation ``(N, D)`` each, the latter ``>= MIN_STD``."""
    q = model.encode(poses)  # its scale is kept positive where softplus underflows
    return q.mean, q.stddev.clamp_min(MIN_STD)


def _gaussian_log_prob(z: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``log N(z; mean, diag(std^2))`` summed over the last dimension, float64."""
    u = (z.double() - mean.double()) / std.double()
    return (-0.5 * u * u - torch.log(std.double()) - 0.5 * _LOG_2PI).sum(-1)


def _terms(model: VPoser, poses: Any, samples: int, obs: ObservationModel,
           gen: torch.Generator | None, chunk: int, codes: Tensor | None = None
           ) -> tuple[Tensor, Tensor, Tensor]:
    """``log p(x|z_k)`` and the importance log-weights ``log p(x|z_k) + log N(z_k) - log q(z_k)``,
    both ``(K, N)``, and the closed-form ``KL(q(z|x) || N(0, I))`` ``(N,)``; float64, CPU.

    ``q`` is the encoder's posterior; with ``codes`` ``(N, D)`` it is the even mixture of that
    posterior and the same Gaussian moved to ``codes``, sampled half from each (the
    deterministic-mixture / balance-heuristic estimator, still unbiased for ``p(x)``)."""
    ref = next(model.parameters())
    x = as_pose_batch(poses, "poses")
    n = x.shape[0]
    if codes is not None:
        codes = torch.as_tensor(codes).reshape(n, -1)
    out_px, out_w, out_kl = [], [], []
    with torch.no_grad(), eval_mode(model):
        for s in range(0, n, chunk):
            part = x[s:s + chunk].to(ref)
            m = part.shape[0]
            mean, std = posterior(model, part)
            eps = torch.randn(samples, m, model.latent_dim, generator=gen).to(ref)
            centre = mean.expand(samples, m, -1)
            if codes is not None:
                other = codes[s:s + chunk].to(ref)
                centre = torch.where((torch.arange(samples, device=ref.device) % 2 == 1)[:, None, None],
                                     other, mean)
            z = centre + std * eps  # (K, m, D)
            decoded = model.decode(z.reshape(-1, model.latent_dim)).matrices
            target = axis_angle_to_matrix(part.reshape(m, 21, 3)).expand(samples, m, 21, 3, 3)
            log_px_z = obs.log_prob(target, decoded.reshape(samples, m, 21, 3, 3)).double()
            log_q = _gaussian_log_prob(z, mean, std)
            if codes is not None:
                log_q = torch.logaddexp(log_q, _gaussian_log_prob(z, other, std)) - math.log(2)
            log_w = log_px_z + _std_normal_log_prob(z.double()) - log_q
            var = std.double() ** 2
            kl = 0.5 * (var + mean.double() ** 2 - 1.0 - torch.log(var)).sum(-1)
            out_px.append(log_px_z.cpu())
            out_w.append(log_w.cpu())
            out_kl.append(kl.cpu())
    return torch.cat(out_px, 1), torch.cat(out_w, 1), torch.cat(out_kl)


def log_likelihood(model: VPoser, poses: Any, samples: int = DEFAULT_SAMPLES,
                   sigma: float = DEFAULT_SIGMA, seed: int | None = 0,
                   generator: torch.Generator | None = None,
                   chunk_size: int = DEFAULT_CHUNK, codes: Any | None = None,
                   refine: int = 0) -> Tensor:
    """Importance-weighted estimate of ``log p(x)`` (nats), higher = more plausible.

    Args:
        model: a VPoser.
        poses: ``(N, 63)``, ``(N, 21, 3)`` or ``(N, 1, 21, 3)`` axis-angle body poses.
        samples: ``K``, draws from the encoder's posterior per pose.
        sigma: scale of the observation model, radians (see the module docstring).
        seed, generator: where the draws come from (default: seed 0; None: torch's global
            generator).
        chunk_size: poses processed at a time (memory ~ ``K * chunk_size`` decodes).
        codes: ``(N, D)`` latent codes known to decode near the poses (from a fit or a
            completion); half of the draws are then taken around them instead of the encoder's
            mean (a mixture proposal: the same quantity, estimated better when the encoder's
            guess is poor, as it can be off the training data).
        refine: without ``codes``, first find each pose's most probable code by this many
            Levenberg-Marquardt iterations (:func:`map_codes`) and use it as ``codes``.

    Returns:
        ``(N,)`` float64 on the CPU.
    """
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    if (codes is not None or refine > 0) and samples < 2:
        raise InputError("a mixture proposal (codes, refine) needs samples >= 2")
    if codes is None and refine > 0:
        codes = map_codes(model, poses, sigma, refine)
    _, log_w, _ = _terms(model, poses, int(samples), ObservationModel(sigma),
                         make_generator(seed, generator), chunk_size, codes)
    return torch.logsumexp(log_w, 0) - math.log(samples)


def elbo(model: VPoser, poses: Any, samples: int = 1, sigma: float = DEFAULT_SIGMA,
         seed: int | None = 0, generator: torch.Generator | None = None,
         chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """The evidence lower bound ``E_q[log p(x|z)] - KL(q || N(0, I))`` (nats), ``(N,)`` float64.

    The expectation is estimated with ``samples`` draws; the KL is exact. Arguments as in
    :func:`log_likelihood`.
    """
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    log_px_z, _, kl = _terms(model, poses, int(samples), ObservationModel(sigma),
                             make_generator(seed, generator), chunk_size)
    return log_px_z.mean(0) - kl


def fit_rotations(model: VPoser, rotations: Tensor, known: Tensor, anchors: Tensor,
                  sigma: float = DEFAULT_SIGMA, max_iters: int = 50, rtol: float = 1e-6,
                  start: Tensor | None = None) -> tuple[Tensor, int]:
    """Latent codes whose decoded joints match given rotations, batched.

    Minimises ``sum_{j known} theta_j^2 / (2 sigma^2) + |z - a|^2 / 2`` per row with
    Levenberg-Marquardt (:mod:`vposer.model.lm`), starting at the anchor ``a``.

    Args:
        rotations: ``(N, 21, 3, 3)`` target rotations (only the known joints are read).
        known: ``(21,)`` booleans, the same joints for every row.
        anchors: ``(N, D)`` prior centres (and starting points unless ``start`` is given).
        start: ``(N, D)`` starting codes instead of the anchors.

    Returns:
        ``(z (N, D), iterations)``.
    """
    ref = next(model.parameters())
    idx = known.reshape(-1).nonzero().squeeze(1).to(ref.device)
    target = rotations.to(ref).index_select(1, idx)  # (N, J, 3, 3)
    anchors = anchors.to(ref)
    inv_sigma = 1.0 / float(sigma)

    def residual_of(z: Tensor, rows: Tensor, copies: int) -> Tensor:
        mats = model.decode(z).matrices.index_select(1, idx)
        tgt = target[rows].repeat(copies, 1, 1, 1)
        rel = tgt.transpose(-1, -2) @ mats  # from the given to the decoded rotation
        offset = z - anchors[rows].repeat(copies, 1)
        both: Tensor = (0.5 ** 0.5) * torch.cat(
            [inv_sigma * matrix_to_axis_angle(rel).reshape(z.shape[0], -1), offset], 1)
        return both

    def cost(rows: Tensor, z: Tensor) -> Tensor:
        return residual_of(z, rows, 1).square().sum(1)

    def residuals(rows: Tensor, z: Tensor) -> Any:
        return lambda zz: residual_of(zz, rows, zz.shape[0] // len(rows))

    with frozen(model):
        x0 = anchors.clone() if start is None else start.to(ref).clone()
        z, its, _, _, _ = levenberg_marquardt(x0, cost, residuals, max_iters, rtol)
    return z, its


def map_codes(model: VPoser, poses: Any, sigma: float = DEFAULT_SIGMA, iters: int = 10) -> Tensor:
    """``(N, D)`` codes maximising ``log p(x|z) + log N(z; 0, I)`` for each pose, by
    Levenberg-Marquardt from the encoder's mean (:func:`fit_rotations`)."""
    x = as_pose_batch(poses, "poses")
    ref = next(model.parameters())
    with torch.no_grad(), eval_mode(model):
        start, _ = posterior(model, x.to(ref))
    rot = axis_angle_to_matrix(x.reshape(-1, NUM_JOINTS, 3))
    known = torch.ones(NUM_JOINTS, dtype=torch.bool)
    # the prior term |z - a|^2 / 2 with a = 0 is -log N(z) up to a constant; start at the mean
    z, _ = fit_rotations(model, rot, known, torch.zeros_like(start), sigma, iters, start=start)
    return z.detach()


@dataclass
class Calibration:
    """A plausibility threshold measured on held-out poses.

    Attributes:
        threshold: the ``quantile`` of the held-out poses' log-likelihoods: a pose scoring below
            it is less plausible than all but that fraction of real held-out poses.
        quantile, samples, sigma, seed: how it was measured (score with the same settings).
        num_poses: held-out poses used.
    """

    threshold: float
    quantile: float
    samples: int
    sigma: float
    seed: int
    num_poses: int


@overload
def calibrate_threshold(model: VPoser, heldout_poses: Any, quantile: float = ...,
                        samples: int = ..., sigma: float = ..., seed: int = ...,
                        details: Literal[False] = ...) -> float: ...


@overload
def calibrate_threshold(model: VPoser, heldout_poses: Any, quantile: float = ...,
                        samples: int = ..., sigma: float = ..., seed: int = ...,
                        *, details: Literal[True]) -> Calibration: ...


def calibrate_threshold(model: VPoser, heldout_poses: Any, quantile: float = 0.05,
                        samples: int = DEFAULT_SAMPLES, sigma: float = DEFAULT_SIGMA,
                        seed: int = 0, details: bool = False) -> float | Calibration:
    """The log-likelihood below which a pose is flagged implausible: the ``quantile`` of the
    scores of held-out (real, unseen in training) poses.

    Returns:
        The threshold (float), or the full :class:`Calibration` with ``details=True``.
    """
    if not 0 < quantile < 1:
        raise InputError(f"quantile must be in (0, 1), got {quantile}")
    scores = log_likelihood(model, heldout_poses, samples=samples, sigma=sigma, seed=seed)
    value = float(torch.quantile(scores, float(quantile)))
    cal = Calibration(value, float(quantile), int(samples), float(sigma), int(seed), len(scores))
    return cal if details else value


def write_calibration(calibration: Calibration, model_dir: PathLike) -> Path:
    """Store a calibration as ``plausibility.json`` in a (native) model directory (atomically)."""
    from ..fileio import write_json

    return write_json(Path(model_dir) / CALIBRATION_FILE, asdict(calibration), indent=2)


def read_calibration(model: VPoser) -> Calibration | None:
    """The calibration stored beside a loaded model's weights (``plausibility.json`` in the
    directory named by ``model.info['path']``), or None."""
    where = getattr(model, "info", {}).get("path")
    if not where:
        return None
    path = Path(where)
    path = (path if path.is_dir() else path.parent) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Calibration(**{k: doc[k] for k in Calibration.__dataclass_fields__})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"not a valid plausibility calibration ({exc})", path) from None
