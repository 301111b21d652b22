"""``human_body_prior.tools.model_loader``: both generations' loaders.

- cvpr19 (v1 API): ``load_vposer(expr_dir, vp_model='snapshot')`` -> ``(model, ps)``;
  ``expid2model(expr_dir)`` -> ``(ps, best_model_fname)``; ``extract_weights_asnumpy``.
- v2: ``load_model(expr_dir, model_code=None, remove_words_in_model_weights=None,
  load_only_cfg=False, disable_grad=True, model_cfg_override=None)`` -> ``(model, cfg)`` (or
  ``cfg`` alone), also taking the first v2 releases' keywords ``load_only_ps`` and ``custom_ps``
  and ``comp_device``; ``exprdir2model(expr_dir, model_cfg_override=None)`` ->
  ``(cfg, trained_weights_fname)``.

Everything is read with :func:`vposer.load_model`: the snapshot with the highest epoch, through a
restricted unpickler; the model source shipped beside the weights is never executed. The v1 API
is v1 whatever the architecture of the weights (:func:`~human_body_prior.train.vposer_smpl.
v1_interface`), so ``load_vposer`` on a v2 release or on the open default weights gives
``sample_poses`` of ``N x 1 x 21 x 3``. ``load_model`` refuses a ``model_code`` that cannot hold
the release's weights, naming the class that can.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Mapping

import numpy as np
import torch

import vposer
from vposer.checkpoints import ReleaseSettings as Settings
from vposer.checkpoints.release import choose_snapshot, directory_kind, find_settings
from vposer.errors import CheckpointError

from ..models.vposer_model import VPoser as VPoserV2
from ..train.vposer_smpl import V1Interface, v1_interface
from ..train.vposer_smpl import VPoser as VPoserV1

__all__ = ["exprdir2model", "expid2model", "extract_weights_asnumpy", "load_model", "load_vposer"]

_CLASS_FOR = {"v1": "human_body_prior.train.vposer_smpl.VPoser (or load_vposer)",
              "v2": "human_body_prior.models.vposer_model.VPoser"}


def _weights_file(expr_dir: Path) -> Path:
    """The file :func:`vposer.load_model` reads for a folder (or the file itself)."""
    if not expr_dir.is_dir():
        return expr_dir
    if directory_kind(expr_dir) == "native":
        return expr_dir / "model.safetensors"
    if directory_kind(expr_dir) != "native" and (expr_dir / "model").is_dir() \
            and directory_kind(expr_dir / "model") == "native":
        return expr_dir / "model" / "model.safetensors"
    return choose_snapshot(expr_dir)


def _read_settings(expr_dir: Path) -> dict:
    if expr_dir.is_dir():
        return dict(find_settings(expr_dir)[1])
    return {}


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    node = tree
    parts = str(key).split(".")
    for part in parts[:-1]:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    node[parts[-1]] = value


def _merge(tree: dict, override: Mapping[str, Any]) -> dict:
    """``override``'s values into ``tree``: dotted keys (``'model_params.latentD'``) or nested."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in tree.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            _set_dotted(out, key, value)
    return out


def exprdir2model(expr_dir: str, model_cfg_override: Mapping[str, Any] | None = None) -> tuple:
    """``(cfg, trained_weights_fname)`` of a v2 experiment folder (no weights are read);
    ``cfg.logging.best_model_fname`` is the snapshot."""
    path = Path(expr_dir).expanduser()
    if not path.exists():
        raise CheckpointError("could not find the experiment directory", path)
    weights = _weights_file(path)
    data = _read_settings(path)
    if model_cfg_override:
        data = _merge(data, model_cfg_override)
    cfg = Settings(data)
    logging = dict(cfg.get("logging") or {})
    logging["best_model_fname"] = str(weights)
    cfg.logging = logging
    return cfg, str(weights)


def _v1_settings(expr_dir: Path, model: Any | None = None,
                 best: Path | None = None) -> Settings:
    """The v1 ini's settings, with the paths the original sets on loading: the snapshot read
    (``best_model_fname``) and the release folder (``work_dir``); the sizes of the weights when
    the folder has no ini (a v2 release, the open default weights)."""
    data = _read_settings(expr_dir)
    if model is not None:
        c = model.config
        data.setdefault("latentD", c.latent_dim)
        data.setdefault("num_neurons", c.num_neurons)
        data.setdefault("data_shape", [1, 21, 3])
        best = Path(model.info.get("snapshot") or model.info.get("path") or best or expr_dir)
        if best.is_dir():
            best = _weights_file(best)
    if best is not None:
        data["best_model_fname"] = str(best)
    if expr_dir.is_dir():
        data["work_dir"] = str(expr_dir)
    return Settings(data)


def expid2model(expr_dir: str) -> tuple:
    """``(ps, best_model_fname)`` of a release folder (the cvpr19 helper; no weights are read)."""
    path = Path(expr_dir).expanduser()
    if not path.exists():
        raise CheckpointError("could not find the experiment directory", path)
    best = _weights_file(path)
    return _v1_settings(path, best=best), str(best)


def _compat(model: vposer.VPoser, api: str, where: Any = None) -> torch.nn.Module:
    """The package's compat class holding the weights: ``api='v2'`` the dict API of
    :class:`~human_body_prior.models.vposer_model.VPoser` (v2 weights only), ``'v1'`` the v1 API
    (any weights). ``where`` names the release in errors (default: the path it was read from)."""
    c = model.config
    if api == "v2":
        if c.architecture != "v2":
            raise CheckpointError(f"this is a {c.architecture} VPoser; {_CLASS_FOR['v2']} cannot "
                                  f"hold it: use {_CLASS_FOR[c.architecture]}", where or model.info.get("path"))
        compat = VPoserV2({"model_params": {"num_neurons": c.num_neurons, "latentD": c.latent_dim}})
        compat.load_state_dict(model.state_dict())
        compat.info = dict(model.info)
        return compat.eval()
    return v1_interface(model)


