"""VPoser networks: the v1 and v2 layer layouts behind one API (encode, decode, sample), an
optional learned prior over the codes (:mod:`.latent_prior`), and the model's own maths: the
importance-weighted likelihood, the ELBO and the plausibility threshold (:mod:`.likelihood`),
with the Levenberg-Marquardt solver it refines codes with (:mod:`.lm`)."""
from ..constants import NUM_JOINTS, POSE_DIM
from .likelihood import (
    Calibration,
    ObservationModel,
    calibrate_threshold,
    elbo,
    log_likelihood,
    read_calibration,
    write_calibration,
)
from .latent_prior import LatentMixture, fit_latent_prior
from .networks import ARCHITECTURES, V1Layers, V2Layers, build_model
from .vposer import DecodedPoses, VPoser, VPoserConfig, VPoserOutput, as_pose_batch, interpolate

__all__ = [
    "ARCHITECTURES",
    "NUM_JOINTS",
    "POSE_DIM",
    "Calibration",
    "DecodedPoses",
    "LatentMixture",
    "ObservationModel",
    "V1Layers",
    "V2Layers",
    "VPoser",
    "VPoserConfig",
    "VPoserOutput",
    "as_pose_batch",
    "build_model",
    "calibrate_threshold",
    "elbo",
    "fit_latent_prior",
    "interpolate",
    "log_likelihood",
    "read_calibration",
    "write_calibration",
]
