"""A learned prior over latent codes: a Gaussian mixture fitted to the aggregate posterior.

A VAE is trained to match its encoder's posteriors to ``N(0, I)``, but the codes of real poses
never fill that ball evenly: ``N(0, I)`` draws land in gaps between the poses the encoder uses
and decode to in-between poses (the "holes" of the aggregate posterior). A two-stage VAE (Dai &
Wipf 2019) fixes this after training, without touching the network: fit a second density model
to the codes of the training poses and draw from it instead. :class:`LatentMixture` is that
second stage, a mixture of full-covariance Gaussians over ``(D,)`` codes; :func:`fit_latent_prior`
fits one to a model's posterior draws of a training set.

A model that carries one (``model.latent_prior``) draws its samples from it; ``None`` (every
published release) means ``N(0, I)``. Setting ``model.latent_prior = None`` brings back the
standard prior. Encoding, decoding, fitting and the likelihood of :mod:`vposer.model.likelihood`
are unchanged: they use the network and the ``N(0, I)`` it was trained against.

A draw is a function of ``D + 1`` standard-normal numbers per code (:meth:`LatentMixture.codes`):
the first picks the component (against the normal quantiles of the cumulative weights), the rest are the
offset ``eps`` in ``z = mean_k + temperature * L_k eps`` (``L_k L_k^T = cov_k``). Chunks of one
generator's ``torch.randn`` rows therefore draw the same codes as one call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, VPoserError

if TYPE_CHECKING:
    from .vposer import VPoser

__all__ = ["LatentMixture", "fit_latent_prior", "mixture_log_prob", "TENSOR_PREFIX"]

#: Prefix of the mixture's tensors in a native model file (``latent_prior.weights``, ...).
TENSOR_PREFIX = "latent_prior."
_FIELDS = ("weights", "means", "scale_tril")
#: Codes per step of :meth:`LatentMixture.codes` (a (block, D, D) gather: 8 MB at D = 32).
_BLOCK = 2048


@dataclass(frozen=True)
class LatentMixture:
    """A Gaussian mixture over ``(D,)`` latent codes (float32, CPU).

    Attributes:
        weights: ``(K,)`` component weights, positive, summing to 1.
        means: ``(K, D)`` component means.
        scale_tril: ``(K, D, D)`` lower-triangular Cholesky factors of the covariances (positive
            diagonals).
    """

    weights: Tensor
    means: Tensor
    scale_tril: Tensor
    _thresholds: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        w, m, s = self.weights, self.means, self.scale_tril
        k = w.shape[0] if w.ndim == 1 else -1
        if k < 1 or m.ndim != 2 or m.shape[0] != k or m.shape[1] < 1 or s.shape != (k, m.shape[1], m.shape[1]):
            raise InputError(f"a latent mixture needs weights (K,), means (K, D) and scale_tril "
                             f"(K, D, D); got {tuple(w.shape)}, {tuple(m.shape)}, {tuple(s.shape)}")
        for name in _FIELDS:
            t = getattr(self, name)
            if not t.is_floating_point() or not torch.isfinite(t).all():
                raise InputError(f"the latent mixture's {name} must be finite floats")
            object.__setattr__(self, name, t.detach().to("cpu", torch.float32).contiguous())
        if (self.weights <= 0).any() or abs(float(self.weights.double().sum()) - 1.0) > 1e-4:
            raise InputError("the latent mixture's weights must be positive and sum to 1")
        diag = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1)
        if (diag <= 0).any() or (self.scale_tril.triu(1) != 0).any():
            raise InputError("the latent mixture's scale_tril must be lower-triangular with a "
                             "positive diagonal")
        # component k takes the normal numbers between the quantiles of the cumulative weights
        edges = torch.cumsum(self.weights.double() / self.weights.double().sum(), 0)[:-1]
        object.__setattr__(self, "_thresholds", torch.special.ndtri(edges).numpy())

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def codes(self, normal: Tensor, temperature: float = 1.0) -> Tensor:
        """Codes from standard-normal numbers.

        Args:
            normal: ``(N, D + 1)`` standard-normal numbers, one row per code: column 0 picks the
                component (0-based ``k`` when it lies between the standard normal quantiles of
                ``w_0 + ... + w_{k-1}`` and ``w_0 + ... + w_k``: probability ``w_k``), columns
                ``1..D`` are the offset.
            temperature: scales every component's spread around its mean (0 gives the means).

        Returns:
            ``(N, D)`` float32 codes on the CPU.
        """
        e = normal.detach().to("cpu", torch.float32).numpy()
        if e.ndim != 2 or e.shape[1] != self.dim + 1:
            raise InputError(f"expected (N, {self.dim + 1}) normal numbers, got {tuple(e.shape)}")
        # numpy: a tenth of torch's fixed cost per operation, which dominates a few codes
        tril, means = self.scale_tril.numpy(), self.means.numpy()
        comp = np.searchsorted(self._thresholds, e[:, 0].astype(np.float64), side="right")
        z = np.empty((e.shape[0], self.dim), np.float32)
        for start in range(0, e.shape[0], _BLOCK):  # blocks bound the (block, D, D) gather
            rows = slice(start, start + _BLOCK)
            k = comp[rows]
            # one (D, D) @ (D,) product per code, on fresh aligned copies: a code's value does
            # not depend on how many codes are drawn with it, so chunked draws give the same
            # codes as one draw (a single (N, D) @ (D, D) product rounds by N's blocking)
            eps = np.ascontiguousarray(e[rows, 1:])[:, :, None]
            offset = np.matmul(tril[k], eps)[:, :, 0]
            z[rows] = offset * np.float32(temperature) + means[k]
        return torch.from_numpy(z)

    def log_prob(self, z: Tensor) -> Tensor:
        """``(N,)`` float64 log-density of ``(N, D)`` codes under the mixture (on ``z``'s device)."""
        return mixture_log_prob(z, self.weights, self.means, self.scale_tril)

    def to_tensors(self) -> dict[str, Tensor]:
        """The tensors a native model file stores, named ``latent_prior.<field>``."""
        return {TENSOR_PREFIX + name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor]) -> LatentMixture | None:
        """Read back :meth:`to_tensors`' entries (``None`` when there are none).

        Raises:
            InputError: a field is missing, misshapen, not finite, or not a valid mixture.
        """
        names = {k for k in tensors if k.startswith(TENSOR_PREFIX)}
        if not names:
            return None
        expected = {TENSOR_PREFIX + f for f in _FIELDS}
        if names != expected:
            raise InputError(f"the latent prior needs exactly {sorted(expected)}, found {sorted(names)}")
        return cls(*(tensors[TENSOR_PREFIX + f] for f in _FIELDS))


