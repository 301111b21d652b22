#!/usr/bin/env python
"""Picture of CMU frames beside their retargeted open body, to check the retargeting by eye.

For a few frames of different actions: the source skeleton (lines; left limbs red, right limbs
blue) above the open body posed by the retargeted pose (shaded mesh, with SMPL's skeleton drawn on
it in the same colours), both seen from the same camera: a three-quarter view turned with the
subject's facing, so that left and right can be read. Needs matplotlib.

Writes ``docs/images/retarget_cmu.png``::

    python tools/plot_retarget.py [--cmu ../shared/data/cmu] [--out PNG]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CMU = ROOT.parent / "shared" / "data" / "cmu"
OUT = ROOT / "docs" / "images" / "retarget_cmu.png"
# (take key, time in seconds)
FRAMES = [
    ("train/walking/walking_1", 1.0),
    ("train/running/running_1", 0.5),
    ("train/jumping/jumping_1", 1.5),
    ("train/soccer/soccer_1", 2.0),
    ("train/basketball/basketball_1", 2.5),
    ("train/directing_traffic/directing_traffic_1", 6.0),
    ("test/washwindow/washwindow_1", 8.0),
]


def side_colour(name: str) -> str:
    low = name.lower()
    if low.startswith(("l_", "l", "left")) and not low.startswith(("lower",)):
        return "tab:red"
    if low.startswith(("r_", "r", "right")) and not low.startswith("root"):
        return "tab:blue"
    return "0.3"


def camera(root_rot: np.ndarray, turn_deg: float = 30.0) -> np.ndarray:
    """Rows: screen right, screen up, toward the viewer; a view of the subject's front turned
    ``turn_deg`` toward its left (30: three-quarter view; -90: from its right side)."""
    facing = root_rot @ np.array([0.0, 0.0, 1.0])
    yaw = np.arctan2(facing[0], facing[2]) + np.radians(turn_deg)
    toward = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(up, toward)
    return np.stack([right, up, toward])


def draw_skeleton(ax, pos: np.ndarray, parents, names, cam: np.ndarray, lw: float = 2.0) -> None:
    p = pos @ cam.T
    for j, par in enumerate(parents):
        if par >= 0:
            ax.plot(p[[par, j], 0], p[[par, j], 1], color=side_colour(names[j]), lw=lw,
                    solid_capstyle="round", zorder=3)
    ax.scatter(p[:, 0], p[:, 1], s=4, color="k", zorder=4)


def draw_mesh(ax, verts: np.ndarray, faces: np.ndarray, cam: np.ndarray) -> None:
    from matplotlib.collections import PolyCollection

    v = verts @ cam.T
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    visible = normal[:, 2] > 0
    order = np.argsort(tri[visible].mean(axis=1)[:, 2], kind="stable")
    light = np.array([0.4, 0.7, 1.0]) / np.linalg.norm([0.4, 0.7, 1.0])
    shade = 0.25 + 0.75 * np.clip(normal[visible][order] @ light, 0, 1)
    colour = np.clip(shade[:, None] * np.array([0.78, 0.80, 0.86]), 0, 1)
    polys = tri[visible][order][:, :, :2]
    ax.add_collection(PolyCollection(polys, facecolors=colour, edgecolors=colour, linewidths=0.1,
                                     zorder=1))


def frame_box(ax, pts: np.ndarray, pad: float) -> None:
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 + pad
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from vposer.body import load_body
    from vposer.data import cmu as cmu_io
    from vposer.data.mapping import resolve_mapping
    from vposer.data.retarget import Retargeter
    from vposer.data.skeleton import SMPL_JOINTS, SMPL_PARENTS, body_skeleton, forward_kinematics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmu", type=Path, default=CMU)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    data = cmu_io.load_cmu(args.cmu)
    body = load_body()
    target = body_skeleton(body)
    mapping, _ = resolve_mapping(data.skeleton.names, profile="cmu-expmap")
    rt = Retargeter.build(data.skeleton, target, mapping)
    fig, axes = plt.subplots(3, len(FRAMES), figsize=(2.6 * len(FRAMES), 8.8))
    for col, (key, seconds) in enumerate(FRAMES):
        frames = data.take(key)
        i = min(int(seconds * data.fps), len(frames) - 1)
        one = frames[i:i + 1]
        src_pos = cmu_io.row_fk_positions(data.skeleton, one)[0]
        glob, _ = cmu_io.column_fk(data.skeleton, one)
        res = rt(glob)
        cam = camera(res.global_rot[0, 0])
        src_pos = (src_pos - src_pos[0]) * (5.64 / 70 / 100)  # metres, root at the origin
        draw_skeleton(axes[0, col], src_pos, data.skeleton.parents, data.skeleton.names, cam)
        frame_box(axes[0, col], src_pos @ cam.T[:, :2], 0.1)
        with torch.no_grad():
            out = body(pose_body=torch.from_numpy(res.pose_body),
                       root_orient=torch.from_numpy(res.root_orient))
        verts = out.vertices[0].double().numpy()
        _, joints = forward_kinematics(target, res.local_rot)
        shift = joints[0, 0] - out.joints[0, 0].double().numpy()
        draw_mesh(axes[1, col], verts + shift - joints[0, 0], body.faces.numpy(), cam)
        draw_skeleton(axes[1, col], joints[0] - joints[0, 0], SMPL_PARENTS, SMPL_JOINTS, cam,
                      lw=1.5)
        frame_box(axes[1, col], (verts + shift - joints[0, 0]) @ cam.T[:, :2], 0.05)
        # side view from the subject's right: the body with the source skeleton overlaid,
        # scaled to the body's leg length and placed at the body's pelvis
        side = camera(res.global_rot[0, 0], -90.0)
        body_leg = np.linalg.norm(target.offsets[[4, 7]], axis=1).sum()
        src_leg = np.linalg.norm(data.skeleton.offsets[[3, 4]], axis=1).sum() * (5.64 / 70 / 100)
        hips = (src_pos[mapping[1]] + src_pos[mapping[2]]) / 2
        overlay = (src_pos - hips) * (body_leg / src_leg) + (joints[0, 1] + joints[0, 2]) / 2 \
            - joints[0, 0]
        draw_mesh(axes[2, col], verts + shift - joints[0, 0], body.faces.numpy(), side)
        draw_skeleton(axes[2, col], overlay, data.skeleton.parents, data.skeleton.names, side,
                      lw=1.5)
        frame_box(axes[2, col], (verts + shift - joints[0, 0]) @ side.T[:, :2], 0.05)
        axes[0, col].set_title(f"{key.split('/')[1]}\n{key.split('/')[0]} frame {i}", fontsize=9)
    axes[0, 0].set_ylabel("CMU source skeleton")
    axes[1, 0].set_ylabel("retargeted open body")
    axes[2, 0].set_ylabel("side (from its right):\nbody + source overlaid")
    fig.suptitle("CMU mocap retargeted to SMPL body poses (red: left side, blue: right side; "
                 "3/4 view from the subject's front-left)", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
