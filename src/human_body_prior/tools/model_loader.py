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
    """The v1 ini's settings, with the paths the original sets on loading: the snapshot read
    (``best_model_fname``) and the release folder (``work_dir``)."""
    _, settings = find_settings(expr_dir) if expr_dir.is_dir() else (None, {})
    data = dict(settings)
    if "snapshot" in model.info:
        data["best_model_fname"] = model.info["snapshot"]
    if expr_dir.is_dir():
        data["work_dir"] = str(expr_dir)
    return Settings(data)


def _user_class(model_class: type, model: vposer.VPoser) -> torch.nn.Module:
    """An instance of the caller's own VPoser class (the original's ``vp_model=VPoser``)
    holding the loaded weights; this package's compat classes come straight from the model."""
    if issubclass(model_class, (VPoserV1, VPoserV2)):
        return _as_compat(model)
    c = model.config
    instance = model_class(num_neurons=c.num_neurons, latentD=c.latent_dim, data_shape=[1, 21, 3])
    instance.load_state_dict(model.state_dict())
    return instance.eval()


def load_vposer(expr_dir: str, vp_model: Any = "snapshot") -> tuple[torch.nn.Module, Settings]:
    """Load a trained VPoser release directory; returns ``(model, ps)`` in eval mode on the CPU.

    ``vp_model='snapshot'`` reads the snapshot with the highest epoch in its name into this
    package's v1/v2 class; a class (the original's ``vp_model=VPoser``) is instantiated with the
    release's sizes and given the same weights. ``ps`` exposes the settings file's keys as
    attributes (``ps.latentD``, ...), with ``best_model_fname`` the snapshot read.
    """
    if isinstance(vp_model, type):
        model = vposer.load_model(expr_dir)
        return _user_class(vp_model, model), _settings(Path(expr_dir), model)
    if vp_model != "snapshot":
        raise ValueError(
            f"vp_model={vp_model!r} would import the model code shipped beside the weights, which "
            "this package never does; use vp_model='snapshot' or pass a VPoser class"
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
) -> Any:
    """The v2 loader: returns ``(model, cfg)``, or ``cfg`` alone with ``load_only_ps=True``.

    The ``vp_model.`` prefix of Lightning checkpoints is removed whatever
    ``remove_words_in_model_weights`` says; ``model_code`` may be this package's ``VPoser`` class
    (or any ``nn.Module`` class taking the config and holding the v2 layer names).
    ``cfg.logging.best_model_fname`` is the snapshot read.
    """
    expr_path = Path(expr_dir)
    _, settings = find_settings(expr_path) if expr_path.is_dir() else (None, {})
    cfg = Settings(dict(custom_ps or settings))
    if load_only_ps:
        return cfg
    loaded = vposer.load_model(expr_dir)
    if "snapshot" in loaded.info:
        logging = dict(cfg.get("logging") or {})
        logging["best_model_fname"] = loaded.info["snapshot"]
        cfg.logging = logging
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
