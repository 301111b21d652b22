"""``vposer encode``: body poses to latent codes."""
from __future__ import annotations

import argparse

from ..fileio import POSE_SOURCES
from ._common import (
    add_device_argument, add_model_argument, check_model_and_body, load_model_from_args, report_created,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="encode body poses (npz) to latent codes (npz)",
        description="Encode body poses to VPoser latent codes. Input: an .npz with "
        f"{POSE_SOURCES} (axis-angle). "
        "Output: an .npz with z (N, D), the posterior means, and z_std, their standard deviations.",
        epilog="example: vposer encode poses.npz -o codes.npz",
    )
    p.add_argument("input", help=f"body poses: {POSE_SOURCES}")
    p.add_argument("--key", default=None, help="array to read (default: pose_body, pose or poses)")
    add_model_argument(p)
    add_device_argument(p)
    p.add_argument("-o", "--output", default="codes.npz", help="output .npz (default codes.npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input, check_outputs, missing_folders

    check_input(args.input, "file")
    check_outputs((args.output, "npz"), inputs=[args.input])
    check_model_and_body(args)
    created = missing_folders(args.output)

    import torch

    from ..posefiles import atomic_savez, load_poses, meta_json, model_fingerprint

    poses = load_poses(args.input, args.key)
    model = load_model_from_args(args)
    with torch.no_grad():
        q = model.encode(torch.from_numpy(poses))
    path = atomic_savez(args.output, {
        "z": q.mean.float().cpu().numpy(),
        "z_std": q.stddev.float().cpu().numpy(),
        "meta": meta_json(command="encode", input=args.input, model=args.model or "default",
                          model_sha256=model_fingerprint(model)),
    })
    report_created(created)
    print(f"encoded {len(poses)} poses to {path}")
    return 0
