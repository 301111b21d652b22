"""The project's own model format: safetensors weights plus a JSON config.

A native model is either a directory holding ``model.safetensors`` and ``config.json``, or a
single ``.safetensors`` file whose metadata carries the same JSON under ``vposer_config``.
The state-dict keys are those of the release the weights came from (v1 or v2 layout), so the format
is lossless in both directions; a model with a learned latent prior adds its mixture as
``latent_prior.weights``, ``latent_prior.means`` and ``latent_prior.scale_tril``. Writes are
atomic: a temporary file in the destination folder, then ``os.replace``; in a directory the weights
(which carry the config in their metadata) are written first, and loading trusts that copy of the
config.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._types import PathLike
from ..errors import CheckpointError, InputError, reads_file
from ..fileio import atomic_path, expand_path
from ..model import ARCHITECTURES, VPoser, VPoserConfig
from ..model.latent_prior import TENSOR_PREFIX, LatentMixture
from .state_dicts import model_from_state_dict

FORMAT_NAME = "vposer"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
METADATA_KEY = "vposer_config"


def model_document(model: VPoser) -> dict[str, Any]:
    """The JSON config written beside the weights: format, architecture and provenance."""
    doc: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
    doc.update(model.config.to_dict())
    if model.latent_prior is not None:  # informative: the tensors alone define it
        doc["latent_prior"] = {"kind": "gaussian_mixture",
                               "components": model.latent_prior.n_components}
    info = {k: v for k, v in model.info.items() if k != "training_config" and v is not None}
    if info:
        doc["source"] = info
    if "training_config" in model.info:
        doc["training_config"] = model.info["training_config"]
    return doc


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_path(path) as tmp:
        write(str(tmp))


def save_native(model: VPoser, path: PathLike) -> Path:
    """Write ``model`` in the native format.

    Args:
        path: a directory (created; ``model.safetensors`` + ``config.json`` inside) or a file
            name ending in ``.safetensors`` (config in the file's metadata).

    Returns:
        The path written.
    """
    path = expand_path(path)
    doc = model_document(model)
    text = json.dumps(doc, indent=2, sort_keys=True, default=str)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.latent_prior is not None:
        tensors.update(model.latent_prior.to_tensors())
    metadata = {METADATA_KEY: text}
    if path.suffix == ".safetensors":
        _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
        return path
    if path.exists() and not path.is_dir():
        raise CheckpointError("exists and is not a directory; cannot save a model there", path)
    if path.is_dir() and any(path.iterdir()) and not (
            (path / WEIGHTS_NAME).exists() or (path / CONFIG_NAME).exists()):
        raise CheckpointError("exists, is not empty and holds no native model; refusing to write "
                              "into it (give a new or empty folder)", path)
    _atomic_write(path / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    _atomic_write(path / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return path


def _read_metadata(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata() or {}


def _parse_document(text: str, where: Path) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"the model config is not valid JSON ({exc.msg}, line {exc.lineno})", where) from None
    except (ValueError, RecursionError) as exc:  # 5000-digit numbers, nesting 1000 deep
        raise CheckpointError(f"the model config is not usable JSON ({type(exc).__name__})",
                              where) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise CheckpointError(f"not a vposer model config (no \"format\": \"{FORMAT_NAME}\")", where)
    version = doc.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise CheckpointError(f"the model config's format_version is {version!r}, not a version "
                              "number", where)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"written by a newer vposer (format version {version}); upgrade vposer", where
        )
    for key in ("source", "training_config"):
        if not isinstance(doc.get(key, {}), dict):
            raise CheckpointError(f"the model config's {key!r} is not a mapping", where)
    return doc


def _config(doc: dict[str, Any], where: Path) -> VPoserConfig:
    """The architecture a config document declares (checked, not yet built)."""
    arch, neurons, latent = doc.get("architecture"), doc.get("num_neurons"), doc.get("latent_dim")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"the model config's architecture is {arch!r}; expected one of "
                              f"{', '.join(map(repr, ARCHITECTURES))}", where)
    for name, value in (("num_neurons", neurons), ("latent_dim", latent)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise CheckpointError(f"the model config's {name} is {value!r}, not a positive "
                                  "integer", where)
    return VPoserConfig(arch, neurons, latent)


@reads_file
def load_native(path: PathLike) -> VPoser:
    """Load a native model directory or ``.safetensors`` file (see the module docstring).

    The config in the weights' metadata, written in the same file as them, is the one used;
    ``config.json`` only stands in for it when the metadata has none (so a save interrupted
    between its two files still loads as the model that was being saved). The declared sizes
    must match the tensors, which alone size the network.
    """
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    try:
        tensors = load_file(str(weights))
        metadata = _read_metadata(weights)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"cannot read the safetensors weights, truncated or corrupt ({exc})", weights) from None
    doc: dict[str, Any] | None = None
    where = weights
    config_file = path / CONFIG_NAME if path.is_dir() else None
    if METADATA_KEY in metadata:
        doc = _parse_document(metadata[METADATA_KEY], weights)
    elif config_file is not None and config_file.is_file():
        try:
            text = config_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read the model config ({exc})", config_file) from None
        doc, where = _parse_document(text, config_file), config_file
    declared = None if doc is None else _config(doc, where)
    prior = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(TENSOR_PREFIX)]}
    model = model_from_state_dict(tensors, weights)  # sized by the tensors, never by the config
    if declared is not None and declared != model.config:
        raise CheckpointError(f"the config declares {declared.to_dict()} but the weights hold "
                              f"{model.config.to_dict()}", where)
    if prior:
        try:  # the mixture checks itself, the model checks that it fits its codes
            model.latent_prior = LatentMixture.from_tensors(prior)
        except InputError as exc:
            raise CheckpointError(str(exc), weights) from None
    if doc is not None:
        source = doc.get("source", {})
        origin = source.get("converted_from", source) if source.get("format") == "native" else source
        if origin:
            model.info["converted_from"] = origin
        if "training_config" in doc:
            model.info["training_config"] = doc["training_config"]
    return model
