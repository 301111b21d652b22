"""VPoser networks: the v1 and v2 layer layouts behind one API (encode, decode, sample)."""
from .networks import ARCHITECTURES, V1Layers, V2Layers, build_model
from .vposer import (
    NUM_JOINTS,
    POSE_DIM,
    DecodedPoses,
    VPoser,
    VPoserConfig,
    VPoserOutput,
    as_pose_batch,
    interpolate,
)

__all__ = [
    "ARCHITECTURES",
    "NUM_JOINTS",
    "POSE_DIM",
    "DecodedPoses",
    "V1Layers",
    "V2Layers",
    "VPoser",
    "VPoserConfig",
    "VPoserOutput",
    "as_pose_batch",
    "build_model",
    "interpolate",
]
