"""The two published VPoser layer layouts, with the exact state-dict key names of the releases.

- v1 (2019, ``vposer_v1_0``): layers named ``bodyprior_enc_*`` / ``bodyprior_dec_*``, leaky ReLU
  slope 0.2.
- v2 (2021, ``V02_05``): ``encoder_net`` / ``decoder_net`` ``nn.Sequential`` whose indices are part
  of the key names, LeakyReLU slope 0.01, and a second 512->512 linear in the encoder.

Both encoders return ``(mean, std)`` with ``std = softplus(second head)``; both decoders return
the raw ``(N, 126)`` 6D output; :class:`vposer.model.VPoser` provides the public API on top.
Dropout is skipped in eval mode and the decoder fuses bias and activation where torch allows.
"""
from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import NUM_JOINTS, POSE_DIM
from .vposer import VPoser, VPoserConfig, _DecoderLayers

__all__ = ["V1Layers", "V2Layers", "NormalHead", "ARCHITECTURES", "build_model"]


class _Flatten(nn.Module):
    """``(N, ...) -> (N, prod(...))``; index 0 of v2's encoder (no parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


class NormalHead(nn.Module):
    """v2's ``NormalDistDecoder``: two linear heads, mean and softplus standard deviation."""

    def __init__(self, num_feat_in: int, latent_dim: int):
        super().__init__()
        self.mu = nn.Linear(num_feat_in, latent_dim)
        self.logvar = nn.Linear(num_feat_in, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.mu(x), F.softplus(self.logvar(x))


class _Decode6D(nn.Module):
    """Index 6 of v2's decoder: no parameters; the rotation conversion happens in VPoser."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class V1Layers(VPoser):
    """VPoser with the layers of ``human_body_prior.train.vposer_smpl.VPoser`` (v1).

    Layer names are those of the release's state dict, which loads with no renaming.
    """

    slope = 0.2

    def __init__(self, config: VPoserConfig = VPoserConfig("v1")):
        super().__init__(config)
        n, latent_dim = config.num_neurons, config.latent_dim
        self.bodyprior_enc_bn1 = nn.BatchNorm1d(POSE_DIM)
        self.bodyprior_enc_fc1 = nn.Linear(POSE_DIM, n)
        self.bodyprior_enc_bn2 = nn.BatchNorm1d(n)
        self.bodyprior_enc_fc2 = nn.Linear(n, n)
        self.bodyprior_enc_mu = nn.Linear(n, latent_dim)
        self.bodyprior_enc_logvar = nn.Linear(n, latent_dim)
        self.dropout = nn.Dropout(p=0.1)
        self.bodyprior_dec_fc1 = nn.Linear(latent_dim, n)
        self.bodyprior_dec_fc2 = nn.Linear(n, n)
        self.bodyprior_dec_out = nn.Linear(n, NUM_JOINTS * 6)
        self._decoder = _DecoderLayers(self.bodyprior_dec_fc1, self.bodyprior_dec_fc2,
                                       self.bodyprior_dec_out, self.dropout)

    def _encode_flat(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, 63)`` axis-angle -> mean ``(N, D)``, std ``(N, D)``."""
        h = self.bodyprior_enc_bn1(x)
        h = F.leaky_relu(self.bodyprior_enc_fc1(h), self.slope)
        h = self.dropout(self.bodyprior_enc_bn2(h))
        h = F.leaky_relu(self.bodyprior_enc_fc2(h), self.slope)
        return self.bodyprior_enc_mu(h), F.softplus(self.bodyprior_enc_logvar(h))



class V2Layers(VPoser):
    """VPoser with the layers of ``human_body_prior.models.vposer_model.VPoser`` (v2).

    Layer names (``encoder_net.<i>``, ``decoder_net.<i>``) are those of V02_05's state dict once
    its ``vp_model.`` prefix is removed.
    """

    slope = 0.01

    def __init__(self, config: VPoserConfig = VPoserConfig("v2")):
        super().__init__(config)
        n, latent_dim = config.num_neurons, config.latent_dim
        self.encoder_net = nn.Sequential(
            _Flatten(),
            nn.BatchNorm1d(POSE_DIM),
            nn.Linear(POSE_DIM, n),
            nn.LeakyReLU(self.slope),
            nn.BatchNorm1d(n),
            nn.Dropout(0.1),
            nn.Linear(n, n),
            nn.Linear(n, n),
            NormalHead(n, latent_dim),
        )
        self.decoder_net = nn.Sequential(
            nn.Linear(latent_dim, n),
            nn.LeakyReLU(self.slope),
            nn.Dropout(0.1),
            nn.Linear(n, n),
            nn.LeakyReLU(self.slope),
            nn.Linear(n, NUM_JOINTS * 6),
            _Decode6D(),
        )
        net = self.decoder_net
        self._decoder = _DecoderLayers(cast(nn.Linear, net[0]), cast(nn.Linear, net[3]),
                                       cast(nn.Linear, net[5]), net[2])

    def _encode_flat(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, 63)`` axis-angle -> mean ``(N, D)``, std ``(N, D)``."""
        mean_std: tuple[Tensor, Tensor] = self.encoder_net(x)
        return mean_std



ARCHITECTURES: dict[str, type[VPoser]] = {"v1": V1Layers, "v2": V2Layers}


def build_model(config: VPoserConfig) -> VPoser:
    """A freshly initialised VPoser of ``config.architecture`` ('v1' or 'v2'), in eval mode."""
    return ARCHITECTURES[config.architecture](config).eval()
