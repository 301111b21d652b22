"""Make the README's example pictures in docs/images/ with the open body.

With a model (``--model PATH``, or the shipped default weights when they exist) it writes the
tutorial's pose grid of 5 samples and a looping latent-interpolation GIF; without one, a grid of
five hand-set poses (SMPL sign conventions) that shows the renderer alone.

    python tools/make_render_examples.py [--model PATH] [--seed 0] [--size 240]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"

# pose_body index = SMPL joint - 1
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE = 0, 1, 2, 3, 4, 5, 6, 7
NECK, HEAD, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 11, 14, 15, 16, 17, 18


def hand_set_poses() -> np.ndarray:
    """``(5, 63)`` poses: standing, walking, squatting, reaching, kicking."""
    poses = np.zeros((5, 21, 3), dtype=np.float32)
    arms_down = {L_SHOULDER: (0, 0, -1.25), R_SHOULDER: (0, 0, 1.25)}
    for i in range(5):
        for j, aa in arms_down.items():
            poses[i, j] = aa
    # 0 standing, head turned a little to its left
    poses[0, HEAD] = (0, 0.35, 0)
    # 1 walking: left leg forward, right leg back, elbows bent
    poses[1, L_HIP], poses[1, R_HIP] = (-0.45, 0, 0), (0.35, 0, 0)
    poses[1, L_KNEE], poses[1, R_KNEE] = (0.25, 0, 0), (0.55, 0, 0)
    poses[1, L_ELBOW], poses[1, R_ELBOW] = (0, -0.6, 0), (0, 0.6, 0)
    # 2 squat, arms forward
    poses[2, L_HIP] = poses[2, R_HIP] = (-1.7, 0, 0)
    poses[2, L_KNEE] = poses[2, R_KNEE] = (2.1, 0, 0)
    poses[2, L_ANKLE] = poses[2, R_ANKLE] = (-0.35, 0, 0)
    poses[2, SPINE1] = (0.35, 0, 0)
    poses[2, L_SHOULDER], poses[2, R_SHOULDER] = (0, -1.35, 0), (0, 1.35, 0)
    # 3 reaching up with the left arm, leaning right
    poses[3, L_SHOULDER] = (0, 0, 1.2)
    poses[3, SPINE2] = (0, 0, -0.2)
    poses[3, R_ELBOW] = (0, 0.9, 0)
    # 4 front kick with the right leg, arms out for balance
    poses[4, R_HIP], poses[4, R_KNEE] = (-1.3, 0, 0), (0.2, 0, 0)
    poses[4, L_SHOULDER], poses[4, R_SHOULDER] = (0, 0, -0.3), (0, 0, 0.3)
    poses[4, SPINE1] = (-0.1, 0, 0)
    return poses.reshape(5, 63)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="VPoser model (default: the shipped weights, if any)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=240, help="cell size in pixels")
    args = parser.parse_args()

    import vposer
    from vposer.errors import CheckpointError
    from vposer.render import (
        body_vertices, frame_strip, interpolation_animation, pose_grid, render_grid, save_gif, save_image,
    )

    body = vposer.load_body(None)
    try:
        model = vposer.load_model(args.model)
    except CheckpointError as exc:
        print(f"no model ({exc}); rendering hand-set poses")
        vertices, faces = body_vertices(body, hand_set_poses())
        print("wrote", save_image(render_grid(vertices, faces, cell_size=args.size), OUT / "open_body_render.png"))
        return
    image, _ = pose_grid(model, body, n=5, seed=args.seed, size=args.size)
    print("wrote", save_image(image, OUT / "pose_grid.png"))
    frames, _, _ = interpolation_animation(model, body, seeds=(1, 2), steps=30, there_and_back=True, size=args.size)
    print("wrote", save_gif(frames, OUT / "interpolation.gif", duration_ms=100))
    print("wrote", save_image(frame_strip(frames[:30], 6), OUT / "interpolation_strip.png"))


if __name__ == "__main__":
    main()
