"""What a fit aims at: 3D joints, mocap markers on chosen vertices, or 2D keypoints.

A :class:`Targets` holds ``N`` independent samples of ``K`` target points each, with a per-target
confidence (0 = missing). NaN coordinates mark missing targets too (their confidence becomes 0).

Target files (``.npz``, read by :func:`load_targets` and ``vposer fit``):

==================  ===========================  ===============================================
kind                keys                         meaning
==================  ===========================  ===============================================
``joints``          ``joints`` (N, J, 3)         the body's first ``J`` joints (``joint_indices``
                                                 (J,) to name others), metres, world frame
``markers``         ``markers`` (N, M, 3),       marker ``m`` sits on vertex
                    ``marker_vertices`` (M,)     ``marker_vertices[m]`` of the body
``keypoints2d``     ``keypoints2d`` (N, K, 2),   pixel positions of the body's first ``K`` joints
                    ``K`` (3, 3) or (N, 3, 3),   (or ``joint_indices``) seen by a pinhole camera:
                    ``R``, ``t`` (optional)      see :class:`~vposer.fit.camera.PinholeCamera`
any                 ``confidence`` (N, K) or     per-target weights >= 0 (0 = missing)
                    (K,), optional
==================  ===========================  ===============================================

A ``.csv`` file holds 3D joint targets: one sample per row, ``x, y, z`` of the body's first ``J``
joints in order (``3 J`` numbers, metres); a header line is skipped, and empty or ``NaN`` cells
mark missing joints. ``vposer sample --joints`` writes joint targets of prior samples.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._types import PathLike
from ..errors import InputError
from ..posefiles import read_npz
from .camera import PinholeCamera

__all__ = ["KINDS", "Targets", "joint_targets", "keypoint_targets", "load_targets",
           "marker_targets", "read_csv_joints"]

KINDS = ("joints", "markers", "keypoints2d")


@dataclass
class Targets:
    """Targets of a fit.

    Attributes:
        kind: ``'joints'``, ``'markers'`` or ``'keypoints2d'``.
        points: ``(N, K, 3)`` metres or ``(N, K, 2)`` pixels (missing ones set to 0).
        confidence: ``(N, K)`` weights >= 0; 0 for a missing target.
        indices: ``(K,)`` body joint (joints, keypoints2d) or vertex (markers) of each target.
        camera: the camera of 2D keypoints, else None.
    """

    kind: str
    points: Tensor
    confidence: Tensor
    indices: Tensor
    camera: PinholeCamera | None = None

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def num_targets(self) -> int:
        return self.points.shape[1]

    @property
    def is_3d(self) -> bool:
        return self.kind != "keypoints2d"

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> Targets:
        cam = None if self.camera is None else self.camera.to(device, dtype)
        return replace(self, points=self.points.to(device, dtype),
                       confidence=self.confidence.to(device, dtype),
                       indices=self.indices.to(device), camera=cam)

    def select(self, rows: Tensor) -> Targets:
        """The samples ``rows`` (a ``(M,)`` long tensor; repeats allowed)."""
        rows = rows.to(self.points.device)
        cam = None if self.camera is None else self.camera.select(rows)
        return replace(self, points=self.points.index_select(0, rows),
                       confidence=self.confidence.index_select(0, rows), camera=cam)

    def predict(self, joints: Tensor, vertices: Tensor | None) -> Tensor:
        """The model's counterparts of the targets, ``(N, K, 3)`` or ``(N, K, 2)``, from posed
        ``joints`` ``(N, J, 3)`` and the target vertices ``(N, K, 3)`` (markers)."""
        if self.kind == "markers":
            return vertices
        pts = joints.index_select(1, self.indices)
        return pts if self.camera is None else self.camera.project(pts)

    def squared_residuals(self, predicted: Tensor) -> Tensor:
        """``(N, K)`` squared distances between predictions and targets."""
        diff = predicted - self.points
        return (diff * diff).sum(-1)

    @property
    def present(self) -> Tensor:
        """``(N, K)`` booleans: the target is there (confidence > 0)."""
        return self.confidence > 0


def _points(value: Any, name: str, dim: int) -> Tensor:
    t = torch.as_tensor(np.asarray(value, dtype=np.float64))
    if t.ndim == 2 and t.shape[-1] == dim:
        t = t.unsqueeze(0)
    if t.ndim == 3 and t.shape[0] == 0:
        raise InputError(f"{name} holds no samples (shape {tuple(t.shape)})")
    if t.ndim != 3 or t.shape[-1] != dim or t.shape[1] == 0:
        raise InputError(f"{name} must be (N, K, {dim}) (or (K, {dim}) for one sample), "
                         f"got {tuple(t.shape)}")
    if torch.isinf(t).any():
        raise InputError(f"{name} contains Inf (use NaN or confidence 0 for missing targets)")
    return t


def _confidence(value: Any, points: Tensor) -> Tensor:
    n, k = points.shape[:2]
    if value is None:
        conf = torch.ones(n, k, dtype=torch.float64)
    else:
        conf = torch.as_tensor(np.asarray(value, dtype=np.float64))
        if conf.shape == (k,):
            conf = conf.expand(n, k)
        if conf.shape != (n, k):
            raise InputError(f"confidence must be ({n}, {k}) or ({k},), got {tuple(conf.shape)}")
        if not torch.isfinite(conf).all() or (conf < 0).any():
            raise InputError("confidence must be finite and >= 0")
    missing = torch.isnan(points).any(-1)
    return torch.where(missing, torch.zeros_like(conf), conf).contiguous()


def _indices(value: Any, count: int, name: str) -> Tensor:
    idx = torch.arange(count) if value is None else torch.as_tensor(np.asarray(value)).reshape(-1)
    if idx.is_floating_point() or idx.numel() != count:
        raise InputError(f"{name} must be {count} integer indices, got {tuple(idx.shape)} "
                         f"{idx.dtype}")
    if (idx < 0).any():
        raise InputError(f"{name} must be >= 0")
    return idx.long()


def _finish(kind: str, pts: Tensor, confidence: Any, idx: Tensor,
            camera: PinholeCamera | None = None) -> Targets:
    conf = _confidence(confidence, pts)
    empty = (conf <= 0).all(1).nonzero().flatten().tolist()
    if empty:
        listed = ", ".join(map(str, empty[:8])) + (", ..." if len(empty) > 8 else "")
        raise InputError(f"{len(empty)} sample(s) have no target to fit (all NaN or confidence "
                         f"0): rows {listed}")
    pts = torch.nan_to_num(pts, nan=0.0)
    return Targets(kind, pts.float(), conf.float(), idx, camera)


def joint_targets(joints: Any, confidence: Any = None, joint_indices: Any = None) -> Targets:
    """3D joint targets ``(N, J, 3)`` metres: the body's joints ``joint_indices`` (default
    ``0..J-1``: pelvis first, SMPL order)."""
    pts = _points(joints, "joints", 3)
    return _finish("joints", pts, confidence, _indices(joint_indices, pts.shape[1], "joint_indices"))


def marker_targets(markers: Any, marker_vertices: Any, confidence: Any = None) -> Targets:
    """Mocap markers ``(N, M, 3)`` metres, marker ``m`` on vertex ``marker_vertices[m]``."""
    pts = _points(markers, "markers", 3)
    if marker_vertices is None:
        raise InputError("marker targets need marker_vertices (M,): the vertex of each marker")
    return _finish("markers", pts, confidence,
                   _indices(marker_vertices, pts.shape[1], "marker_vertices"))


def keypoint_targets(keypoints: Any, K: Any, R: Any = None, t: Any = None,  # noqa: N803
                     confidence: Any = None, joint_indices: Any = None) -> Targets:
    """2D keypoints ``(N, P, 2)`` pixels: the body's joints ``joint_indices`` (default the first
    ``P``) seen by the pinhole camera ``K``, ``R``, ``t``."""
    pts = _points(keypoints, "keypoints2d", 2)
    camera = PinholeCamera.create(K, R, t)
    per_sample = camera.batch_size()
    if per_sample is not None and per_sample != pts.shape[0]:
        raise InputError(f"{per_sample} per-sample cameras for {pts.shape[0]} samples")
    return _finish("keypoints2d", pts, confidence,
                   _indices(joint_indices, pts.shape[1], "joint_indices"), camera)


def read_csv_joints(path: PathLike) -> dict[str, np.ndarray]:
    """``{"joints": (N, J, 3)}`` from a CSV file (see the module docstring).

    Raises:
        InputError: a missing or unreadable file, text in a data row, or rows whose length is
            not ``3 J``; the message names the file (and the line).
    """
    import csv

    from ..fileio import check_input

    path = check_input(path, "file")
    rows = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for line, cells in enumerate(csv.reader(fh), 1):
                cells = [c.strip() for c in cells]
                if not any(cells):
                    continue
                try:
                    rows.append([float(c) if c else float("nan") for c in cells])
                except ValueError:
                    if rows or line > 1:
                        raise InputError(f"line {line}: not a number in {cells[:4]}...", path) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"not a readable CSV file ({exc})", path) from None
    widths = {len(r) for r in rows}
    if not rows:
        raise InputError("holds no rows of joint coordinates", path)
    if len(widths) != 1 or widths.pop() % 3:
        raise InputError("rows must all hold 3 J numbers (x, y, z of J joints); found rows of "
                         f"{', '.join(str(w) for w in sorted({len(r) for r in rows}))} numbers", path)
    joints = np.asarray(rows, dtype=np.float64)
    return {"joints": joints.reshape(len(rows), -1, 3)}


def load_targets(path: PathLike, kind: str | None = None) -> Targets:
    """Read a target file (see the module docstring); ``kind`` is detected from the keys when
    not given.

    Raises:
        InputError: unreadable file, missing keys or bad shapes; the message names the file.
    """
    path = Path(path)
    arrays = read_csv_joints(path) if path.suffix.lower() == ".csv" else read_npz(path)
    if kind is None:
        kind = next((k for k in KINDS if k in arrays), None)
        if kind is None:
            raise InputError(f"no target key: expected one of {', '.join(KINDS)}; found "
                             f"{', '.join(sorted(arrays)) or 'nothing'}", path)
    if kind not in KINDS:
        raise InputError(f"unknown target kind {kind!r}: use one of {', '.join(KINDS)}", path)
    if kind not in arrays:
        raise InputError(f"--kind {kind} needs the key '{kind}' in the file", path)
    conf, jidx = arrays.get("confidence"), arrays.get("joint_indices")
    try:
        if kind == "joints":
            return joint_targets(arrays["joints"], conf, jidx)
        if kind == "markers":
            return marker_targets(arrays["markers"], arrays.get("marker_vertices"), conf)
        if "K" not in arrays:
            raise InputError("2D keypoints need the camera intrinsics 'K' (3, 3)")
        return keypoint_targets(arrays["keypoints2d"], arrays["K"], arrays.get("R"),
                                arrays.get("t"), conf, jidx)
    except InputError as exc:
        if exc.path is None:
            raise InputError(exc.problem, path) from None
        raise
