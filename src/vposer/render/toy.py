"""Procedural stand-in bodies (capsule figures) for tests, benchmarks and demos without assets.

The figures share one topology, stand in SMPL's frame (y up, +z front, +x left, pelvis near the
origin, feet about 0.9 m below it) and vary by a few joint angles drawn from a seed, so that
views and samples differ visibly.
"""
from __future__ import annotations

import numpy as np


def capsule(radius: float, length: float, segments: int = 24, rings: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A closed capsule along +z from ``z = 0`` to ``z = length`` (plus the caps).

    Returns:
        ``(V, 3)`` float64 vertices and ``(F, 3)`` int64 faces, counter-clockwise seen from outside.
    """
    theta = np.linspace(0.0, np.pi / 2, rings + 1)  # 0 at the pole, pi/2 at the equator
    lat = np.concatenate([theta, np.pi - theta[::-1]])  # south cap then north cap
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    sin_l, cos_l = np.sin(lat)[:, None], np.cos(lat)[:, None]
    offset = np.where(np.arange(lat.size) <= rings, 0.0, length)[:, None]
    x = radius * sin_l * np.cos(phi)
    y = radius * sin_l * np.sin(phi)
    z = -radius * cos_l + offset + np.zeros_like(phi)
    grid = np.stack([x, y, z], -1)[1:-1].reshape(-1, 3)  # drop the pole rows, added once below
    verts = np.concatenate([[[0.0, 0.0, -radius]], grid, [[0.0, 0.0, length + radius]]])
    rows, s = lat.size - 2, segments
    idx = 1 + np.arange(rows * s).reshape(rows, s)
    nxt = np.roll(idx, -1, axis=1)
    quads_a = np.stack([idx[:-1], idx[1:], nxt[1:]], -1).reshape(-1, 3)
    quads_b = np.stack([idx[:-1], nxt[1:], nxt[:-1]], -1).reshape(-1, 3)
    bottom = np.stack([np.zeros(s, int), idx[0], nxt[0]], -1)
    top = np.stack([np.full(s, verts.shape[0] - 1), nxt[-1], idx[-1]], -1)
    faces = np.concatenate([bottom, quads_a, quads_b, top])
    faces = faces[:, [0, 2, 1]]
    return verts, faces


def _direction(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit vectors ``(..., 3)``: pitch from straight down (-y) towards the front (+z) after yaw about y."""
    d = np.stack([np.sin(pitch) * np.sin(yaw), -np.cos(pitch), np.sin(pitch) * np.cos(yaw)], -1)
    return d


def _frame_to(direction: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotations taking +z onto ``direction`` (unit)."""
    z = direction
    helper = np.where(np.abs(z[..., 1:2]) < 0.9, [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], -1)


def toy_bodies(n: int = 5, seed: int = 0, detail: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` capsule figures in varied poses (sample 0 is a neutral A-pose when ``seed`` is 0).

    Args:
        n: number of figures.
        seed: numpy seed of the joint angles.
        detail: resolution multiplier (1: ~4,400 vertices; 2: ~16,000).

    Returns:
        ``(n, V, 3)`` float32 vertices and ``(F, 3)`` int32 faces.
    """
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, size=(n, 10))
    if seed == 0:
        u[0] = 0.0
    side = np.array([1.0, -1.0])  # left (+x), right
    # arms: abduction 25..85 deg, flexion -40..80, elbow 0..100; legs: flexion -20..60, knee 0..90
    arm_pitch = np.deg2rad(55 + 30 * u[:, 0:2])
    arm_yaw = np.deg2rad(90 - 60 * u[:, 2:4]) * side
    elbow = np.deg2rad(50 + 50 * u[:, 4:6])
    hip = np.deg2rad(20 + 40 * u[:, 6:8])
    knee = np.deg2rad(45 + 45 * u[:, 8:10])
    shoulder = np.stack([0.19 * side, np.full(2, 0.48), np.zeros(2)], -1)  # (2, 3)
    hip_pos = np.stack([0.10 * side, np.full(2, -0.05), np.zeros(2)], -1)
    upper = _direction(arm_yaw, arm_pitch)  # (n, 2, 3)
    fore = _direction(arm_yaw, arm_pitch + elbow)
    thigh = _direction(np.zeros_like(hip) + 0.08 * side, hip)
    shin = _direction(np.zeros_like(hip) + 0.08 * side, hip - knee)
    elbow_p = shoulder + 0.28 * upper
    knee_p = hip_pos + 0.42 * thigh
    ankle_p = knee_p + 0.42 * shin
    foot = np.broadcast_to([0.0, 0.0, 1.0], ankle_p.shape)
    parts = [  # (start (n, 3), direction (n, 3), length, radius)
        (np.broadcast_to([0.0, -0.05, 0.0], (n, 3)), np.broadcast_to([0.0, 1.0, 0.0], (n, 3)), 0.5, 0.14),
        (np.broadcast_to([0.0, 0.62, 0.0], (n, 3)), np.broadcast_to([0.0, 1.0, 0.0], (n, 3)), 0.08, 0.105),
    ]
    for k in range(2):
        parts += [
            (np.broadcast_to(shoulder[k], (n, 3)), upper[:, k], 0.28, 0.05),
            (elbow_p[:, k], fore[:, k], 0.26, 0.042),
            (np.broadcast_to(hip_pos[k], (n, 3)), thigh[:, k], 0.42, 0.075),
            (knee_p[:, k], shin[:, k], 0.42, 0.055),
            (ankle_p[:, k] - np.array([0.0, 0.0, 0.04]), foot[:, k], 0.14, 0.04),
        ]
    verts, faces, base = [], [], 0
    for start, direction, length, radius in parts:
        v, f = capsule(radius, length, segments=24 * detail, rings=8 * detail)
        rot = _frame_to(np.asarray(direction, dtype=np.float64))  # (n, 3, 3)
        verts.append(np.einsum("nij,vj->nvi", rot, v) + np.asarray(start)[:, None, :])
        faces.append(f + base)
        base += v.shape[0]
    return np.concatenate(verts, 1).astype(np.float32), np.concatenate(faces).astype(np.int32)
