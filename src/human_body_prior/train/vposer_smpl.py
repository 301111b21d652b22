"""``human_body_prior.train.vposer_smpl``: the v1 (2019, ``vposer_v1_0``) VPoser class."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Normal

from vposer.model import V1Layers, VPoserConfig
from vposer.rotations import axis_angle_to_matrix, matrix_to_axis_angle

__all__ = ["VPoser"]


def numpy_latent(num_poses: int, latent_dim: int, seed: Optional[int], like: Tensor) -> Tensor:
    """The original's latent draw: ``np.random.seed(seed)`` then ``np.random.normal(0, 1, (n, D))``
    (the global numpy stream, as the original), cast to ``like``'s dtype and device."""
    np.random.seed(seed)
    z = np.random.normal(0.0, 1.0, size=(num_poses, latent_dim))
    return torch.tensor(z, dtype=like.dtype, device=like.device)


class VPoser(V1Layers):
    """v1 VPoser with the original constructor and methods; outputs keep the ``N x 1 x 21 x K`` shapes."""

    def __init__(self, num_neurons: int = 512, latentD: int = 32,
                 data_shape: Sequence[int] = (1, 21, 3), use_cont_repr: bool = True):
        super().__init__(VPoserConfig("v1", num_neurons=int(num_neurons), latent_dim=int(latentD)))
        self.latentD = int(latentD)
        self.num_joints = 21
        self.use_cont_repr = use_cont_repr

    def encode(self, Pin: Tensor) -> Normal:  # noqa: N803 (original names)
        return super().encode(Pin)

    def decode(self, Zin: Tensor, output_type: str = "matrot") -> Tensor:  # noqa: N803
        out = super().decode(Zin)
        n = out.matrices.shape[0]
        if output_type == "aa":
            return out.axis_angle.reshape(n, 1, 21, 3)
        if output_type == "matrot":
            return out.matrices.reshape(n, 1, 21, 9)
        raise ValueError(f"output_type must be 'matrot' or 'aa', got {output_type!r}")

    def forward(self, Pin: Tensor, input_type: str = "aa", output_type: str = "matrot") -> dict:  # noqa: N803
        if input_type == "matrot":
            Pin = matrix_to_axis_angle(Pin.reshape(Pin.shape[0], 21, 3, 3))
        q_z = self.encode(Pin)
        decoded = self.decode(q_z.rsample(), output_type=output_type)
        return {"mean": q_z.mean, "std": q_z.scale, f"pose_{output_type}": decoded}

    @torch.no_grad()
    def sample_poses(self, num_poses: int, output_type: str = "aa", seed: Optional[int] = None) -> Tensor:
        ref = next(self.parameters())
        z = numpy_latent(num_poses, self.latentD, seed, ref)
        was_training = self.training
        self.eval()
        try:
            return self.decode(z, output_type=output_type)
        finally:
            self.train(was_training)

    @staticmethod
    def matrot2aa(pose_matrot: Tensor) -> Tensor:
        """``(N, 1, J, 9)`` (or ``(..., 3, 3)``) matrices to ``(N, 1, J, 3)`` axis-angle."""
        n = pose_matrot.shape[0]
        return matrix_to_axis_angle(pose_matrot.reshape(n, -1, 3, 3)).reshape(n, 1, -1, 3)

    @staticmethod
    def aa2matrot(pose: Tensor) -> Tensor:
        """``(N, 1, J, 3)`` axis-angle to ``(N, 1, J, 9)`` matrices."""
        n = pose.shape[0]
        return axis_angle_to_matrix(pose.reshape(n, -1, 3)).reshape(n, 1, -1, 9)
