"""``human_body_prior.train.vposer_smpl``: the v1 (2019, ``vposer_v1_0``) VPoser class.

The v1 API (``encode``, ``decode(z, output_type='matrot'|'aa')`` giving ``N x 1 x 21 x 9`` /
``N x 1 x 21 x 3``, ``forward`` returning ``{'mean', 'std', 'pose_<type>'}``, ``sample_poses``
giving ``N x 1 x 21 x 3``) lives in :class:`V1Interface`, so that :func:`v1_interface` gives it
to weights of any architecture: ``load_vposer`` on a v2 release or on the open default weights
behaves as v1. The cvpr19 training loop (``vposer_trainer``, ``run_vposer_trainer``) is not
provided: ``vposer train`` trains with the v1 recipe (``recipe: v1``).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vposer._torchtools import eval_mode
from vposer.model import ARCHITECTURES, V1Layers, VPoserConfig
from vposer.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rotation_6d_to_matrix

from .._refused import refused

__all__ = ["ContinousRotReprDecoder", "V1Interface", "VPoser", "numpy_latent", "v1_interface",
           "run_vposer_trainer", "vposer_trainer"]


def numpy_latent(num_poses: int, latent_dim: int, seed: int | None, like: Tensor) -> Tensor:
    """The original's latent draw: ``np.random.seed(seed)`` then ``np.random.normal(0, 1, (n, D))``
    (the global numpy stream, as the original), cast to ``like``'s dtype and device."""
    np.random.seed(seed)
    z = np.random.normal(0.0, 1.0, size=(num_poses, latent_dim))
    return torch.tensor(z, dtype=like.dtype, device=like.device)


class ContinousRotReprDecoder(nn.Module):  # the original's spelling
    """``(N, 6 J)`` 6D numbers to ``(N J, 3, 3)`` rotation matrices."""

    def forward(self, module_input: Tensor) -> Tensor:
        return rotation_6d_to_matrix(module_input.reshape(-1, 6))


class V1Interface:
    """The v1 methods, over any :class:`vposer.VPoser` architecture (mixed in before it)."""

    latentD: int
    num_joints: int = 21

    def encode(self, Pin: Tensor) -> Normal:  # noqa: N803 (original names)
        """``N x 1 x 21 x 3`` (or ``N x 63``) axis-angle to the posterior ``Normal``."""
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
    def sample_poses(self, num_poses: int, output_type: str = "aa", seed: int | None = None) -> Tensor:
        z = numpy_latent(num_poses, self.latentD, seed, next(self.parameters()))
        with eval_mode(self):
            return self.decode(z, output_type=output_type)

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


class VPoser(V1Interface, V1Layers):
    """v1 VPoser with the original constructor and methods; outputs keep the ``N x 1 x 21 x K`` shapes."""

    def __init__(self, num_neurons: int = 512, latentD: int = 32,
                 data_shape: Sequence[int] = (1, 21, 3), use_cont_repr: bool = True):
        super().__init__(VPoserConfig("v1", num_neurons=int(num_neurons), latent_dim=int(latentD)))
        self.latentD = int(latentD)
        self.num_joints = 21
        self.use_cont_repr = use_cont_repr


_INTERFACES: dict[str, type] = {"v1": VPoser}


def v1_interface(model: Any) -> nn.Module:
    """A copy of ``model`` (a :class:`vposer.VPoser` of any architecture) with the v1 API, in eval
    mode on the model's device; a v1 model gives a :class:`VPoser`."""
    c = model.config
    cls = _INTERFACES.get(c.architecture)
    if cls is None:
        base = ARCHITECTURES[c.architecture]
        cls = type(f"VPoser{c.architecture.upper()}AsV1", (V1Interface, base), {
            "__doc__": f"{c.architecture} weights with the v1 API of "
                       "human_body_prior.train.vposer_smpl.VPoser."})
        _INTERFACES[c.architecture] = cls
    if cls is VPoser:
        out = VPoser(c.num_neurons, c.latent_dim)
    else:
        out = cls(c)
        out.latentD = c.latent_dim
    out.load_state_dict(model.state_dict())
    out.info = dict(model.info)
    ref = next(model.parameters())
    return out.to(ref.device).eval()


vposer_trainer = refused("human_body_prior.train.vposer_smpl.vposer_trainer",
                         "the cvpr19 training loop; train with 'vposer train' (recipe: v1)")
run_vposer_trainer = refused("human_body_prior.train.vposer_smpl.run_vposer_trainer",
                             "the cvpr19 training loop; train with 'vposer train' (recipe: v1)")
