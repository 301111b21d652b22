"""``human_body_prior.models.vposer_model``: the v2 (2021, ``V02_05``) VPoser class."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vposer._torchtools import eval_mode
from vposer.model import V2Layers, VPoserConfig
from vposer.model.networks import NormalHead
from vposer.rotations import rotation_6d_to_matrix

from ..train.vposer_smpl import numpy_latent

__all__ = ["BatchFlatten", "ContinousRotReprDecoder", "NormalDistDecoder", "VPoser"]


def _get(tree: Any, key: str, default: Any) -> Any:
    if tree is None:
        return default
    if isinstance(tree, dict):
        return tree.get(key, default)
    return getattr(tree, key, default)


class BatchFlatten(nn.Module):
    """Index 0 of ``encoder_net``: ``(N, ...)`` to ``(N, prod(...))``."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "batch_flatten"

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


class NormalDistDecoder(NormalHead):
    """Index 8 of ``encoder_net``: the package's mean/std head, returning
    ``Normal(mu, softplus(logvar))`` over ``(N, latentD)``, as the original."""

    def forward(self, x: Tensor) -> Normal:
        return Normal(*super().forward(x))


class ContinousRotReprDecoder(nn.Module):  # the original's spelling
    """Index 6 of ``decoder_net``: ``(N, 126)`` 6D numbers to ``(N * 21, 3, 3)`` matrices."""

    def forward(self, module_input: Tensor) -> Tensor:
        return rotation_6d_to_matrix(module_input.reshape(-1, 6))


class VPoser(V2Layers):
    """v2 VPoser with the original constructor ``VPoser(model_ps)`` and dict outputs;
    ``encoder_net(x)`` returns the posterior ``Normal`` and ``decoder_net(z)`` rotation matrices
    ``(N * 21, 3, 3)``, as in the original (same parameters and state-dict names)."""

    def __init__(self, model_ps: Any = None):
        params = _get(model_ps, "model_params", None)
        neurons = int(_get(params, "num_neurons", 512))
        latent = int(_get(params, "latentD", 32))
        super().__init__(VPoserConfig("v2", num_neurons=neurons, latent_dim=latent))
        self.latentD = latent
        self.num_joints = 21
        self.encoder_net[0] = BatchFlatten()
        self.encoder_net[8] = NormalDistDecoder(neurons, latent)
        self.decoder_net[6] = ContinousRotReprDecoder()

    def _encode_flat(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for layer in self.encoder_net[:8]:
            x = layer(x)
        return NormalHead.forward(self.encoder_net[8], x)

    def encode(self, pose_body: Tensor) -> Normal:
        return super().encode(pose_body)

    def decode(self, Zin: Tensor) -> dict:  # noqa: N803 (original name)
        out = super().decode(Zin)
        n = out.matrices.shape[0]
        return {"pose_body": out.axis_angle, "pose_body_matrot": out.matrices.reshape(n, 21, 9)}

    def forward(self, pose_body: Tensor) -> dict:
        q_z = self.encode(pose_body)
        result = self.decode(q_z.rsample())
        result.update({"poZ_body_mean": q_z.mean, "poZ_body_std": q_z.scale, "q_z": q_z})
        return result

    @torch.no_grad()
    def sample_poses(self, num_poses: int, seed: int | None = None) -> dict:
        z = numpy_latent(num_poses, self.latentD, seed, next(self.parameters()))
        with eval_mode(self):
            return self.decode(z)
