"""Evaluating pose priors with the field's metrics (spec: "Pose-prior metrics used by the field").

- :mod:`.metrics`: reconstruction errors, KL, active units, APD, FID;
- :mod:`.neighbours`: dNN to the training set, precision / recall / density / coverage;
- :mod:`.plausibility`: rotation ranges measured on training poses;
- :mod:`.features`: joint positions (forward kinematics only) and joint quaternions;
- :mod:`.gmm`: SMPLify's 8-component Gaussian-mixture prior, the baseline;
- :mod:`.pipeline`: :class:`Evaluator`, the protocol; :mod:`.run`: :func:`evaluate`, one run
  with its ``metrics.json`` and plots (``vposer evaluate``).
"""
from .features import JointPositions, joint_quaternions
from .gmm import GMMPrior
from .metrics import (
    active_units,
    average_pairwise_distance,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_fit,
    joint_geodesic_deg,
    kl_per_dim,
    vertex_error_euclidean,
    vertex_error_l1,
)
from .neighbours import knn_radii, nearest_neighbour_distance, precision_recall_coverage
from .pipeline import EvalSettings, Evaluator
from .plausibility import RotationRanges
from .run import EvaluationResult, evaluate

__all__ = [
    "EvalSettings", "EvaluationResult", "Evaluator", "GMMPrior", "JointPositions", "RotationRanges",
    "active_units", "average_pairwise_distance", "evaluate", "frechet_distance",
    "frechet_distance_from_stats", "gaussian_fit", "joint_geodesic_deg", "joint_quaternions",
    "kl_per_dim", "knn_radii", "nearest_neighbour_distance", "precision_recall_coverage",
    "vertex_error_euclidean", "vertex_error_l1",
]
