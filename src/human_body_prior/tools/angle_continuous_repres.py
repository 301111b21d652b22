"""``human_body_prior.tools.angle_continuous_repres``: the continuous 6D rotation representation
(Gram-Schmidt of two 3-vectors, :func:`vposer.rotations.rotation_6d_to_matrix`) and the geodesic
rotation loss (:func:`vposer.rotations.geodesic_distance`)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vposer.rotations import geodesic_distance, rotation_6d_to_matrix

__all__ = ["bgs", "geodesic_loss_R", "gs", "norm"]


def norm(v: np.ndarray) -> np.ndarray:
    """``v / |v|``."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def gs(M: np.ndarray) -> np.ndarray:  # noqa: N803
    """One ``(3, 2)`` matrix (two columns) to the ``(3, 3)`` rotation of its Gram-Schmidt basis."""
    m = torch.as_tensor(np.asarray(M, dtype=np.float64)).reshape(1, 6)
    return rotation_6d_to_matrix(m)[0].numpy()


def bgs(d6s: Tensor) -> Tensor:
    """Batched :func:`gs`: ``(B, 3, 2)`` to ``(B, 3, 3)``, columns ``b1, b2, b1 x b2``."""
    return rotation_6d_to_matrix(d6s.reshape(d6s.shape[0], 6))


class geodesic_loss_R(nn.Module):  # noqa: N801 (original name)
    """Rotation angle between ``(N, 3, 3)`` predictions and targets: ``reduction='mean'`` (and
    ``'batchmean'``, per-sample angles summed over non-batch dimensions then averaged) give a
    scalar, anything else the ``(N,)`` angles."""

    def __init__(self, reduction: str = "batchmean"):
        super().__init__()
        self.reduction = reduction
        self.eps = 1e-6

    def bgdR(self, m1: Tensor, m2: Tensor) -> Tensor:  # noqa: N802 (original name)
        """``(N,)`` angles of ``m1 m2^T``."""
        return geodesic_distance(m1, m2)

    def forward(self, ypred: Tensor, ytrue: Tensor) -> Any:
        theta = self.bgdR(ypred, ytrue)
        if self.reduction == "mean":
            return theta.mean()
        if self.reduction == "batchmean":
            return theta.reshape(theta.shape[0], -1).sum(1).mean() if theta.dim() else theta
        return theta
