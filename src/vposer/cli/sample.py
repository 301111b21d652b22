"""``vposer sample``: novel body poses from the prior, to an npz file."""
from __future__ import annotations

import argparse

from ._common import add_device_argument, add_matrices_argument, add_model_argument, load_model_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="sample novel body poses from the prior",
        description="Sample N body poses (21 SMPL joints, axis-angle) from the VPoser prior and "
        "write them to an .npz file: pose_body (N, 63) float32, and meta (JSON: model, seed, ...) "
        "to reproduce them. The same seed gives the same poses on every device.",
        epilog="example: vposer sample -n 100 --seed 0 -o poses.npz",
    )
    p.add_argument("-n", "--num", type=int, default=10, help="number of poses (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="scale of the latent codes; below 1 gives more typical poses (default 1)")
    add_model_argument(p)
    add_device_argument(p)
    add_matrices_argument(p)
    p.add_argument("-o", "--output", default="samples.npz", help="output .npz (default samples.npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..posefiles import atomic_savez, meta_json, model_fingerprint

    if args.num < 1:
        raise InputError(f"--num must be at least 1, got {args.num}")
    model = load_model_from_args(args)
    out = model.sample(args.num, seed=args.seed, temperature=args.temperature)
    arrays = {
        "pose_body": out.pose_body.float().cpu().numpy(),
        "z": model.sample_latent(args.num, seed=args.seed, temperature=args.temperature).float().cpu().numpy(),
        "meta": meta_json(command="sample", model=args.model or "default", seed=args.seed,
                          num=args.num, temperature=args.temperature,
                          model_sha256=model_fingerprint(model), latent_draw="torch.randn on CPU"),
    }
    if args.matrices:
        arrays["pose_body_matrot"] = out.matrices.float().cpu().numpy()
    path = atomic_savez(args.output, arrays)
    print(f"wrote {args.num} poses to {path}")
    return 0
