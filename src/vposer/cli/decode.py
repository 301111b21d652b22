"""``vposer decode``: latent codes to body poses."""
from __future__ import annotations

import argparse

from ._common import (
    add_device_argument, add_matrices_argument, add_model_argument, check_model_and_body,
    load_model_from_args, report_created,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="decode latent codes (npz) to body poses (npz)",
        description="Decode VPoser latent codes to body poses. Input: an .npz with z (N, D). "
        "Output: an .npz with pose_body (N, 63) float32 axis-angle.",
        epilog="example: vposer decode codes.npz -o poses.npz",
    )
    p.add_argument("input", help="input .npz with latent codes under 'z'")
    add_model_argument(p)
    add_device_argument(p)
    add_matrices_argument(p)
    p.add_argument("-o", "--output", default="poses.npz", help="output .npz (default poses.npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input, check_outputs, missing_folders

    check_input(args.input, "file")
    check_outputs((args.output, "npz"), inputs=[args.input])
    check_model_and_body(args)
    created = missing_folders(args.output)

    import torch

    from ..errors import InputError
    from ..posefiles import atomic_savez, load_latents, meta_json, model_fingerprint

    model = load_model_from_args(args)
    z = load_latents(args.input, model.latent_dim)
    out = model.decode_batched(torch.from_numpy(z))
    bad = (~torch.isfinite(out.pose_body.reshape(len(z), -1)).all(1)).nonzero().flatten().tolist()
    if bad:
        raise InputError(f"{len(bad)} code(s) decode to NaN (rows {', '.join(map(str, bad[:8]))}"
                         f"{', ...' if len(bad) > 8 else ''}; largest |z| {abs(z).max():.3g}: "
                         "far outside the prior, whose codes are about N(0, 1))", args.input)
    arrays = {
        "pose_body": out.pose_body.float().cpu().numpy(),
        "meta": meta_json(command="decode", input=args.input, model=args.model or "default",
                          model_sha256=model_fingerprint(model)),
    }
    if args.matrices:
        arrays["pose_body_matrot"] = out.matrices.float().cpu().numpy()
    path = atomic_savez(args.output, arrays)
    report_created(created)
    print(f"decoded {len(z)} codes to {path}")
    return 0
