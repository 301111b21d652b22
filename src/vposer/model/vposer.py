"""The VPoser API shared by both architectures: encode, decode, sample.

Poses are the 21 SMPL body joints (pelvis excluded) in SMPL order, as axis-angle ``(N, 21, 3)``
or rotation matrices ``(N, 21, 3, 3)``. Inputs may also be ``(N, 63)`` or ``(N, 1, 21, 3)``.
Latent codes are ``(N, D)`` with ``D = config.latent_dim`` (32 in the releases).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Normal

from .._torchtools import eval_mode, make_generator
from ..constants import NUM_JOINTS, POSE_DIM
from ..errors import InputError
from .latent_prior import LatentMixture
from .fast_rotations import SMALL_BATCH, sixd_to_matrix_and_axis_angle, sixd_to_matrix_and_axis_angle_numpy

#: Codes decoded at a time on the CPU when no gradient is recorded: a block's activations
#: (2048 x 512 floats) stay in the caches, which makes 64k codes ~1.5x faster than one pass.
CPU_BLOCK = 2048
#: Default of ``chunk_size``: the most codes decoded at a time on other devices.
DEFAULT_CHUNK = 65536


@dataclass(frozen=True)
class VPoserConfig:
    """What defines a VPoser network.

    Attributes:
        architecture: ``'v1'`` (vposer_v1_0 layout) or ``'v2'`` (V02_05 layout).
        num_neurons: hidden width (512 in both releases).
        latent_dim: latent size (32 in both releases).
    """

    architecture: str = "v2"
    num_neurons: int = 512
    latent_dim: int = 32

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "num_neurons": self.num_neurons,
                "latent_dim": self.latent_dim}


class DecodedPoses(NamedTuple):
    """Decoded body poses.

    Attributes:
        axis_angle: ``(N, 21, 3)`` axis-angle, angles in ``[0, pi]``.
        matrices: ``(N, 21, 3, 3)`` rotation matrices (column-vector convention).
    """

    axis_angle: Tensor
    matrices: Tensor

    @property
    def pose_body(self) -> Tensor:
        """``(N, 63)`` flattened axis-angle, the layout of SMPL's ``pose_body``."""
        return self.axis_angle.reshape(self.axis_angle.shape[0], POSE_DIM)


class VPoserOutput(NamedTuple):
    """Result of :meth:`VPoser.forward` (an encode-sample-decode pass, as in training).

    Attributes:
        posterior: the encoder's ``Normal`` over latent codes, batch shape ``(N, D)``.
        z: ``(N, D)`` the reparameterised sample that was decoded.
        decoded: the decoded poses of ``z``.
    """

    posterior: Normal
    z: Tensor
    decoded: DecodedPoses


class _DecoderLayers(NamedTuple):
    """The decoder's layers, referenced once at construction (the architectures name them
    differently; looking them up per call costs microseconds at batch 1)."""

    fc1: nn.Linear
    fc2: nn.Linear
    out: nn.Linear
    dropout: nn.Module


