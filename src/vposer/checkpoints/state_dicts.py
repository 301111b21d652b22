"""From a raw state dict (any release layout) to a VPoser, with every check a user needs.

The architecture and sizes are read from the tensors themselves: v1 keys are
``bodyprior_enc_*``/``bodyprior_dec_*``; v2 keys are ``encoder_net.*``/``decoder_net.*``,
possibly prefixed ``vp_model.`` (Lightning). Other entries of a Lightning checkpoint
(``bm_train.*``, the training body model) are ignored.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Mapping

import torch
from torch import Tensor

from .._types import PathLike
from ..errors import CheckpointError
from ..model import POSE_DIM, VPoser, VPoserConfig, build_model

V2_PREFIX = "vp_model."  # V02_05's Lightning module
TRAINER_PREFIX = "vposer."  # vposer train's Lightning module
_NUM_6D = 21 * 6


def _shape(sd: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    value = sd.get(key)
    return tuple(value.shape) if isinstance(value, Tensor) else ()


def strip_prefix(sd: Mapping[str, Any], path: PathLike | None = None) -> dict[str, Any]:
    """Keep the entries under a training module's prefix (``vp_model.`` or ``vposer.``), without
    it, when any key has one; else return all."""
    if not all(isinstance(k, str) for k in sd):
        odd = next(k for k in sd if not isinstance(k, str))
        raise CheckpointError(f"the state dict has a key that is not a name: {odd!r}", path)
    for prefix in (V2_PREFIX, TRAINER_PREFIX):
        if any(k.startswith(prefix) for k in sd):
            return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return dict(sd)


def infer_config(sd: Mapping[str, Tensor], path: PathLike | None = None) -> VPoserConfig:
    """The :class:`VPoserConfig` whose layers match the state dict's names and shapes.

    Raises:
        CheckpointError: the tensors match neither published architecture.
    """
    if "bodyprior_dec_out.weight" in sd or "bodyprior_enc_fc1.weight" in sd:
        arch, fc1, mu, out = "v1", "bodyprior_enc_fc1.weight", "bodyprior_enc_mu.weight", "bodyprior_dec_out.weight"
    elif "decoder_net.5.weight" in sd or "encoder_net.2.weight" in sd:
        arch, fc1, mu, out = "v2", "encoder_net.2.weight", "encoder_net.8.mu.weight", "decoder_net.5.weight"
    else:
        sample = ", ".join(list(sd)[:4]) or "none"
        raise CheckpointError(
            f"the weights match no VPoser architecture (no v1 'bodyprior_*' or v2 "
            f"'encoder_net.*' layers; first keys: {sample})",
            path,
        )
    fc1_shape, mu_shape, out_shape = _shape(sd, fc1), _shape(sd, mu), _shape(sd, out)
    if len(fc1_shape) != 2 or len(mu_shape) != 2 or len(out_shape) != 2:
        raise CheckpointError(f"{arch} weights are incomplete: {fc1}, {mu} or {out} is missing", path)
    if fc1_shape[1] != POSE_DIM or out_shape[0] != _NUM_6D:
        raise CheckpointError(
            f"shapes match no VPoser architecture: the {arch} encoder input is {fc1_shape[1]} wide "
            f"(expected {POSE_DIM}) and the decoder output {out_shape[0]} (expected {_NUM_6D})",
            path,
        )
    return VPoserConfig(arch, num_neurons=fc1_shape[0], latent_dim=mu_shape[0])


def model_from_state_dict(
    sd: Mapping[str, Any], path: PathLike | None = None, config: VPoserConfig | None = None
) -> VPoser:
    """Build the matching VPoser and load ``sd`` into it (strict, shapes and values checked).

    Raises:
        CheckpointError: unknown architecture, missing or extra layers, wrong shapes, NaN or Inf.
    """
    sd = strip_prefix(sd, path)
    config = config or infer_config(sd, path)
    model = build_model(config)
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    if missing:
        raise CheckpointError(
            f"{config.architecture} weights are missing {len(missing)} tensors "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})",
            path,
        )
    unexpected = [k for k in sd if k not in expected and not k.startswith("bm_train.")]
    if unexpected:
        raise CheckpointError(
            f"the weights have {len(unexpected)} tensors no {config.architecture} VPoser has "
            f"({', '.join(unexpected[:3])}{', ...' if len(unexpected) > 3 else ''})",
            path,
        )
    for key, ref in expected.items():
        value = sd[key]
        if not isinstance(value, Tensor):
            raise CheckpointError(f"'{key}' is not a tensor but {type(value).__name__}", path)
        if tuple(value.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"'{key}' has shape {tuple(value.shape)}, the architecture needs {tuple(ref.shape)}",
                path,
            )
        if value.is_complex() or (ref.is_floating_point() and not value.is_floating_point()):
            raise CheckpointError(f"'{key}' holds {value.dtype} values; the architecture needs "
                                  "real floating-point weights", path)
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"'{key}' contains NaN or Inf values", path)
    model.load_state_dict({k: sd[k] for k in expected}, strict=True)
    return model.eval()
