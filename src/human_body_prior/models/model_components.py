"""``human_body_prior.models.model_components``: the v2 network's building blocks."""
from .vposer_model import BatchFlatten, ContinousRotReprDecoder, NormalDistDecoder

__all__ = ["BatchFlatten", "ContinousRotReprDecoder", "NormalDistDecoder"]