def mixture_log_prob(x: Tensor, weights: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """``(N,)`` float64 log-density of ``(N, D)`` points under a Gaussian mixture with ``(K,)``
    weights, ``(K, D)`` means and ``(K, D, D)`` Cholesky factors of the covariances; computed in
    float64 on ``x``'s device."""
    x = x.double()
    chol = scale_tril.to(x.device, torch.float64)
    diff = (x[:, None] - means.to(x)[None]).unsqueeze(-1)  # (N, K, D, 1)
    sol = torch.linalg.solve_triangular(chol.expand(len(x), -1, -1, -1), diff, upper=False)
    maha = sol.squeeze(-1).square().sum(-1)  # (N, K)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    comp = -0.5 * (maha + logdet + means.shape[1] * math.log(2 * math.pi))
    return torch.logsumexp(comp + torch.log(weights.to(x)), dim=-1)


def fit_latent_prior(model: VPoser, poses: Any, n_components: int = 16, seed: int = 0,
                     max_codes: int = 200_000, max_iter: int = 300,
                     groups: Any = None) -> LatentMixture:
    """Fit a :class:`LatentMixture` to ``model``'s aggregate posterior on ``poses``.

    Each pose gives one draw ``z ~ q(z | x)`` (seeded); scikit-learn's ``GaussianMixture``
    (full covariances, k-means initialisation, ``random_state=seed``) fits ``n_components``
    Gaussians to at most ``max_codes`` of them. Deterministic for a seed.

    Args:
        poses: ``(M, 63)`` training poses (``(M, 21, 3)`` works too).
        groups: ``None`` (every pose weighs the same) or ``(M,)`` integer labels, e.g. the
            source of each pose: every label then weighs the same however many poses it has,
            each giving as many codes as the largest (at most ``max_codes // n_labels``), its
            poses drawn with replacement (seeded), each with its own posterior draw.

    Raises:
        VPoserError: scikit-learn is not installed (``pip install 'vposer[train]'``).
        InputError: fewer poses than components; ``groups`` not one integer per pose.
    """
    try:
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise VPoserError("fitting a latent prior needs scikit-learn: "
                          "pip install 'vposer[train]'") from None
    from .._torchtools import eval_mode

    x = torch.as_tensor(poses)
    if x.shape[0] < n_components:
        raise InputError(f"cannot fit {n_components} components to {x.shape[0]} poses")
    generator = torch.Generator().manual_seed(seed)
    if groups is not None:
        x = x[_balanced_rows(groups, len(x), max_codes, generator)]
    codes = []
    with torch.no_grad(), eval_mode(model):
        for block in torch.split(x, 8192):
            post = model.encode(block)
            eps = torch.randn(post.mean.shape, generator=generator)
            codes.append(post.mean.cpu().double() + post.stddev.cpu().double() * eps)
    z = torch.cat(codes)
    if len(z) > max_codes:
        z = z[torch.randperm(len(z), generator=generator)[:max_codes]]
    gmm = GaussianMixture(n_components=n_components, covariance_type="full", max_iter=max_iter,
                          reg_covar=1e-6, random_state=seed)
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: threads only contend
        gmm.fit(z.numpy())
    weights = torch.from_numpy(gmm.weights_)
    return LatentMixture(weights / weights.sum(), torch.from_numpy(gmm.means_),
                         torch.linalg.cholesky(torch.from_numpy(gmm.covariances_)))


def _balanced_rows(groups: Any, n: int, max_codes: int, generator: torch.Generator) -> Tensor:
    """Row indices, the same number from each of the ``L`` labels of the ``(n,)`` integer
    ``groups``: as many as the largest label has, at most ``max_codes // L`` (drawn with
    replacement, label by label in sorted order)."""
    labels = np.asarray(groups)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise InputError(f"groups must be {n} integer labels, one per pose, got "
                         f"{labels.dtype} of shape {labels.shape}")
    members = [torch.from_numpy(np.flatnonzero(labels == label)) for label in np.unique(labels)]
    per = max(min(max(len(rows) for rows in members), max_codes // len(members)), 1)
    return torch.cat([rows[torch.randint(len(rows), (per,), generator=generator)]
                      for rows in members])