def _user_class(model_class: type, model: vposer.VPoser) -> torch.nn.Module:
    """An instance of the caller's own VPoser class (the original's ``vp_model=VPoser``)
    holding the loaded weights; this package's compat classes come straight from the model."""
    if issubclass(model_class, (V1Interface, VPoserV2)):
        return _compat(model, "v2" if issubclass(model_class, VPoserV2) else "v1")
    c = model.config
    instance = model_class(num_neurons=c.num_neurons, latentD=c.latent_dim, data_shape=[1, 21, 3])
    _load_into(instance, model, model_class)
    return instance.eval()


def _load_into(instance: torch.nn.Module, model: vposer.VPoser, model_class: type) -> None:
    try:
        instance.load_state_dict(model.state_dict())
    except RuntimeError:
        where = model.info.get("path")
        arch = model.config.architecture
        raise CheckpointError(
            f"{model_class.__name__} cannot hold these {arch} weights (its layer names or sizes "
            f"differ); use {_CLASS_FOR.get(arch, 'vposer.load_model')}", where) from None


def load_vposer(expr_dir: str, vp_model: Any = "snapshot") -> tuple:
    """Load a trained VPoser (release folder, file, native model); returns ``(model, ps)`` in
    eval mode on the CPU, with the v1 API whatever the architecture of the weights.

    ``vp_model='snapshot'`` reads the snapshot with the highest epoch in its name; a class (the
    original's ``vp_model=VPoser``) is instantiated with the release's sizes and given the same
    weights. ``ps`` exposes the settings file's keys as attributes (``ps.latentD``, ...), with
    ``best_model_fname`` the snapshot read and ``work_dir`` the folder.
    """
    path = Path(expr_dir).expanduser()
    if isinstance(vp_model, type):
        model = vposer.load_model(path)
        return _user_class(vp_model, model), _v1_settings(path, model)
    if vp_model not in ("snapshot", False, None):
        raise ValueError(
            f"vp_model={vp_model!r} would import the model code shipped beside the weights, which "
            "this package never does; use vp_model='snapshot' or pass a VPoser class"
        )
    model = vposer.load_model(path)
    return v1_interface(model), _v1_settings(path, model)


def _device(comp_device: Any) -> torch.device | None:
    if comp_device is None:
        return None
    if comp_device == "gpu":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(comp_device)


def load_model(expr_dir: str, model_code: Any | None = None,
               remove_words_in_model_weights: str | None = None,
               load_only_cfg: bool = False, disable_grad: bool = True,
               model_cfg_override: Mapping[str, Any] | None = None, *,
               load_only_ps: bool = False, custom_ps: Any | None = None,
               comp_device: Any = None) -> Any:
    """The v2 loader: ``(model, cfg)``, or ``cfg`` alone with ``load_only_cfg`` / ``load_only_ps``.

    ``model_cfg_override`` merges values into the settings (dotted keys allowed);
    ``custom_ps`` replaces them. The ``vp_model.`` prefix of Lightning checkpoints is removed
    whatever ``remove_words_in_model_weights`` says. ``model_code``: None or this package's
    ``VPoser`` classes (v2's dict API, v1's), or a class of your own taking the settings and
    holding the release's layer names. The model stays on the CPU unless ``comp_device`` is given
    (``'gpu'``: CUDA when there is one).

    Raises:
        CheckpointError: unreadable release, or a ``model_code`` that cannot hold its weights
            (the message names the class that can).
    """
    cfg, _ = exprdir2model(expr_dir, model_cfg_override)
    if custom_ps is not None:
        cfg = custom_ps if isinstance(custom_ps, Settings) else Settings(dict(custom_ps))
    if load_only_cfg or load_only_ps:
        return cfg
    loaded = vposer.load_model(Path(expr_dir).expanduser())
    arch = loaded.config.architecture
    where = Path(expr_dir).expanduser()  # as the user named it (the loader resolves links)
    if "snapshot" in loaded.info:
        logging = dict(cfg.get("logging") or {})
        logging["best_model_fname"] = loaded.info["snapshot"]
        cfg.logging = logging
    if model_code is None:
        model = _compat(loaded, arch, where)
    elif isinstance(model_code, type) and issubclass(model_code, (VPoserV2, V1Interface)):
        wanted = "v2" if issubclass(model_code, VPoserV2) else "v1"
        if model_code is VPoserV1 and arch != "v1":
            raise CheckpointError(f"this is a {arch} VPoser release; {_CLASS_FOR['v1']} cannot "
                                  f"hold it: use {_CLASS_FOR[arch]}", where)
        model = _compat(loaded, wanted, where)
    else:
        model = model_code(cfg)
        _load_into(model, loaded, model_code)
    device = _device(comp_device)
    if device is not None:
        model.to(device)
    model.eval()
    if disable_grad:
        for p in model.parameters():
            p.requires_grad_(False)
    return model, cfg


def extract_weights_asnumpy(exp_id: str, vp_model: Any = "snapshot") -> tuple:
    """Write the model's parameters to ``<work_dir>/weights_npy/vposerWeights.npz`` (one array per
    parameter name); returns ``(ps, weights)``."""
    from vposer.posefiles import atomic_savez

    model, ps = load_vposer(exp_id, vp_model=vp_model)
    weights = {name: p.detach().cpu().numpy() for name, p in model.named_parameters()}
    out = Path(ps.work_dir) / "weights_npy" / "vposerWeights.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_savez(out, {k: np.asarray(v) for k, v in weights.items()})
    print(f"Dumped weights as numpy arrays to {out.parent}")
    return ps, weights
