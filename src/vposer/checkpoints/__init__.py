"""Reading every VPoser release layout safely, and the project's native format.

:func:`load_model` recognises by content:

- a v1 release directory (``*.ini`` + ``snapshots/*.pt``), a v2 release directory
  (``*.yaml`` + ``snapshots/*.ckpt``), or an experiment directory of ``vposer train``;
- a single ``.pt`` / ``.ckpt`` file: a plain state dict or a Lightning checkpoint, in torch's zip
  or legacy (pre-1.6) serialization, read through a restricted unpickler;
- the native format: ``model.safetensors`` + ``config.json`` (directory) or one ``.safetensors``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Mapping

from .._types import PathLike
from ..errors import CheckpointError, reads_file
from ..fileio import expand_path
from ..model import VPoser
from .native import load_native, save_native
from .release import (
    ReleaseSettings,
    Settings,
    choose_snapshot,
    directory_kind,
    find_settings,
    is_appledouble,
    settings_sizes,
    snapshot_epoch,
)
from .state_dicts import model_from_state_dict
from .unpickler import load_torch_file

__all__ = ["load_model", "save_model", "convert", "default_model_path", "ReleaseSettings",
           "Settings"]


def default_model_path() -> Path:
    """Where the open default weights ship inside the package."""
    return Path(__file__).resolve().parent.parent / "assets" / "default_model"


def _state_dict_of(obj: Any, path: Path) -> tuple[Mapping[str, Any], str]:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        return obj["state_dict"], "lightning-checkpoint"
    if isinstance(obj, Mapping) and obj and all(isinstance(k, str) for k in obj):
        return obj, "state-dict"
    raise CheckpointError(
        f"the file holds a {type(obj).__name__}, not a state dict or a Lightning checkpoint", path
    )


def _load_checkpoint_file(path: Path) -> VPoser:
    if is_appledouble(path):
        raise CheckpointError("a macOS resource-fork file ('._*', AppleDouble), not a checkpoint", path)
    if path.suffix == ".safetensors":
        model = load_native(path)
        model.info.update(format="native", path=str(path.resolve()))
        return model
    obj = load_torch_file(path)
    sd, kind = _state_dict_of(obj, path)
    model = model_from_state_dict(sd, path)
    model.info.update(format=kind, path=str(path.resolve()), snapshot=str(path.resolve()), epoch=snapshot_epoch(path))
    if kind == "lightning-checkpoint" and isinstance(obj.get("epoch"), int):
        model.info["epoch"] = obj["epoch"]
    return model


def _check_sizes(model: VPoser, settings: Mapping[str, Any], settings_file: Path) -> None:
    neurons, latent = settings_sizes(settings)
    c = model.config
    for name, declared, actual in (("num_neurons", neurons, c.num_neurons), ("latentD", latent, c.latent_dim)):
        if declared is not None and declared != actual:
            raise CheckpointError(
                f"declares {name} = {str(declared)[:40]}{'...' if len(str(declared)) > 40 else ''} "
                f"but the snapshot's weights have {actual}", settings_file
            )


@reads_file
def load_model(
    path: PathLike | None = None, device: Any = None, dtype: Any = None
) -> VPoser:
    """Load a VPoser from any supported source (see the module docstring), in eval mode.

    Args:
        path: release or experiment directory, checkpoint file, or native model; ``None`` loads
            the open default weights shipped with the package.
        device, dtype: where and in which precision to put the weights (default CPU, float32).

    Returns:
        The model; ``model.info`` says what was read (format, snapshot, epoch, training config).

    Raises:
        CheckpointError: the path is missing, empty, corrupt, unsafe or not a VPoser.
    """
    if path is None:
        path = default_model_path()
        if not (path / "model.safetensors").is_file():
            raise CheckpointError(
                "no default weights are shipped with this installation; pass a model path", path
            )
    path = expand_path(path)
    if not path.exists():
        raise CheckpointError("no such file or folder", path)
    if path.is_dir():
        kind = directory_kind(path)
        if kind != "native" and directory_kind(path / "model") == "native" if (path / "model").is_dir() else False:
            # a `vposer train` run folder: its exported best weights
            path, kind = path / "model", "native"
        if kind == "native":
            model = load_native(path)
            model.info.update(format="native", path=str(path.resolve()))
        else:
            snapshot = choose_snapshot(path)
            settings_file, settings = find_settings(path)
            model = _load_checkpoint_file(snapshot)
            if settings_file is not None:
                _check_sizes(model, settings, settings_file)
                model.info["settings_file"] = str(settings_file.resolve())
                model.info["training_config"] = settings
            model.info.update(format=kind, path=str(path.resolve()))
    else:
        model = _load_checkpoint_file(path)
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    return model.eval()


def save_model(model: VPoser, path: PathLike) -> Path:
    """Save in the native format (directory, or one ``.safetensors`` file); atomic."""
    return save_native(model, path)


def convert(source: PathLike, destination: PathLike) -> Path:
    """Read any supported source and write it in the native format; returns the path written."""
    return save_native(load_model(source), destination)
