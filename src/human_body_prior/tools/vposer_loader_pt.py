"""``human_body_prior.tools.vposer_loader_pt``: the 2018 loader names, over
:mod:`human_body_prior.tools.model_loader` (``model_type`` is accepted; body priors only)."""
from __future__ import annotations

from typing import Any

from .model_loader import expid2model as _expid2model
from .model_loader import extract_weights_asnumpy as _extract
from .model_loader import load_vposer

__all__ = ["expid2model", "extract_weights_asnumpy", "vposer_loader_pt"]


def expid2model(exp_dir: str, model_type: str = "smpl") -> tuple:
    """``(ps, trained_model_fname)`` of a release folder."""
    return _expid2model(exp_dir)


def vposer_loader_pt(exp_dir: str, model_type: str = "smpl") -> tuple:
    """``(model, ps)``: :func:`~human_body_prior.tools.model_loader.load_vposer`."""
    return load_vposer(exp_dir)


def extract_weights_asnumpy(exp_id: str, model_type: str = "smpl") -> Any:
    """The weights as ``weights_npy/vposerWeights.npz``; returns ``(ps, weights)``."""
    return _extract(exp_id)
