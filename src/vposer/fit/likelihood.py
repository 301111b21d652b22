"""Pose plausibility under VPoser: moved to :mod:`vposer.model.likelihood`, with the model
(``model.log_likelihood``, ``model.elbo``); this module keeps the old import path."""
from __future__ import annotations

from ..model.likelihood import (
    CALIBRATION_FILE,
    DEFAULT_CHUNK,
    DEFAULT_SAMPLES,
    DEFAULT_SIGMA,
    MIN_STD,
    Calibration,
    ObservationModel,
    calibrate_threshold,
    elbo,
    fit_rotations,
    log_likelihood,
    map_codes,
    posterior,
    read_calibration,
    write_calibration,
)

__all__ = ["ObservationModel", "Calibration", "DEFAULT_SIGMA", "DEFAULT_SAMPLES", "DEFAULT_CHUNK",
           "MIN_STD", "log_likelihood", "elbo", "calibrate_threshold", "read_calibration",
           "write_calibration", "CALIBRATION_FILE", "fit_rotations", "map_codes", "posterior"]
