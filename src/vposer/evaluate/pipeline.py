"""Scoring priors against prepared data: the protocol behind ``vposer evaluate``.

An :class:`Evaluator` holds the training poses (dNN, rotation ranges, GMM fit), the held-out
poses (reconstruction, FID, precision / recall) and the body (vertices, joint positions), with
everything that does not depend on the prior computed once. Then:

- :meth:`Evaluator.reconstruction` encodes each held-out pose, decodes the posterior mean and
  compares (vertices, joint rotations, KL, active units);
- :meth:`Evaluator.generation` scores a set of generated poses: APD on ``samples`` of them,
  FID on all of them (``fid_samples``: 50,000 in the protocol) against all held-out poses,
  dNN and precision / recall / density / coverage on ``samples`` / ``prdc_samples`` of them
  (seeded random subsets, so ordered inputs such as sequences are fine),
  and the share outside the training rotation ranges on all of them;
- :meth:`Evaluator.reference` gives the same figures for real data, so that each number has a
  yardstick (see its docstring).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..body import BodyModel
from ..errors import InputError
from ..model import VPoser
from ..model.vposer import as_pose_batch
from ..rotations import axis_angle_to_matrix
from .features import JointPositions, body_joint_names, joint_quaternions
from .metrics import (
    active_units,
    average_pairwise_distance,
    frechet_distance_from_stats,
    gaussian_fit,
    joint_geodesic_deg,
    kl_per_dim,
    vertex_error_euclidean,
    vertex_error_l1,
)
from .neighbours import knn_radii, nearest_neighbour_distance, precision_recall_coverage
from .plausibility import RotationRanges

__all__ = ["EvalSettings", "Evaluator"]


@dataclass
class EvalSettings:
    """Protocol parameters (defaults: the field's where it has one).

    Attributes:
        samples: poses for APD and dNN (500).
        fid_samples: generated poses for FID and the rotation ranges (50,000).
        prdc_samples: poses of each set for precision / recall / density / coverage (1,000; the
            held-out set is subsampled to it when larger, the generated set is cut to the same
            size). The balls of the held-out poses are small when the set is dense in time
            (neighbouring frames of one take), so these figures are lower than with i.i.d. data
            and read best against the ``data (ref)`` column.
        k: neighbours of the precision / recall balls (5).
        dnn_mode: ``'exact'``, ``'approx'`` or ``'auto'`` (exact up to ``dnn_exact_max``
            training poses).
        range_percentile, range_margin: the rotation ranges (see :mod:`.plausibility`).
        max_test: held-out poses used (None: all), a seeded random subset when fewer.
        seed: of every random draw (subsets, samples).
        batch: poses per body-model call in the reconstruction.
    """

    samples: int = 500
    fid_samples: int = 50_000
    prdc_samples: int = 1_000
    k: int = 5
    dnn_mode: str = "auto"
    dnn_exact_max: int = 100_000
    range_percentile: float = 0.5
    range_margin: float = 0.05
    max_test: int | None = None
    seed: int = 0
    batch: int = 512


def _subset(x: Tensor, n: int | None, seed: int) -> Tensor:
    """``n`` rows of ``x`` drawn without replacement with a seeded generator (all when fewer)."""
    if n is None or n >= x.shape[0]:
        return x
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(x.shape[0], generator=g)[:n].to(x.device)]


class Evaluator:
    """Scores priors on one data set (see the module docstring).

    Args:
        train_poses: ``(M, 63)`` training poses (axis-angle).
        test_poses: ``(T, 63)`` held-out poses.
        body: body model posed with zero shape and root; vertices and the first 22 joints used.
        settings: the protocol; device: where to compute (default: the body's).
    """

    def __init__(self, train_poses: Any, test_poses: Any, body: BodyModel,
                 settings: EvalSettings | None = None, device: Any = None):
        self.settings = s = settings or EvalSettings()
        if s.samples < 2:
            raise InputError(f"--samples must be at least 2, got {s.samples}")
        self.device = torch.device(device) if device is not None else body.device
        self.body = body.to(self.device)
        self.joints = JointPositions(self.body)
        self.joint_names = body_joint_names(body)
        self.train = as_pose_batch(train_poses, "training poses").float().to(self.device)
        test = as_pose_batch(test_poses, "held-out poses").float()
        self.test = _subset(test, s.max_test, s.seed).to(self.device)
        if self.train.shape[0] < 1 or self.test.shape[0] < 2:
            raise InputError("evaluation needs at least 1 training and 2 held-out poses")
        self.train_q = joint_quaternions(self.train)
        self.ranges = RotationRanges.fit(self.train, s.range_percentile, s.range_margin)
        test_joints = self.joints(self.test)
        self.stats_aa = gaussian_fit(self.test)
        self.stats_joints = gaussian_fit(test_joints.flatten(1))
        n_prdc = min(s.prdc_samples, self.test.shape[0])
        self.prdc_real = _subset(test_joints.flatten(1), n_prdc, s.seed + 1)
        self.k = min(s.k, self.prdc_real.shape[0] - 1)
        self.prdc_real_radii = knn_radii(self.prdc_real, self.k)

    @property
    def dnn_mode(self) -> str:
        s = self.settings
        if s.dnn_mode == "auto":
            return "exact" if self.train.shape[0] <= s.dnn_exact_max else "approx"
        return s.dnn_mode

    # -- reconstruction ----------------------------------------------------------------------
    @torch.no_grad()
    def reconstruction(self, model: VPoser) -> dict[str, Any]:
        """Encode-decode every held-out pose (posterior mean) and compare with the original.

        Returns:
            ``v2v_euclidean_mm``, ``v2v_l1_mm`` (mean per-vertex errors), ``mpjpe_mm`` (22 joints),
            ``geodesic_deg`` (mean over joints) and ``geodesic_deg_per_joint`` (21),
            ``kl`` (nats, summed over latent dims, mean over poses), ``kl_per_dim`` (D),
            ``posterior_mean_var`` (D), ``active_units`` (count, variance > 0.01), ``n``.
        """
        model = model.to(self.device).eval()
        sums = {"euc": 0.0, "l1": 0.0, "mpjpe": 0.0}
        geo = torch.zeros(21, dtype=torch.float64, device=self.device)
        kl = None
        means = []
        for s in range(0, self.test.shape[0], self.settings.batch):
            x = self.test[s:s + self.settings.batch]
            post = model.encode(x)
            dec = model.decode(post.mean)
            rec = dec.axis_angle.reshape(len(x), 63).to(x)
            out_rec, out_orig = self.body(pose_body=rec), self.body(pose_body=x)
            sums["euc"] += vertex_error_euclidean(out_rec.vertices, out_orig.vertices).double().sum().item()
            sums["l1"] += vertex_error_l1(out_rec.vertices, out_orig.vertices).double().sum().item()
            j_err = (out_rec.joints[:, :22] - out_orig.joints[:, :22]).norm(dim=-1).mean(-1)
            sums["mpjpe"] += j_err.double().sum().item()
            r_orig = axis_angle_to_matrix(x.reshape(-1, 21, 3))
            geo += joint_geodesic_deg(dec.matrices.to(r_orig), r_orig).double().sum(0)
            kl_b = kl_per_dim(post.mean, post.stddev).double().sum(0)
            kl = kl_b if kl is None else kl + kl_b
            means.append(post.mean.float())
        n = self.test.shape[0]
        var, active = active_units(torch.cat(means))
        kl_dims = kl / n
        return {
            "n": n,
            "v2v_euclidean_mm": 1000 * sums["euc"] / n,
            "v2v_l1_mm": 1000 * sums["l1"] / n,
            "mpjpe_mm": 1000 * sums["mpjpe"] / n,
            "geodesic_deg": (geo / n).mean().item(),
            "geodesic_deg_per_joint": (geo / n).tolist(),
            "kl": kl_dims.sum().item(),
            "kl_per_dim": kl_dims.tolist(),
            "posterior_mean_var": var.tolist(),
            "active_units": int(active.sum().item()),
            "latent_dim": int(kl_dims.shape[0]),
        }

    # -- generation --------------------------------------------------------------------------
    @torch.no_grad()
    def generation(self, poses: Any, dnn: bool = True) -> dict[str, Any]:
        """Score ``(N, 63)`` generated poses (``N >= samples``; all of them enter FID; APD, dNN and
        precision / recall use a seeded random subset).

        Returns:
            ``apd_cm``; ``fid_aa`` (63-D axis-angle, rad^2) and ``fid_joints`` (66-D joint
            positions, m^2) against the held-out poses; ``dnn_sum_rad`` and ``dnn_joint_rad``
            (sum over 21 joints and per-joint mean) with ``dnn_mode``; ``precision``, ``recall``,
            ``density``, ``coverage`` on 66-D joint positions; ``out_of_range_share``,
            ``out_of_range_joint_rate``, ``out_of_range_per_joint``; the counts used. With
            ``dnn=False`` the dNN figures are left out.
        """
        s = self.settings
        x = as_pose_batch(poses, "generated poses").float().to(self.device)
        if x.shape[0] < s.samples:
            raise InputError(f"{x.shape[0]} generated poses, fewer than --samples {s.samples}")
        joints = self.joints(x)
        # a seeded random order: the subsets below stay unbiased for ordered inputs (sequences)
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(s.seed + 4))
        x, joints = x[order.to(x.device)], joints[order.to(x.device)]
        n_prdc = min(self.prdc_real.shape[0], x.shape[0])
        prdc = precision_recall_coverage(self.prdc_real, joints[:n_prdc].flatten(1), self.k,
                                         real_radii=self.prdc_real_radii)
        ranges = self.ranges.summary(x)
        out = {
            "apd_cm": 100 * average_pairwise_distance(joints[:s.samples]).item(),
            "fid_aa": frechet_distance_from_stats(*gaussian_fit(x), *self.stats_aa).item(),
            "fid_joints": frechet_distance_from_stats(*gaussian_fit(joints.flatten(1)),
                                                      *self.stats_joints).item(),
            **prdc,
            "out_of_range_share": ranges["share"],
            "out_of_range_joint_rate": ranges["joint_rate"],
            "out_of_range_per_joint": ranges["per_joint"],
            "n_generated": int(x.shape[0]),
            "n_apd_dnn": int(s.samples),
            "n_prdc": int(n_prdc),
        }
        if dnn:
            out.update(self._dnn(x[:s.samples]))
        return out

    def _dnn(self, poses: Tensor) -> dict[str, Any]:
        d = nearest_neighbour_distance(joint_quaternions(poses), self.train_q, self.dnn_mode)
        return {"dnn_sum_rad": d.mean().item(), "dnn_joint_rad": d.mean().item() / 21,
                "dnn_mode": self.dnn_mode}

    @torch.no_grad()
    def reference(self) -> dict[str, Any]:
        """What real poses score, as a yardstick for :meth:`generation`.

        Training poses stand in for a generator that reproduces the training distribution
        exactly: FID and precision / recall / coverage of (up to ``fid_samples``) training poses
        against the held-out poses measure the shift between the two splits, the best a model
        fitted to the training split can expect. APD, dNN and the out-of-range share are those of
        the *held-out* poses (on training poses dNN would be 0 and the ranges hold by
        construction): how far unseen real poses are from the training set.
        """
        s = self.settings
        train = _subset(self.train, s.fid_samples, s.seed + 2)
        out = self.generation(train, dnn=False) if train.shape[0] >= s.samples else {}
        test = _subset(self.test, max(s.samples, 2), s.seed + 3)
        n = test.shape[0]
        ranges = self.ranges.summary(self.test)
        out.update(self._dnn(test))
        out.update({
            "apd_cm": 100 * average_pairwise_distance(self.joints(test)).item(),
            "out_of_range_share": ranges["share"],
            "out_of_range_joint_rate": ranges["joint_rate"],
            "out_of_range_per_joint": ranges["per_joint"],
            "n_apd_dnn": int(n),
            "note": "FID and precision/recall/density/coverage: training poses vs held-out poses; "
                    "APD, dNN, out-of-range: held-out poses",
        })
        return out
