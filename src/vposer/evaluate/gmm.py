"""The baseline to beat: SMPLify's Gaussian-mixture pose prior, refitted on the same poses.

SMPLify (Bogo et al. 2016) scores body poses with a mixture of 8 full-covariance Gaussians over
the raw axis-angle pose vector, fitted to CMU poses. :class:`GMMPrior` fits the same model
(scikit-learn's ``GaussianMixture``, ``covariance_type='full'``, k-means initialisation) to the
63-D ``pose_body`` vectors of a training split, then samples and scores in torch. scikit-learn
is only needed to fit (the optional ``evaluate`` extra); a fitted prior saves to and loads from
an ``.npz`` file without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._types import PathLike
from .._torchtools import make_generator
from ..errors import InputError, VPoserError
from ..model.latent_prior import mixture_log_prob
from ..model.vposer import as_pose_batch

__all__ = ["GMMPrior"]


@dataclass
class GMMPrior:
    """A Gaussian mixture over ``(63,)`` axis-angle body poses.

    Attributes:
        weights: ``(K,)`` mixture weights (sum to 1).
        means: ``(K, 63)`` component means (radians).
        covariances: ``(K, 63, 63)`` full covariances.
        info: how it was fitted (poses, iterations, converged, seed).
    """

    weights: Tensor
    means: Tensor
    covariances: Tensor
    info: dict

    @classmethod
    def fit(cls, poses: Any, n_components: int = 8, seed: int = 0, max_poses: int = 200_000,
            max_iter: int = 200, reg_covar: float = 1e-6) -> GMMPrior:
        """Fit to ``(M, 63)`` poses (a random ``max_poses`` subset when larger).

        Raises:
            VPoserError: scikit-learn is not installed.
            InputError: fewer poses than components.
        """
        try:
            from sklearn.mixture import GaussianMixture
        except ImportError:
            raise VPoserError("the GMM baseline needs scikit-learn: pip install 'vposer[evaluate]'"
                              ) from None
        x = as_pose_batch(poses).double().cpu().numpy()
        if len(x) > max_poses:
            x = x[np.random.default_rng(seed).permutation(len(x))[:max_poses]]
        if len(x) < n_components:
            raise InputError(f"cannot fit {n_components} components to {len(x)} poses")
        gmm = GaussianMixture(n_components=n_components, covariance_type="full",
                              max_iter=max_iter, reg_covar=reg_covar, random_state=seed)
        try:  # 63 x 63 matrices: BLAS threads only contend (5x slower on a busy 2-core machine)
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - a dependency of scikit-learn
            gmm.fit(x)
        else:
            with threadpool_limits(limits=1, user_api="blas"):
                gmm.fit(x)
        info = {"method": "sklearn GaussianMixture, full covariance", "n_components": n_components,
                "fitted_on": len(x), "n_iter": int(gmm.n_iter_),
                "converged": bool(gmm.converged_), "seed": seed, "reg_covar": reg_covar}
        return cls(torch.from_numpy(gmm.weights_), torch.from_numpy(gmm.means_),
                   torch.from_numpy(gmm.covariances_), info)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def sample(self, n: int, seed: int | None = 0,
               generator: torch.Generator | None = None) -> Tensor:
        """``(n, 63)`` float32 poses: a component by weight, then ``mean + L eps`` (``L L^T = cov``).

        Drawn on the CPU with a seeded generator (default seed 0), so a seed gives the same
        poses everywhere; ``seed=None`` draws from torch's global generator (the package's rule,
        :mod:`vposer._torchtools`). Give ``generator`` to draw from it instead.
        """
        if n < 0:
            raise InputError(f"the number of samples must be >= 0, got {n}")
        if generator is not None:
            seed = None  # an explicit generator wins, as before
        generator = make_generator(seed, generator)
        comp = torch.multinomial(self.weights.double(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], dtype=torch.float64, generator=generator)
        chol = torch.linalg.cholesky(self.covariances.double())  # (K, 63, 63)
        x = self.means.double()[comp] + (chol[comp] @ eps.unsqueeze(-1)).squeeze(-1)
        return x.float()

    def log_prob(self, poses: Any) -> Tensor:
        """``(N,)`` float64 log-density of ``(N, 63)`` poses under the mixture."""
        x = as_pose_batch(poses).double().cpu()
        chol = torch.linalg.cholesky(self.covariances.double())
        return mixture_log_prob(x, self.weights.double(), self.means.double(), chol)

    def save(self, path: PathLike) -> Path:
        """Write ``weights``, ``means``, ``covariances`` and ``info`` (JSON) to an ``.npz``."""
        import json

        from ..posefiles import atomic_savez

        return atomic_savez(path, {"weights": self.weights.numpy(), "means": self.means.numpy(),
                                   "covariances": self.covariances.numpy(),
                                   "info": np.array(json.dumps(self.info))})

    @classmethod
    def load(cls, path: PathLike) -> GMMPrior:
        """Read a file written by :meth:`save`."""
        import json

        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(torch.from_numpy(data["weights"]), torch.from_numpy(data["means"]),
                           torch.from_numpy(data["covariances"]), json.loads(str(data["info"])))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"not a GMM prior file ({exc})", path) from None
