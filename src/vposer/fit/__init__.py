"""Using the prior: fitting bodies to targets (IK), pose plausibility scores, pose completion.

::

    import vposer
    from vposer.fit import fit, joint_targets, log_likelihood, complete

    model, body = vposer.load_model(), vposer.load_body()
    result = fit(model, body, joint_targets(joints))        # joints (N, 22, 3) metres
    result.pose_body, result.root_orient, result.trans      # (N, 63), (N, 3), (N, 3)
    result.mean_error                                       # (N,) metres

    scores = log_likelihood(model, poses, samples=16)       # (N,) nats, higher = more plausible
    out = complete(model, known_pose, mask, k=5)            # (5, 21, 3) completions + scores

Modules: :mod:`.targets` (what to fit and the target file format), :mod:`.camera`, :mod:`.robust`,
:mod:`.points` (joints and marker vertices without skinning the whole mesh), :mod:`.init`,
:mod:`.optim` (staged L-BFGS / Adam), :mod:`.fitting`, :mod:`.completion` (the likelihood is the
model's: :mod:`vposer.model.likelihood`, re-exported here and as :mod:`.likelihood`),
:mod:`.overlay` (pictures).
"""
from __future__ import annotations

from .._lazy import lazy_exports


_EXPORTS = {
    "PinholeCamera": "vposer.fit.camera",
    "Targets": "vposer.fit.targets",
    "joint_targets": "vposer.fit.targets",
    "marker_targets": "vposer.fit.targets",
    "keypoint_targets": "vposer.fit.targets",
    "load_targets": "vposer.fit.targets",
    "FitResult": "vposer.fit.fitting",
    "fit": "vposer.fit.fitting",
    "DEFAULT_STAGES": "vposer.fit.fitting",
    "OptimizerSettings": "vposer.fit.optim",
    "run_stage": "vposer.fit.optim",
    "BodyPoints": "vposer.fit.points",
    "log_likelihood": "vposer.model.likelihood",
    "elbo": "vposer.model.likelihood",
    "calibrate_threshold": "vposer.model.likelihood",
    "ObservationModel": "vposer.model.likelihood",
    "Completion": "vposer.fit.completion",
    "complete": "vposer.fit.completion",
    "complete_positions": "vposer.fit.completion",
    "render_overlay": "vposer.fit.overlay",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
