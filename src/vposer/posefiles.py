"""Pose and latent-code files (``.npz``): the project's conventions, written atomically.

Poses: ``pose_body`` ``(N, 63)`` float32 axis-angle, ``root_orient`` ``(N, 3)`` when known, and
``meta``: a JSON string saying how the file was made (enough to reproduce it).
Latent codes: ``z`` ``(N, D)`` float32 (the encoder mean), ``z_std`` when encoded.

Readers also accept the compat key ``pose`` (``sample_vposer``), ``(N, 21, 3)`` or
``(N, 1, 21, 3)`` layouts, full poses with the root first (AMASS takes' ``poses`` ``(T, 156)``,
SMPL ``(N, 72)``, SMPL-X ``(N, 165)``: columns 3..66), SMPL's ``(N, 69)`` body pose and ``.npy``
arrays.
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
#: Row widths of full poses, root orientation first: root + body, SMPL (72), SMPL+H / AMASS
#: (156), SMPL-X (165).
FULL_POSE_WIDTHS = (66, 72, 156, 165)


def npz_name(path: PathLike) -> Path:
    """``path`` with ``.npz`` appended unless it ends so (as ``np.savez`` names files)."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def atomic_savez(path: PathLike, arrays: Mapping[str, Any]) -> Path:
    """``np.savez`` to a temporary file in the destination folder, then rename: a reader never
    sees a half-written file, and an existing file is only replaced once the new one is whole."""
    path = npz_name(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def read_npz(path: PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (no pickles); a ``.npy`` file reads as ``{"array": ...}``.

    Raises:
        InputError: missing or unreadable file; the message names it.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory; expected an .npz file", path)
    if not path.is_file():
        raise InputError("no such file", path)
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise InputError("not an .npz archive (nor an .npy array)", path)
            return {"array": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"not a readable .npz file ({str(exc).splitlines()[0]})", path) from None


def _numeric(array: np.ndarray, what: str, path: PathLike) -> np.ndarray:
    """``array`` checked: real numbers, at least one row, all finite."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise InputError(f"{what} have dtype {array.dtype}; expected real numbers", path)
    if array.shape[0] == 0:
        raise InputError(f"holds no {what} (0 rows)", path)
    if not np.isfinite(array).all():
        raise InputError(f"{what} contain NaN or Inf", path)
    return array


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
    keys = (key,) if key else POSE_KEYS + ("array",)
    found = next((k for k in keys if k in data), None)
    if found is None and not key and "poses" in data:
        found = "poses"
    if found is None:
        raise InputError(
            f"no pose array: expected key {' or '.join(repr(k) for k in keys)} "
            f"(found {', '.join(data) or 'nothing'})", path)
    poses = np.asarray(data[found])
    if poses.ndim == 2 and poses.shape[1] in FULL_POSE_WIDTHS:  # root first, then the body
        poses = poses[:, 3:66]
    elif poses.ndim == 2 and poses.shape[1] == 69:  # SMPL's body_pose: 21 joints, 2 hands
        poses = poses[:, :63]
    if poses.ndim == 4 and poses.shape[1] == 1:
        poses = poses[:, 0]
    if poses.ndim == 3 and poses.shape[1:] == (21, 3):
        poses = poses.reshape(len(poses), 63)
    if poses.ndim != 2 or poses.shape[1] != 63:
        raise InputError(f"body poses must be (N, 63) or (N, 21, 3), got {poses.shape}", path)
    return _numeric(poses, "body poses", path).astype(np.float32)


def load_latents(path: PathLike, latent_dim: int) -> np.ndarray:
    """Latent codes ``(N, latent_dim)`` from the ``z`` array of an npz file."""
    data = read_npz(path)
    if "z" not in data:
        raise InputError(f"no latent codes: expected key 'z' (found {', '.join(data) or 'nothing'})", path)
    z = np.asarray(data["z"])
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise InputError(f"latent codes must be (N, {latent_dim}), got {z.shape}", path)
    return _numeric(z, "latent codes", path).astype(np.float32)


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
