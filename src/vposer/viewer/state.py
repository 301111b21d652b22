"""What the viewer shows, without any GUI: latent codes, decoded poses, posed bodies.

:class:`ViewerState` holds ``B`` latent codes (one per body shown side by side), one of them
*selected* (the one the sliders edit, the one exported and interpolated). Every change re-decodes
the codes with the VPoser model and poses the body model; the results are numpy arrays ready for
the scene. It is not thread-safe: :class:`vposer.viewer.ViewerApp` serialises access with a lock.

Scene frame: the body model's (SMPL: y up, +z the body's front, metres). Each body stands on the
floor ``y = 0`` (its lowest vertex) and body ``i`` of ``B`` is shifted along x by
``spacing * (i - (B - 1) / 2)``, so the row of bodies is centred on the origin.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .._types import PathLike
from ..errors import InputError
if TYPE_CHECKING:
    from ..body import BodyModel
    from ..model import VPoser


MAX_BODIES = 16
SKELETON_JOINTS = 22  # pelvis + the 21 body joints VPoser models (the SMPL family's first 22)


@dataclass
class Frames:
    """An interpolation, ready to play: ``z`` ``(T, D)``, ``pose_body`` ``(T, 63)``, placed
    ``vertices`` ``(T, V, 3)`` and ``joints`` ``(T, J, 3)`` of the selected body's slot."""

    z: np.ndarray
    pose_body: np.ndarray
    vertices: np.ndarray
    joints: np.ndarray


def slot_offsets(n: int, spacing: float) -> np.ndarray:
    """``(n, 3)`` translations putting ``n`` bodies side by side along x, centred on 0."""
    x = spacing * (np.arange(n, dtype=np.float32) - (n - 1) / 2.0)
    return np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)


