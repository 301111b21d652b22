"""The training objectives of both releases (spec: "Training").

v2 (V02_05)::

    loss = w_kl * mean_batch(sum_latent KL(q || N(0, I)))
         + w_rec * L1(V_rec, V_orig)                              # metres, per coordinate
         [+ w_matrot * geodesic(R_rec, R_orig) + w_jtr * L1(J_rec, J_orig)]   # first epochs only

v1 (2019), with k = w_kl::

    loss = (1 - k) * 1000 * mean|V_orig - V_rec| + k * mean_batch(sum_latent KL)
         [+ (1 - k) * w_aa * mean_batch(sum of squared axis-angle differences)]  # first epochs only

Vertices and joints come from the body model posed with zero shape and zero root orientation.
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
) -> LossTerms:
    """The objective of ``recipe`` (``'v1'`` or ``'v2'``).

    Args:
        weights: the config's ``train_parms.loss_weights``.
        extra_terms: whether the early-epoch terms are on.
        v_diff: ``(N, V, 3)`` reconstructed minus original body vertices; j_diff: ``(N, J, 3)``
            the same for the body joints (the losses only see these differences, and only
            their means, so point-major ``(V, N, 3)`` / ``(J, N, 3)`` work too).
        r_rec, r_orig: ``(N, 21, 3, 3)`` rotations; aa_rec, aa_orig: ``(N, 21, 3)`` axis-angle.
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
    terms["loss"] = total
    return LossTerms(total, terms)
