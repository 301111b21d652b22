"""Plausibility: are sampled joint rotations inside the ranges the training poses span?

Definition used here. For each of the 21 body joints and each of its 3 axis-angle components,
the range is the ``[p, 100 - p]`` percentile interval of the training poses (``p = 0.5`` by
default), widened by a margin ``m`` on both sides (0.05 rad, about 3 degrees, so that a
component the training data never moves, such as the CMU collarbones, tolerates decoder noise):
an axis-aligned box in the joint's rotation-vector space. A joint of a sample is
*out of range* when any of its 3 components falls outside its box; a sample is out of range
when any of its 21 joints is. By construction about ``2 p``-``6 p`` % of the training rows fall
outside each joint's box, so the share of *held-out* poses outside the boxes is the reference a
model should be compared with (reported alongside).

The box is per component of the rotation vector, not on Euler angles or swing-twist: it needs no
per-joint axis conventions and body-joint rotations stay far from pi, where the rotation vector
wraps. It catches hyper-extension and implausible twists seen as components beyond anything in
the training data; it is a range check, not a joint-limit model.

Self-penetration is not measured: counting intersecting triangle pairs needs a bounding-volume
hierarchy per posed mesh (no such routine in torch; tens of ms per mesh in dedicated libraries)
and, more importantly, is not reliable on these meshes: neighbouring parts (armpits, inner thighs,
fingers) already touch in plausible poses, so a threshold would need per-body calibration and a
part segmentation that the open body does not ship.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import InputError
from ..model.vposer import as_pose_batch

__all__ = ["RotationRanges"]


@dataclass
class RotationRanges:
    """Per-joint, per-component axis-angle ranges measured on training poses.

    Attributes:
        low, high: ``(21, 3)`` bounds (radians) of each joint's rotation-vector components.
        percentile: ``p`` of the ``[p, 100 - p]`` interval.
        margin: radians added on both sides of each interval.
    """

    low: Tensor
    high: Tensor
    percentile: float
    margin: float

    @classmethod
    def fit(cls, train_poses: Tensor, percentile: float = 0.5, margin: float = 0.05,
            max_poses: int = 1_000_000, seed: int = 0) -> RotationRanges:
        """Measure the ranges on ``(M, 63)`` training poses (a random ``max_poses`` subset when
        larger: quantiles need the whole set in memory)."""
        if not 0 <= percentile < 50:
            raise InputError(f"the range percentile must be in [0, 50), got {percentile}")
        x = as_pose_batch(train_poses).reshape(-1, 21, 3)
        if x.shape[0] > max_poses:
            g = torch.Generator().manual_seed(seed)
            x = x[torch.randperm(x.shape[0], generator=g)[:max_poses].to(x.device)]
        q = torch.tensor([percentile / 100, 1 - percentile / 100], dtype=x.dtype, device=x.device)
        bounds = torch.quantile(x, q, dim=0)  # (2, 21, 3)
        return cls(bounds[0] - margin, bounds[1] + margin, percentile, margin)

    def outside(self, poses: Tensor) -> Tensor:
        """``(N, 21)`` booleans: joint out of range (any component outside its interval)."""
        x = as_pose_batch(poses).reshape(-1, 21, 3).to(self.low)
        return ((x < self.low) | (x > self.high)).any(-1)

    def summary(self, poses: Tensor) -> dict[str, object]:
        """Out-of-range figures of ``(N, 63)`` poses.

        Returns:
            ``share``: fraction of poses with at least one joint out of range;
            ``joint_rate``: fraction of (pose, joint) pairs out of range;
            ``per_joint``: list of 21 per-joint fractions.
        """
        out = self.outside(poses)
        return {"share": out.any(-1).double().mean().item(),
                "joint_rate": out.double().mean().item(),
                "per_joint": out.double().mean(0).tolist()}