def ground(vertices: np.ndarray, joints: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stand each body on ``y = 0`` and move it to its slot.

    Args:
        vertices: ``(N, V, 3)``; joints: ``(N, J, 3)``; offsets: ``(N, 3)``.

    Returns:
        the moved ``vertices`` and ``joints`` (new float32 arrays).
    """
    lift = offsets.astype(np.float32).copy()
    lift[:, 1] -= vertices[:, :, 1].min(axis=1)
    return (vertices + lift[:, None]).astype(np.float32), (joints + lift[:, None]).astype(np.float32)


def skeleton_segments(joints: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Bones as line segments: ``(N, J, 3)`` joints to ``(N * K, 2, 3)`` (parent, child) pairs
    over the first :data:`SKELETON_JOINTS` joints (those with a parent)."""
    k = min(SKELETON_JOINTS, joints.shape[1], len(parents))
    child = np.array([j for j in range(k) if parents[j] >= 0], dtype=np.int64)
    parent = np.asarray(parents)[child]
    seg = np.stack([joints[:, parent], joints[:, child]], axis=2)  # (N, K, 2, 3)
    return seg.reshape(-1, 2, 3).astype(np.float32)


class ViewerState:
    """Latent codes of the bodies on show and everything derived from them.

    Args:
        model: a :class:`vposer.VPoser` (any that :func:`vposer.load_model` reads).
        body: a :class:`vposer.BodyModel` (the open body or a SMPL-family file).
        num_bodies: bodies shown side by side (1 to :data:`MAX_BODIES`); all start at ``z = 0``
            (the prior's mode).
        spacing: distance between bodies along x, metres.

    Attributes:
        z: ``(B, D)`` float32 latent codes.
        pose_body: ``(B, 63)`` float32 axis-angle poses decoded from ``z``.
        vertices, joints: ``(B, V, 3)``, ``(B, J, 3)`` float32, placed (see the module docstring).
        faces: ``(F, 3)`` int32.
        selected: index of the body the sliders edit.
        endpoints: latent codes ``(D,)`` marked as ``'A'`` and ``'B'`` for interpolation.
        loaded: poses ``(N, 63)`` read from a pose file (or None) and ``loaded_path``.
    """

    def __init__(self, model: VPoser, body: BodyModel, num_bodies: int = 1, spacing: float = 1.0):
        self.model = model.eval()
        self.body = body
        self.spacing = float(spacing)
        self.latent_dim = int(model.latent_dim)
        self.faces = body.faces.detach().cpu().numpy().astype(np.int32)
        self.parents = body.parents.detach().cpu().numpy()
        self.selected = 0
        self.endpoints: dict[str, np.ndarray] = {}
        self.loaded: np.ndarray | None = None
        self.loaded_path: Path | None = None
        self.last_seed: int | None = None
        self.z = np.zeros((_check_count(num_bodies), self.latent_dim), dtype=np.float32)
        self.refresh()

    # -- derived arrays -----------------------------------------------------------------------
    @property
    def num_bodies(self) -> int:
        return int(self.z.shape[0])

    @property
    def current_z(self) -> np.ndarray:
        """``(D,)`` code of the selected body."""
        return self.z[self.selected].copy()

    @property
    def current_pose(self) -> np.ndarray:
        """``(63,)`` axis-angle pose of the selected body."""
        return self.pose_body[self.selected].copy()

    @torch.no_grad()
    def pose(self, z: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode codes ``(N, D)`` and pose the body: ``pose_body`` ``(N, 63)``, placed
        ``vertices`` ``(N, V, 3)`` and ``joints`` ``(N, J, 3)`` (bodies at ``offsets`` ``(N, 3)``)."""
        decoded = self.model.decode_batched(torch.as_tensor(z, dtype=torch.float32))
        pose_body = decoded.axis_angle.reshape(len(z), 63).float()
        ref = self.body.faces  # device of the body's buffers
        out = self.body(pose_body=pose_body.to(device=ref.device))
        vertices, joints = ground(out.vertices.float().cpu().numpy(), out.joints.float().cpu().numpy(),
                                  offsets)
        return pose_body.cpu().numpy(), vertices, joints

    def refresh(self) -> None:
        """Re-decode all codes (after any change of ``z``)."""
        self.pose_body, self.vertices, self.joints = self.pose(
            self.z, slot_offsets(self.num_bodies, self.spacing))

    def skeleton(self) -> np.ndarray:
        """``(B * K, 2, 3)`` bone segments of all bodies."""
        return skeleton_segments(self.joints, self.parents)

    # -- edits --------------------------------------------------------------------------------
    def sample(self, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """Draw new codes for every body from ``N(0, temperature^2 I)`` (``seed``: reproducible,
        as ``vposer sample``); returns ``z`` ``(B, D)``."""
        z = self.model.sample_latent(self.num_bodies, seed=seed, temperature=float(temperature))
        self.z = z.detach().float().cpu().numpy()
        self.last_seed = seed
        self.refresh()
        return self.z.copy()

    def reset(self) -> None:
        """All codes to zero (the prior's mode)."""
        self.z[:] = 0.0
        self.refresh()

    def set_latent(self, i: int, value: float, body: int | None = None) -> None:
        """Set dimension ``i`` of the selected body's code (or of ``body``) to ``value``."""
        if not 0 <= int(i) < self.latent_dim:
            raise InputError(f"latent dimension must be in 0..{self.latent_dim - 1}, got {i}")
        if not np.isfinite(value):
            raise InputError(f"latent value must be finite, got {value}")
        self.z[self.selected if body is None else self._check_body(body), int(i)] = float(value)
        self.refresh()

    def set_code(self, z: np.ndarray, body: int | None = None) -> None:
        """Replace the selected body's code (or ``body``'s) by ``z`` ``(D,)``."""
        z = np.asarray(z, dtype=np.float32).reshape(-1)
        if z.shape != (self.latent_dim,) or not np.isfinite(z).all():
            raise InputError(f"a latent code must be {self.latent_dim} finite numbers, got {z.shape}")
        self.z[self.selected if body is None else self._check_body(body)] = z
        self.refresh()

    def select(self, body: int) -> None:
        self.selected = self._check_body(body)

    def set_num_bodies(self, n: int, seed: int | None = None, temperature: float = 1.0) -> None:
        """Show ``n`` bodies: keep the first codes, draw the new ones (``seed``, ``temperature``)."""
        n = _check_count(n)
        if n > self.num_bodies:
            extra = self.model.sample_latent(n - self.num_bodies, seed=seed, temperature=float(temperature))
            self.z = np.concatenate([self.z, extra.detach().float().cpu().numpy()])
        else:
            self.z = self.z[:n].copy()
        self.selected = min(self.selected, n - 1)
        self.refresh()

    def _check_body(self, body: int) -> int:
        if not 0 <= int(body) < self.num_bodies:
            raise InputError(f"body index must be in 0..{self.num_bodies - 1}, got {body}")
        return int(body)

    # -- pose files ---------------------------------------------------------------------------
    def load_file(self, path: PathLike) -> int:
        """Read poses from an ``.npz`` (see :func:`vposer.posefiles.load_poses`); returns N."""
        from ..posefiles import load_poses

        self.loaded = load_poses(path)
        self.loaded_path = Path(path)
        return len(self.loaded)

    @torch.no_grad()
    def encode_frame(self, frame: int = 0) -> np.ndarray:
        """Encode pose ``frame`` of the loaded file into the selected body's code (the
        posterior mean); returns it ``(D,)``."""
        if self.loaded is None:
            raise InputError("no pose file loaded")
        if not 0 <= int(frame) < len(self.loaded):
            raise InputError(f"frame must be in 0..{len(self.loaded) - 1}, got {frame}", self.loaded_path)
        z = self.model.encode(torch.as_tensor(self.loaded[int(frame)][None])).mean
        self.set_code(z[0].float().cpu().numpy())
        return self.current_z

    # -- interpolation ------------------------------------------------------------------------
    def mark(self, name: str) -> np.ndarray:
        """Remember the selected body's code as endpoint ``'A'`` or ``'B'``."""
        if name not in ("A", "B"):
            raise InputError(f"endpoint must be 'A' or 'B', got {name!r}")
        self.endpoints[name] = self.current_z
        return self.endpoints[name].copy()

    def interpolation(self, steps: int = 30, method: str = "slerp", there_and_back: bool = False) -> Frames:
        """The way from A to B for the selected body's slot (see :func:`vposer.interpolate`)."""
        from ..model import interpolate

        missing = [k for k in ("A", "B") if k not in self.endpoints]
        if missing:
            raise InputError(f"mark pose {' and '.join(missing)} first")
        z = interpolate(torch.as_tensor(self.endpoints["A"]), torch.as_tensor(self.endpoints["B"]),
                        int(steps), method=method, there_and_back=there_and_back).numpy()
        offset = slot_offsets(self.num_bodies, self.spacing)[self.selected]
        pose_body, vertices, joints = self.pose(z, np.repeat(offset[None], len(z), axis=0))
        return Frames(z.astype(np.float32), pose_body, vertices, joints)

    def show_frame(self, frames: Frames, t: int) -> None:
        """Put frame ``t`` of an interpolation on the selected body (no re-decoding)."""
        s = self.selected
        self.z[s] = frames.z[t]
        self.pose_body[s] = frames.pose_body[t]
        self.vertices[s] = frames.vertices[t]
        self.joints[s] = frames.joints[t]

    # -- export -------------------------------------------------------------------------------
    def export_arrays(self) -> dict[str, np.ndarray]:
        """The selected body as a pose file: ``pose_body`` ``(1, 63)``, ``z`` ``(1, D)``, ``meta``."""
        from ..posefiles import meta_json

        return {
            "pose_body": self.current_pose[None].astype(np.float32),
            "z": self.current_z[None].astype(np.float32),
            "meta": meta_json(command="view", body_index=self.selected, seed=self.last_seed,
                              source=self.model.info.get("source") if hasattr(self.model, "info") else None),
        }


def _check_count(n: int) -> int:
    if not 1 <= int(n) <= MAX_BODIES:
        raise InputError(f"number of bodies must be in 1..{MAX_BODIES}, got {n}")
    return int(n)
