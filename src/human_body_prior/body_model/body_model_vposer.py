"""``human_body_prior.body_model.body_model_vposer`` (2019 development line):
``BodyModelWithPoser`` (body prior; see :mod:`~human_body_prior.body_model.body_model`);
``BodyInterpenetration`` needed the CUDA ``mesh_intersection`` package and is not provided."""
from .._refused import refused
from .body_model import BodyModel, BodyModelWithPoser

__all__ = ["BodyInterpenetration", "BodyModel", "BodyModelWithPoser"]

BodyInterpenetration = refused(
    "human_body_prior.body_model.body_model_vposer.BodyInterpenetration",
    "it wrapped the CUDA mesh_intersection package (torch-mesh-isect), not a dependency of vposer")
