"""``human_body_prior.tools.model_loader``: ``load_vposer`` (v1 API) and ``load_model`` (v2 API).

Both read release directories with :func:`vposer.load_model`: the snapshot with the highest epoch,
through a restricted unpickler; the model source shipped beside the weights is never executed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

import vposer
from vposer.checkpoints import Settings, find_settings

from ..models.vposer_model import VPoser as VPoserV2
from ..train.vposer_smpl import VPoser as VPoserV1

__all__ = ["load_vposer", "load_model"]


def _as_compat(model: vposer.VPoser) -> torch.nn.Module:
    c = model.config
    compat = VPoserV1(c.num_neurons, c.latent_dim) if c.architecture == "v1" else \
        VPoserV2({"model_params": {"num_neurons": c.num_neurons, "latentD": c.latent_dim}})
    compat.load_state_dict(model.state_dict())
    compat.info = dict(model.info)
    return compat.eval()


def _settings(expr_dir: Path, model: vposer.VPoser) -> Settings:
    _, settings = find_settings(expr_dir) if expr_dir.is_dir() else (None, {})
    data = dict(settings)
    if "snapshot" in model.info:
        data.setdefault("best_model_fname", model.info["snapshot"])
    return Settings(data)


def load_vposer(expr_dir: str, vp_model: str = "snapshot") -> tuple[torch.nn.Module, Settings]:
    """Load a trained VPoser release directory; returns ``(model, ps)`` in eval mode on the CPU.

    ``vp_model='snapshot'`` (the only mode) reads the snapshot with the highest epoch in its name.
    ``ps`` exposes the settings file's keys as attributes (``ps.latentD``, ...).
    """
    if vp_model != "snapshot":
        raise ValueError(
            f"vp_model={vp_model!r} would import the model code shipped beside the weights, which "
            "this package never does; use vp_model='snapshot'"
        )
    model = vposer.load_model(expr_dir)
    return _as_compat(model), _settings(Path(expr_dir), model)


def load_model(
    expr_dir: str,
    model_code: Optional[Any] = None,
    remove_words_in_model_weights: Optional[str] = None,
    load_only_ps: bool = False,
    disable_grad: bool = True,
    custom_ps: Optional[Any] = None,
    comp_device: str = "gpu",
) -> tuple[Any, Settings]:
    """The v2 loader: returns ``(model, cfg)``.

    The ``vp_model.`` prefix of Lightning checkpoints is removed whatever
    ``remove_words_in_model_weights`` says; ``model_code`` may be this package's ``VPoser`` class
    (or any ``nn.Module`` class taking the config and holding the v2 layer names).
    """
    expr_path = Path(expr_dir)
    _, settings = find_settings(expr_path) if expr_path.is_dir() else (None, {})
    cfg = Settings(dict(custom_ps or settings))
    if load_only_ps:
        return None, cfg
    loaded = vposer.load_model(expr_dir)
    if model_code is None or model_code in (VPoserV1, VPoserV2):
        model = _as_compat(loaded)
    else:
        model = model_code(cfg)
        model.load_state_dict(loaded.state_dict())
    if comp_device == "gpu":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(comp_device)
    model.to(device).eval()
    if disable_grad:
        for p in model.parameters():
            p.requires_grad_(False)
    return model, cfg
