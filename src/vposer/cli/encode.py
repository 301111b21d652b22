"""``vposer encode``: body poses to latent codes."""
from __future__ import annotations

import argparse

from ._common import add_device_argument, add_model_argument, load_model_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="encode body poses (npz) to latent codes (npz)",
        description="Encode body poses to VPoser latent codes. Input: an .npz with pose_body "
        "(N, 63) or (N, 21, 3) axis-angle (also accepted: 'pose', or an AMASS take's 'poses'). "
        "Output: an .npz with z (N, D), the posterior means, and z_std, their standard deviations.",
        epilog="example: vposer encode poses.npz -o codes.npz",
    )
    p.add_argument("input", help="input .npz with body poses")
    p.add_argument("--key", default=None, help="array to read (default: pose_body, pose or poses)")
    add_model_argument(p)
    add_device_argument(p)
    p.add_argument("-o", "--output", default="codes.npz", help="output .npz (default codes.npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..fileio import check_output
    from ..posefiles import atomic_savez, load_poses, meta_json, model_fingerprint, npz_name

    check_output(npz_name(args.output), inputs=[args.input])
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
    print(f"encoded {len(poses)} poses to {path}")
    return 0
