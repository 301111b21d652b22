"""Pose completion: plausible values for the joints not given.

Given some joints' rotations (or some joint positions), each of ``K`` completions is found by
*perturb-then-optimise*: draw an anchor ``a_k ~ N(0, t^2 I)`` (seeded; ``t`` = ``temperature``),
start from it and minimise::

    E_k(z) = sum_{j known} theta_j(z)^2 / (2 sigma^2) + |z - a_k|^2 / 2

``theta_j`` is the geodesic angle between the decoded and the given rotation of joint ``j``;
``sigma`` the observation scale of :mod:`vposer.model.likelihood`. For a linear-Gaussian model the
minimisers are exact samples of the posterior ``p(z | known joints)``; here they are an
approximation that keeps what matters: the known joints are matched as well as the prior allows,
and the directions of the latent space that do not affect them stay as random as the prior
makes them, so the ``K`` completions differ where the data leave freedom. (Plain optimisation
from random starts with the ``|z|^2`` prior collapses to one answer.) Minimisation is batched
Levenberg-Marquardt over the ``K`` codes (:func:`~vposer.model.likelihood.fit_rotations`). Completions are scored with
:func:`~vposer.model.likelihood.log_likelihood`, half of its draws around each completion's code:
the encoder alone can guess badly for decoded poses far from the training data, which makes the
estimate needlessly loose.

Position completion (:func:`complete_positions`) fits the body to the known joint positions
with :func:`~vposer.fit.fit`, its prior term centred on the anchors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..body import BodyModel
from ..errors import InputError
from ..model.likelihood import DEFAULT_SAMPLES, DEFAULT_SIGMA, fit_rotations, log_likelihood
from ..model.vposer import VPoser, as_pose_batch
from ..rotations import axis_angle_to_matrix, geodesic_distance

__all__ = ["Completion", "complete", "complete_positions", "fit_rotations"]

DEFAULT_TEMPERATURE = 0.7


@dataclass
class Completion:
    """``K`` completions of one partial pose.

    Attributes:
        poses: ``(K, 21, 3)`` axis-angle; known joints hold exactly the given rotations (for
            rotation completion).
        z: ``(K, D)`` their latent codes.
        scores: ``(K,)`` log-likelihoods of ``poses`` (nats, :func:`log_likelihood`).
        known_error: ``(K,)`` mean geodesic angle (radians) between the decoded and the given
            known joints (rotation completion), or mean distance (metres) to the known joint
            positions (position completion).
        iterations: optimiser iterations.
    """

    poses: Tensor
    z: Tensor
    scores: Tensor
    known_error: Tensor
    iterations: int


def _anchors(model: VPoser, k: int, seed: int, temperature: float) -> Tensor:
    if k < 1:
        raise InputError(f"the number of completions must be >= 1, got {k}")
    return model.sample_latent(k, seed=seed, temperature=temperature)


def _mask(mask: Any) -> Tensor:
    m = torch.as_tensor(mask).reshape(-1).bool()
    if m.numel() != 21:
        raise InputError(f"the mask must have 21 entries (one per body joint), got {m.numel()}")
    if not m.any():
        raise InputError("the mask marks no joint as known: sample from the prior instead")
    return m


def complete(model: VPoser, pose: Any, mask: Any, k: int = 5, seed: int = 0,
             sigma: float = DEFAULT_SIGMA, temperature: float = DEFAULT_TEMPERATURE,
             max_iters: int = 50, score_samples: int = DEFAULT_SAMPLES) -> Completion:
    """``k`` plausible completions of a pose whose joints ``mask`` are known.

    Args:
        model: a VPoser.
        pose: ``(21, 3)`` or ``(63,)`` axis-angle; only the known joints are read.
        mask: ``(21,)`` booleans, True = known (fixed) joint, in SMPL body-joint order.
        k: number of completions; seed: seed of the anchors.
        sigma: how closely the decoded known joints must follow the given ones (radians).
        temperature: spread of the anchors (1 = the prior; lower = more typical completions).
        max_iters: Levenberg-Marquardt iterations.
        score_samples: importance samples of the scores (half of them around each completion's
            code, see :func:`log_likelihood`'s ``codes``).

    Returns:
        :class:`Completion`.
    """
    known = _mask(mask)
    given = as_pose_batch(pose, "pose")[:1].reshape(21, 3)
    rotations = axis_angle_to_matrix(given).expand(k, 21, 3, 3)
    anchors = _anchors(model, k, seed, temperature)
    z, its = fit_rotations(model, rotations, known, anchors, sigma, max_iters)
    with torch.no_grad():
        decoded = model.decode(z)
        idx = known.nonzero().squeeze(1).to(z.device)
        err = geodesic_distance(decoded.matrices.index_select(1, idx),
                                rotations.to(z).index_select(1, idx)).mean(1)
        poses = decoded.axis_angle.clone()
        poses[:, idx] = given.to(poses)[idx]
    scores = log_likelihood(model, poses, samples=max(score_samples, 2), sigma=sigma, seed=seed,
                            codes=z)
    return Completion(poses, z, scores, err, its)


def complete_positions(model: VPoser, body: BodyModel, joints: Any, mask: Any, k: int = 5, seed: int = 0,
                       temperature: float = DEFAULT_TEMPERATURE,
                       stages: list | None = None,
                       score_samples: int = DEFAULT_SAMPLES) -> Completion:
    """``k`` plausible poses whose joints ``mask`` sit at the given positions.

    Args:
        model, body: the VPoser and the body model.
        joints: ``(J, 3)`` positions (metres, world frame) of the body's first ``J`` joints.
        mask: ``(J,)`` booleans, True = position known.
        stages: weight stages of :func:`~vposer.fit.fit` (default: one stage with data weight
            1 and prior weight 1e-4 on ``|z - anchor|^2``: a 1 cm match).

    Returns:
        :class:`Completion`; root orientation and translation are fitted too but not returned.
    """
    from .fitting import fit
    from .targets import joint_targets

    pts = torch.as_tensor(joints, dtype=torch.float32).reshape(1, -1, 3)
    m = torch.as_tensor(mask).reshape(1, -1).bool()
    if m.shape[1] != pts.shape[1] or not m.any():
        raise InputError(f"the mask must have one entry per joint ({pts.shape[1]}) and mark at "
                         "least one known position")
    targets = joint_targets(pts.expand(k, -1, -1), confidence=m.float().expand(k, -1))
    anchors = _anchors(model, k, seed, temperature)
    result = fit(model, body, targets, init={"z": anchors}, prior_mean=anchors,
                 stages=stages or [{"data": 1.0, "poZ_body": 1e-4}])
    scores = log_likelihood(model, result.pose_body, samples=max(score_samples, 2), seed=seed,
                            codes=result.z)
    return Completion(result.pose_body.reshape(k, 21, 3), result.z, scores, result.mean_error,
                      result.iterations)
