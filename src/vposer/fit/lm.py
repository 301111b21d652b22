"""Batched Levenberg-Marquardt: moved to :mod:`vposer.model.lm` (the likelihood's code
refinement uses it too); this module keeps the old import path."""
from __future__ import annotations

from ..model.lm import MAX_JVP_ROWS, jacobian, levenberg_marquardt

__all__ = ["levenberg_marquardt", "jacobian", "MAX_JVP_ROWS"]
