"""The training objectives of both releases (spec: "Training").

v2 (V02_05)::

    loss = w_kl * mean_batch(sum_latent KL(q || N(0, I)))
         + w_rec * L1(V_rec, V_orig)                              # metres, per coordinate
         [+ w_matrot * geodesic(R_rec, R_orig) + w_jtr * L1(J_rec, J_orig)]   # first epochs only

v1 (2019), with k = w_kl::

    loss = (1 - k) * 1000 * mean|V_orig - V_rec| + k * mean_batch(sum_latent KL)
         [+ (1 - k) * w_aa * mean_batch(sum of squared axis-angle differences)]  # first epochs only

Vertices and joints come from the body model posed with zero shape and zero root orientation.

Ours, optional (``loss_sample_mmd_wt``, off in both presets): a sample-matching term that also
trains the decoder on draws from the prior, ``+ w_mmd * MMD^2(J(decode(z)), J(x))`` with
``z ~ N(0, I)``, the joint positions ``J`` of the decoded samples against those of the batch
(:func:`joint_mmd`). The VAE objective alone fits what the decoder does on the encoder's codes;
this term makes what it does on the prior's look like the data too (generative moment matching,
Li et al. 2015).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping

import torch
from torch import Tensor
from torch.distributions import Normal

from ..rotations import geodesic_distance


@dataclass
class LossTerms:
    """The total loss and its named terms (each a scalar tensor), for logging."""

    total: Tensor
    terms: dict[str, Tensor]


def kl_to_standard_normal(posterior: Normal) -> Tensor:
    """``mean_batch(sum_latent KL(q || N(0, I)))`` in closed form; ``posterior`` batch (N, D)."""
    mu, std = posterior.mean, posterior.stddev
    var = std * std
    kl = 0.5 * (var + mu * mu - 1.0 - torch.log(var.clamp_min(1e-30)))
    return kl.sum(-1).mean()


def joint_mmd(generated: Tensor, data: Tensor, scales: tuple[float, ...] = (0.05, 0.2, 1.0)) -> Tensor:
    """Squared maximum mean discrepancy between two sets of posed joints (biased estimate).

    The kernel is a sum of inverse multiquadrics ``c / (c + |a - b|^2)`` over ``scales``
    (``c`` in square metres), wide enough for whole-body differences and narrow enough for one
    limb's.

    Args:
        generated: ``(N, J, 3)`` joint positions of decoded prior samples (gradients flow).
        data: ``(M, J, 3)`` joint positions of real poses.

    Returns:
        A scalar, zero when both sets are the same.
    """
    a, b = generated.flatten(1), data.flatten(1)

    def kernel(x: Tensor, y: Tensor) -> Tensor:
        d2 = torch.cdist(x, y).square()
        return sum(c / (c + d2) for c in scales).mean()  # type: ignore[return-value]

    return kernel(a, a) + kernel(b, b) - 2 * kernel(a, b)


def mean_vertex_distance(v_diff: Tensor) -> Tensor:
    """Mean per-vertex Euclidean distance (the validation metric ``val_loss``, metres).

    Args:
        v_diff: ``(N, V, 3)`` (or point-major ``(V, N, 3)``) reconstructed minus original
            vertices.
    """
    return v_diff.norm(dim=-1).mean()


def vposer_loss(
    recipe: str,
    weights: Mapping[str, float],
    extra_terms: bool,
    posterior: Normal,
    v_diff: Tensor,
    j_diff: Tensor,
    r_rec: Tensor,
    r_orig: Tensor,
    aa_rec: Tensor,
    aa_orig: Tensor,
    sample_mmd: Tensor | None = None,
) -> LossTerms:
    """The objective of ``recipe`` (``'v1'`` or ``'v2'``).

    Args:
        weights: the config's ``train_parms.loss_weights``.
        extra_terms: whether the early-epoch terms are on.
        v_diff: ``(N, V, 3)`` reconstructed minus original body vertices; j_diff: ``(N, J, 3)``
            the same for the body joints (the losses only see these differences, and only
            their means, so point-major ``(V, N, 3)`` / ``(J, N, 3)`` work too).
        r_rec, r_orig: ``(N, 21, 3, 3)`` rotations; aa_rec, aa_orig: ``(N, 21, 3)`` axis-angle.
        sample_mmd: :func:`joint_mmd` of decoded prior samples against the batch, added with
            weight ``loss_sample_mmd_wt`` when given.
    """
    kl = kl_to_standard_normal(posterior)
    terms: dict[str, Tensor] = {"kl": kl}
    if recipe == "v1":
        k = float(weights.get("loss_kl_wt", 0.005))
        rec = 1000.0 * v_diff.abs().mean()
        terms["rec_mm"] = rec
        total = (1 - k) * rec + k * kl
        if extra_terms:
            aa = (aa_orig - aa_rec).square().reshape(len(aa_rec), -1).sum(-1).mean()
            terms["aa"] = aa
            total = total + (1 - k) * float(weights.get("loss_aa_wt", 1.0)) * aa
    else:
        rec = v_diff.abs().mean()
        terms["rec"] = rec
        total = float(weights.get("loss_kl_wt", 0.005)) * kl + float(weights.get("loss_rec_wt", 4)) * rec
        if extra_terms:
            geo = geodesic_distance(r_rec, r_orig).mean()
            jtr = j_diff.abs().mean()
            terms.update(matrot=geo, jtr=jtr)
            total = total + float(weights.get("loss_matrot_wt", 2)) * geo + float(weights.get("loss_jtr_wt", 2)) * jtr
    if sample_mmd is not None:
        terms["sample_mmd"] = sample_mmd
        total = total + float(weights.get("loss_sample_mmd_wt", 0.0)) * sample_mmd
    terms["loss"] = total
    return LossTerms(total, terms)
