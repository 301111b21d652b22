"""Pose and latent-code files (``.npz``): the project's conventions, written atomically.

Poses: ``pose_body`` ``(N, 63)`` float32 axis-angle, ``root_orient`` ``(N, 3)`` when known, and
``meta``: a JSON string saying how the file was made (enough to reproduce it).
Latent codes: ``z`` ``(N, D)`` float32 (the encoder mean), ``z_std`` when encoded.

Readers also accept the compat key ``pose`` (``sample_vposer``), ``(N, 21, 3)`` or
``(N, 1, 21, 3)`` layouts, and AMASS takes (``poses`` ``(T, 156|165)``: columns 3..66).
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from .errors import InputError, PathLike
from .fileio import atomic_path

POSE_KEYS = ("pose_body", "pose")


def atomic_savez(path: PathLike, arrays: Mapping[str, Any]) -> Path:
    """``np.savez`` to a temporary file in the destination folder, then rename: a reader never
    sees a half-written file, and an existing file is only replaced once the new one is whole."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def read_npz(path: PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (no pickles).

    Raises:
        InputError: missing or unreadable file; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"not a readable .npz file ({exc})", path) from None


def read_meta(data: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The ``meta`` JSON of a file written by vposer (empty when absent)."""
    if "meta" not in data:
        return {}
    try:
        return json.loads(str(data["meta"]))
    except json.JSONDecodeError:
        return {}


def load_poses(path: PathLike, key: Optional[str] = None) -> np.ndarray:
    """Body poses ``(N, 63)`` float32 from an npz file (see the module docstring for layouts).

    Raises:
        InputError: missing file, no pose key, wrong shape, NaN or Inf; the message names the file.
    """
    data = read_npz(path)
    keys = (key,) if key else POSE_KEYS
    found = next((k for k in keys if k in data), None)
    if found is None and not key and "poses" in data and data["poses"].ndim == 2 \
            and data["poses"].shape[1] in (156, 165):
        poses = data["poses"][:, 3:66]
    elif found is None:
        raise InputError(
            f"no pose array: expected key {' or '.join(repr(k) for k in keys)} "
            f"(found {', '.join(data) or 'nothing'})", path)
    else:
        poses = data[found]
    poses = np.asarray(poses)
    if poses.ndim == 4 and poses.shape[1] == 1:
        poses = poses[:, 0]
    if poses.ndim == 3 and poses.shape[1:] == (21, 3):
        poses = poses.reshape(len(poses), 63)
    if poses.ndim != 2 or poses.shape[1] != 63:
        raise InputError(f"body poses must be (N, 63) or (N, 21, 3), got {poses.shape}", path)
    if not np.isfinite(poses).all():
        raise InputError("body poses contain NaN or Inf", path)
    return poses.astype(np.float32)


def load_latents(path: PathLike, latent_dim: int) -> np.ndarray:
    """Latent codes ``(N, latent_dim)`` from the ``z`` array of an npz file."""
    data = read_npz(path)
    if "z" not in data:
        raise InputError(f"no latent codes: expected key 'z' (found {', '.join(data) or 'nothing'})", path)
    z = np.asarray(data["z"], dtype=np.float32)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise InputError(f"latent codes must be (N, {latent_dim}), got {z.shape}", path)
    if not np.isfinite(z).all():
        raise InputError("latent codes contain NaN or Inf", path)
    return z


def meta_json(**fields: Any) -> np.ndarray:
    """A 0-d string array holding ``fields`` as JSON, for the ``meta`` key."""
    from . import __version__

    return np.array(json.dumps({"vposer_version": __version__, **fields}, sort_keys=True, default=str))


def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of the model's state dict (names, dtypes, shapes, bytes): identifies the weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()
