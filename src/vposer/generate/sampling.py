"""The poses of one shard: latent draw (temperature, truncation), rejection, root, mixing.

Every random number comes from a per-shard, per-stream CPU generator (:func:`shard_generator`),
so the result depends on nothing but the model, the settings and the shard index. Without any
option, a shard's poses are exactly ``model.sample(count, seed=derive_seed(seed, shard))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .errors import GenerateError
from .plausibility import ScoreFn
from .settings import GenerateSettings, shard_generator

if TYPE_CHECKING:
    from ..model import LatentMixture, VPoser


MAX_ROUNDS = 64


@dataclass
class PoseBatch:
    """The poses of one shard, on the CPU.

    Attributes:
        pose_body: ``(n, 63)`` float32 axis-angle.
        z: ``(n, D)`` float32 latent codes (the encoder mean for mixed-in user poses).
        root_orient: ``(n, 3)`` float32 axis-angle, or None (root mode ``'none'``).
        from_user: ``(n,)`` bool, True where the pose is from the user's file (None: no mixing).
        user_index: ``(n,)`` int64 row in the user's file, -1 elsewhere (None: no mixing).
        drawn: latent codes drawn (more than the model samples kept when rejecting).
    """

    pose_body: np.ndarray
    z: np.ndarray
    root_orient: np.ndarray | None = None
    from_user: np.ndarray | None = None
    user_index: np.ndarray | None = None
    drawn: int = 0


def draw_latent(n: int, dim: int, generator: torch.Generator, settings: GenerateSettings,
                prior: LatentMixture | None = None) -> Tensor:
    """``(n, dim)`` float32 codes: ``temperature * N(0, I)``, optionally truncated to ``[-C, C]``.

    ``resample`` draws the truncated normal exactly by the inverse CDF (one uniform per
    component, float64); ``clip`` clamps normal draws. Without truncation this is
    ``torch.randn(n, dim, generator=generator)``, the draw of ``VPoser.sample_latent``.

    With a learned ``prior`` (``model.latent_prior``), each code takes ``dim + 1`` such numbers
    (:meth:`LatentMixture.codes`): the first picks the component and is never truncated, the
    others are the offset around the component's mean, truncated and scaled as above.
    """
    pick = int(prior is not None)  # leading columns that pick the component, never truncated
    c = settings.truncation
    if c is None:
        e = torch.randn(n, pick + dim, generator=generator)
    elif settings.truncation_mode == "clip":
        e = torch.randn(n, pick + dim, generator=generator)
        e[:, pick:].clamp_(-c, c)
    else:
        lo = float(torch.special.ndtr(torch.tensor(-c, dtype=torch.float64)))
        u = torch.rand(n, pick + dim, generator=generator, dtype=torch.float64)
        e = torch.empty_like(u)
        e[:, :pick] = torch.special.ndtri(u[:, :pick])
        e[:, pick:] = torch.special.ndtri(lo + u[:, pick:] * (1.0 - 2.0 * lo)).clamp_(-c, c)
        e = e.float()
    if prior is not None:
        return prior.codes(e, settings.temperature)
    return e * settings.temperature


def decode(model: VPoser, z: Tensor, chunk: int) -> Tensor:
    """``(n, 63)`` float32 CPU poses of CPU codes ``z`` ``(n, D)``."""
    if z.shape[0] == 0:
        return torch.zeros(0, 63)
    return model.decode_batched(z, chunk).pose_body.float().cpu()


def model_poses(model: VPoser, settings: GenerateSettings, shard: int, count: int,
                score: ScoreFn | None = None) -> tuple[Tensor, Tensor, int]:
    """``count`` model samples ``(pose_body (count, 63), z (count, D), codes drawn)``.

    With a score and a threshold in ``settings.plausibility``, samples scoring below it are
    dropped and more are drawn (rounds sized from the expected acceptance) until ``count`` remain.
    """
    gen = shard_generator(settings.seed, shard, "latent")
    dim = model.latent_dim
    if settings.reject_quantile is None or score is None:
        z = draw_latent(count, dim, gen, settings, model.latent_prior)
        return decode(model, z, settings.decode_chunk), z, count
    limit = float(settings.plausibility["threshold"])  # type: ignore[index]
    accept = max(1.0 - settings.reject_quantile, 0.02)
    poses, codes, kept, drawn = [], [], 0, 0
    for _ in range(MAX_ROUNDS):
        need = count - kept
        if need <= 0:
            break
        m = math.ceil(need / accept * 1.1) + 16
        z = draw_latent(m, dim, gen, settings, model.latent_prior)
        p = decode(model, z, settings.decode_chunk)
        ok = torch.nonzero(score(p) >= limit).flatten()[:need]
        poses.append(p[ok])
        codes.append(z[ok])
        kept, drawn = kept + len(ok), drawn + m
    if kept < count:
        raise GenerateError(
            f"shard {shard}: only {kept} of {count} samples passed the plausibility threshold after "
            f"{drawn} draws; lower --reject-implausible"
        )
    return torch.cat(poses), torch.cat(codes), drawn


def root_orientation(settings: GenerateSettings, shard: int, count: int) -> np.ndarray | None:
    """``(count, 3)`` root orientations for the root mode, or None for ``'none'``.

    ``upright`` is zero (the body's frame: y up); ``random-yaw`` turns about +y by an angle
    uniform in ``[-pi, pi)``.
    """
    if settings.root == "none":
        return None
    root = np.zeros((count, 3), dtype=np.float32)
    if settings.root == "random-yaw":
        gen = shard_generator(settings.seed, shard, "root")
        u = torch.rand(count, generator=gen, dtype=torch.float64)
        root[:, 1] = ((2.0 * u - 1.0) * math.pi).float().numpy()
    return root


def mix_in(model: VPoser, settings: GenerateSettings, shard: int, pose: Tensor, z: Tensor,
           user_poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``round(mix_ratio * n)`` rows (chosen at random) by random rows of ``user_poses``,
    in place; their codes become the encoder means. Returns ``(from_user, user_index)``."""
    n = pose.shape[0]
    gen = shard_generator(settings.seed, shard, "mix")
    m = math.floor(settings.mix_ratio * n + 0.5)
    rows = torch.randperm(n, generator=gen)[:m].sort().values
    picks = torch.randint(len(user_poses), (m,), generator=gen)
    from_user = np.zeros(n, dtype=bool)
    user_index = np.full(n, -1, dtype=np.int64)
    if m:
        chosen = torch.as_tensor(user_poses)[picks].float()
        with torch.no_grad():
            codes = model.encode(chosen).mean.float().cpu()
        pose[rows] = chosen
        z[rows] = codes
        from_user[rows.numpy()] = True
        user_index[rows.numpy()] = picks.numpy()
    return from_user, user_index


def shard_poses(model: VPoser, settings: GenerateSettings, shard: int, count: int, score: ScoreFn | None = None,
                user_poses: np.ndarray | None = None) -> PoseBatch:
    """All the poses of shard ``shard`` (``count`` samples), see the module docstring."""
    pose, z, drawn = model_poses(model, settings, shard, count, score)
    pose, z = pose.float().contiguous(), z.float().cpu().contiguous()
    batch = PoseBatch(pose.numpy(), z.numpy(), root_orientation(settings, shard, count), drawn=drawn)
    if settings.mix_ratio > 0 and user_poses is not None:
        batch.from_user, batch.user_index = mix_in(model, settings, shard, pose, z, user_poses)
        batch.pose_body, batch.z = pose.numpy(), z.numpy()
    return batch