class VPoser(nn.Module):
    """The variational body-pose prior. Build with :func:`vposer.model.build_model` or load with
    :func:`vposer.load_model`; subclasses hold the release layer layouts.

    Attributes:
        config: the architecture and sizes.
        info: where the weights came from (``source``, ``format``, ``snapshot``) and the training
            configuration when the source carried one.
    """

    #: leaky-ReLU slope of the architecture
    slope: float
    #: the decoder's layers, set by the architecture
    _decoder: _DecoderLayers

    def __init__(self, config: VPoserConfig):
        super().__init__()
        self.config = config
        self.info: dict[str, Any] = {}
        self._latent_prior: LatentMixture | None = None

    # -- raw layers ------------------------------------------------------------------------------
    def _encode_flat(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode_6d(self, z: Tensor) -> Tensor:
        """``(N, D)`` latent codes -> ``(N, 126)`` 6D rotations: the decoder MLP of both releases
        (linear, leaky ReLU, [dropout], linear, leaky ReLU, linear). Calls ``F.linear`` on the
        layers' tensors directly: at batch 1 the module-call overhead is a fifth of the decoder's
        time (forward hooks on these layers do not fire)."""
        fc1, fc2, out, dropout = self._decoder
        h = F.leaky_relu(F.linear(z, fc1.weight, fc1.bias), self.slope, inplace=True)
        if self.training:
            h = dropout(h)
        h = F.leaky_relu(F.linear(h, fc2.weight, fc2.bias), self.slope, inplace=True)
        return F.linear(h, out.weight, out.bias)

    # -- public API ---------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def _ref(self) -> Tensor:
        """A parameter, for the model's device and dtype (a subclass may lack ``_decoder``)."""
        decoder = self.__dict__.get("_decoder")
        return decoder.fc1.weight if decoder is not None else next(self.parameters())

    def encode(self, poses: Tensor) -> Normal:
        """The approximate posterior of body poses.

        Args:
            poses: axis-angle body poses ``(N, 63)``, ``(N, 21, 3)`` or ``(N, 1, 21, 3)``; any dtype
                or device (cast to the model's).

        Returns:
            ``Normal`` with batch shape ``(N, D)``; ``.mean`` is the latent code, ``.stddev`` its
            standard deviation.
        """
        x = as_pose_batch(poses, "poses").to(self._ref)
        if x.shape[0] == 0:  # no poses: an empty posterior
            return Normal(x.new_zeros(0, self.latent_dim), x.new_ones(0, self.latent_dim))
        mean, std = self._encode_flat(x)
        # softplus underflows to 0 for poses far from the data; Normal needs a positive scale
        return Normal(mean, std.clamp_min(1e-12))

    def decode(self, z: Tensor) -> DecodedPoses:
        """Latent codes ``(N, D)`` (or ``(D,)``) to body poses, axis-angle and matrices.

        Differentiable. On the CPU, when no gradient is recorded, decodes in blocks of
        :data:`CPU_BLOCK` codes (the same values, faster)."""
        z = self._check_latent(z)
        if z.shape[0] > CPU_BLOCK and z.device.type == "cpu" and not (
            torch.is_grad_enabled() and (z.requires_grad or self._ref.requires_grad)
        ):
            return self._decode_chunks(z, CPU_BLOCK)
        return self._decode_checked(z)

    def _decode_checked(self, z: Tensor) -> DecodedPoses:
        """:meth:`decode` of codes already through :meth:`_check_latent`."""
        if z.shape[0] == 0:
            return DecodedPoses(z.new_zeros(0, NUM_JOINTS, 3), z.new_zeros(0, NUM_JOINTS, 3, 3))
        d6 = self._decode_6d(z)
        if d6.shape[0] <= SMALL_BATCH and not d6.requires_grad and d6.device.type == "cpu" and (
                d6.dtype == torch.float32 or d6.dtype == torch.float64):
            # a few poses without autograd: numpy's per-call cost is a fraction of torch's
            matrices_np, axis_angle_np = sixd_to_matrix_and_axis_angle_numpy(d6.numpy())
            return DecodedPoses(torch.from_numpy(axis_angle_np), torch.from_numpy(matrices_np))
        matrices, axis_angle = sixd_to_matrix_and_axis_angle(d6)
        return DecodedPoses(axis_angle, matrices)

    def forward(self, poses: Tensor) -> VPoserOutput:
        """Encode, draw ``z`` with the reparameterisation trick, decode (the training pass)."""
        posterior = self.encode(poses)
        z = posterior.rsample()
        return VPoserOutput(posterior, z, self.decode(z))

    @property
    def latent_prior(self) -> LatentMixture | None:
        """The learned prior samples are drawn from (:mod:`vposer.model.latent_prior`), or
        ``None`` for ``N(0, I)`` (every published release). Assign ``None`` to sample from
        ``N(0, I)`` instead."""
        return self._latent_prior

    @latent_prior.setter
    def latent_prior(self, prior: LatentMixture | None) -> None:
        if prior is not None and prior.dim != self.latent_dim:
            raise InputError(f"a latent prior over {prior.dim}-D codes does not fit a model with "
                             f"{self.latent_dim}-D codes")
        self._latent_prior = prior

    def sample_latent(
        self,
        n: int,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """``(n, D)`` codes from the prior (:attr:`latent_prior`, or ``N(0, temperature^2 I)``),
        drawn on the CPU so that a seed gives the same codes on every device, then moved to the
        model's device and dtype. ``temperature`` scales the spread (of each mixture component
        around its mean)."""
        generator = make_generator(seed, generator)
        if n < 0:
            raise InputError(f"the number of samples must be >= 0, got {n}")
        if not math.isfinite(temperature) or temperature < 0:
            raise InputError(f"temperature must be a finite number >= 0, got {temperature}")
        prior = self._latent_prior
        if prior is not None:  # D + 1 numbers a code (LatentMixture.codes)
            return prior.codes(torch.randn(n, self.latent_dim + 1, generator=generator),
                               temperature).to(self._ref)
        z = torch.randn(n, self.latent_dim, generator=generator)
        if temperature != 1.0:
            z = z * temperature
        return z.to(self._ref)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> DecodedPoses:
        """Sample ``n`` novel body poses (eval mode, no gradients).

        Args:
            n: number of poses.
            seed: seed of a fresh CPU ``torch.Generator`` (reproducible across devices); None
                draws from torch's global generator (:mod:`vposer._torchtools` states the rule).
            generator: a generator to draw from instead of ``seed``.
            temperature: scale of the latent codes' spread (1 = the prior; see
                :meth:`sample_latent`).
            chunk_size: the most poses decoded at a time; bounds the memory of large requests (on
                the CPU, blocks are at most :data:`CPU_BLOCK`).

        Returns:
            :class:`DecodedPoses` with ``axis_angle`` ``(n, 21, 3)`` and ``matrices`` ``(n, 21, 3, 3)``.
        """
        z = self.sample_latent(n, seed=seed, generator=generator, temperature=temperature)
        if not self.training:  # codes drawn here need no checking
            return self._decode_chunks(z, chunk_size)
        return self.decode_batched(z, chunk_size)

    @torch.no_grad()
    def decode_batched(self, z: Tensor, chunk_size: int = DEFAULT_CHUNK) -> DecodedPoses:
        """:meth:`decode` in chunks of at most ``chunk_size`` codes (:data:`CPU_BLOCK` on the CPU),
        without gradients, into preallocated outputs: for millions of codes."""
        z = self._check_latent(z)
        if not self.training:  # eval()/train() walk every module (~100 us): only when needed
            return self._decode_chunks(z, chunk_size)
        with eval_mode(self):
            return self._decode_chunks(z, chunk_size)

    def _decode_chunks(self, z: Tensor, chunk_size: int) -> DecodedPoses:
        if z.device.type == "cpu":
            chunk_size = min(chunk_size, CPU_BLOCK)
        if z.shape[0] <= chunk_size:
            return self._decode_checked(z)
        n = z.shape[0]
        aa = z.new_empty(n, NUM_JOINTS, 3)
        mats = z.new_empty(n, NUM_JOINTS, 3, 3)
        for start, part in iter_chunks(z, chunk_size):
            out = self._decode_checked(part)
            aa[start : start + len(part)] = out.axis_angle
            mats[start : start + len(part)] = out.matrices
        return DecodedPoses(aa, mats)

    def log_likelihood(self, poses: Tensor, samples: int = 16, **kwargs: Any) -> Tensor:
        """Importance-weighted ``log p(poses)``, ``(N,)`` nats (higher = more plausible); see
        :func:`vposer.model.likelihood.log_likelihood` for the observation model and the
        arguments."""
        from .likelihood import log_likelihood

        return log_likelihood(self, poses, samples=samples, **kwargs)

    def elbo(self, poses: Tensor, **kwargs: Any) -> Tensor:
        """Evidence lower bound of ``poses``, ``(N,)`` nats; see
        :func:`vposer.model.likelihood.elbo`."""
        from .likelihood import elbo

        return elbo(self, poses, **kwargs)

    def _check_latent(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor):
            z = torch.as_tensor(z)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.ndim != 2 or z.shape[-1] != self.latent_dim:
            raise InputError(
                f"latent codes must have shape (N, {self.latent_dim}), got {tuple(z.shape)}"
            )
        ref = self._ref
        if z.dtype != ref.dtype or z.device != ref.device:
            z = z.to(ref)
        # one reduction instead of isfinite + all: NaN and Inf both make the sum non-finite
        if not math.isfinite(float((z.detach() if z.requires_grad else z).sum())):
            raise InputError("latent codes contain NaN or Inf")
        return z

    def extra_repr(self) -> str:
        c = self.config
        return f"architecture={c.architecture}, num_neurons={c.num_neurons}, latent_dim={c.latent_dim}"


def as_pose_batch(poses: Any, what: str = "poses") -> Tensor:
    """Accept ``(N, 63)``, ``(N, 21, 3)``, ``(N, 1, 21, 3)`` (or one pose ``(63,)``/``(21, 3)``)
    axis-angle and return ``(N, 63)``; refuses other shapes and NaN/Inf with :class:`InputError`."""
    x = poses if isinstance(poses, Tensor) else torch.as_tensor(poses)
    if not x.is_floating_point():
        x = x.float()
    shape = tuple(x.shape)
    if x.ndim in (1, 2) and shape[-1] == POSE_DIM:
        x = x.reshape(-1, POSE_DIM)
    elif x.ndim >= 2 and shape[-2:] == (NUM_JOINTS, 3) and x.ndim <= 4:
        if x.ndim == 4 and shape[1] != 1:
            raise InputError(f"{what} must be (N, 63), (N, 21, 3) or (N, 1, 21, 3), got {shape}")
        x = x.reshape(-1, POSE_DIM)
    else:
        raise InputError(f"{what} must be (N, 63), (N, 21, 3) or (N, 1, 21, 3), got {shape}")
    if not torch.isfinite(x).all():
        raise InputError(f"{what} contain NaN or Inf")
    return x


def iter_chunks(x: Tensor, chunk_size: int) -> Iterator[tuple[int, Tensor]]:
    """Yield ``(start, x[start:start + chunk_size])`` along the first dimension."""
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    for start in range(0, x.shape[0], chunk_size):
        yield start, x[start : start + chunk_size]


def _perpendicular(u: Tensor) -> Tensor:
    """``(..., D)`` unit vectors perpendicular to the unit vectors ``u``: the coordinate axis
    least aligned with each, made orthogonal to it."""
    axis: Tensor = torch.nn.functional.one_hot(u.abs().argmin(-1), u.shape[-1]).to(u)
    w = axis - (axis * u).sum(-1, keepdim=True) * u
    unit: Tensor = w / w.norm(dim=-1, keepdim=True)
    return unit


def interpolate(
    z1: Tensor, z2: Tensor, steps: int, method: str = "lerp", there_and_back: bool = False
) -> Tensor:
    """Codes on the way from ``z1`` to ``z2``, both ends included.

    ``lerp`` is the tutorial's ``z = a z2 + (1 - a) z1`` for ``a`` evenly spaced in ``[0, 1]``;
    ``slerp`` follows the great circle between the two directions and interpolates the norm
    linearly, which keeps intermediate codes as typical as the ends under a Gaussian prior.

    Args:
        z1, z2: ``(D,)`` or ``(B, D)`` codes.
        steps: number of codes (>= 2).
        method: ``'lerp'`` or ``'slerp'``.
        there_and_back: append the way back (without repeating the ends), for looping animations.

    Returns:
        ``(steps, D)`` or ``(steps, B, D)`` (``2 * steps - 2`` steps with ``there_and_back``).
    """
    z1 = torch.as_tensor(z1)
    if not z1.is_floating_point():  # integer codes: interpolate in the default float dtype
        z1 = z1.to(torch.get_default_dtype())
    z2 = torch.as_tensor(z2).to(z1)
    if z1.shape != z2.shape:
        raise InputError(f"codes to interpolate differ in shape: {tuple(z1.shape)} vs {tuple(z2.shape)}")
    if steps < 2:
        raise InputError(f"steps must be >= 2, got {steps}")
    t = torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device).reshape((steps,) + (1,) * z1.ndim)
    if method == "lerp":
        out = (1 - t) * z1 + t * z2
    elif method == "slerp":
        n1 = z1.norm(dim=-1, keepdim=True)
        n2 = z2.norm(dim=-1, keepdim=True)
        u1 = z1 / n1.clamp_min(1e-12)
        u2 = z2 / n2.clamp_min(1e-12)
        # the great circle through u1 towards u2: u(t) = cos(t omega) u1 + sin(t omega) w, with w
        # the unit part of u2 orthogonal to u1 (any perpendicular for opposite or equal codes)
        cos_omega = (u1 * u2).sum(-1, keepdim=True)
        w = u2 - cos_omega * u1
        w_norm = w.norm(dim=-1, keepdim=True)
        omega = torch.atan2(w_norm, cos_omega)  # accurate near 0 and pi, unlike acos
        w = torch.where(w_norm > 1e-6, w / w_norm.clamp_min(1e-12), _perpendicular(u1))
        direction = torch.cos(t * omega) * u1 + torch.sin(t * omega) * w
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        out = direction * ((1 - t) * n1 + t * n2)
    else:
        raise InputError(f"unknown interpolation method {method!r}: use 'lerp' or 'slerp'")
    if there_and_back:
        out = torch.cat((out, out.flip(0)[1:-1]), dim=0)
    return out
