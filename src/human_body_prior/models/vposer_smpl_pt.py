"""``human_body_prior.models.vposer_smpl_pt``: the earliest v1 module path (the original's tests
import ``VPoser`` from here)."""
from ..train.vposer_smpl import ContinousRotReprDecoder, VPoser

__all__ = ["ContinousRotReprDecoder", "VPoser"]
