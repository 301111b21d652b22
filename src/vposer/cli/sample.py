"""``vposer sample``: novel body poses from the prior, to an npz file (streamed in chunks)."""
from __future__ import annotations

import argparse

from ._common import (
    add_body_argument, add_device_argument, add_matrices_argument, add_model_argument, at_least,
    check_model_and_body, finite, load_model_from_args, report_created,
)

#: Codes drawn and decoded per step; a multiple of 16 rows, so that the chunks draw exactly the
#: numbers one ``torch.randn(n, D)`` would (``model.sample(n, seed)`` gives the same poses).
CHUNK = 65_536
#: Poses per body-model forward pass for ``--joints`` (a forward holds every vertex).
BODY_BATCH = 512


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="sample novel body poses from the prior",
        description="Sample N body poses (21 SMPL joints, axis-angle) from the VPoser prior and "
        "write them to an .npz file: pose_body (N, 63) float32, z (N, D) their latent codes, and "
        "meta (JSON: model, seed, ...) to reproduce them. The same seed gives the same poses on "
        "every device. Large N is written in chunks, in memory that does not grow with N (a "
        "progress bar on a terminal); for sharded, resumable sets see 'vposer generate'.",
        epilog="examples:\n"
        "  vposer sample -n 100 --seed 0 -o poses.npz\n"
        "  vposer sample -n 4 --seed 1 --joints -o targets.npz    fitting targets for 'vposer fit'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-n", "--num", type=int, default=10, help="number of poses (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="scale of the latent codes; below 1 gives more typical poses (default 1)")
    add_model_argument(p, samples=True)
    add_device_argument(p)
    add_matrices_argument(p)
    p.add_argument("--joints", action="store_true",
                   help="also store the posed body's 22 joint positions (N, 22, 3) in metres under "
                   "'joints' (zero root orientation and translation): a target file for vposer fit")
    add_body_argument(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", default="samples.npz", help="output .npz (default samples.npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_outputs, missing_folders

    at_least("--num", args.num, 1)
    finite("--temperature", args.temperature, 0)
    check_outputs((args.output, "npz"))
    check_model_and_body(args)
    created = missing_folders(args.output)

    import sys

    import torch
    from tqdm import tqdm

    import vposer

    from ..posefiles import NpzStream, meta_json, model_fingerprint

    model = load_model_from_args(args)
    body = vposer.load_body(args.body, device=args.device) if args.joints else None
    columns = {"pose_body": (63,), "z": (model.latent_dim,)}
    if args.matrices:
        columns["pose_body_matrot"] = (21, 3, 3)
    if args.joints:
        columns["joints"] = (22, 3)
    generator = torch.Generator().manual_seed(int(args.seed))
    show = not args.quiet and args.num > CHUNK and sys.stderr.isatty()
    with NpzStream(args.output, args.num, columns) as out, \
            tqdm(total=args.num, unit="pose", unit_scale=True, file=sys.stderr, disable=not show,
                 desc="sampling") as bar, torch.no_grad():
        for start in range(0, args.num, CHUNK):
            k = min(CHUNK, args.num - start)
            z = model.sample_latent(k, generator=generator, temperature=args.temperature)
            decoded = model.decode_batched(z)
            chunk = {"pose_body": decoded.pose_body.float().cpu().numpy(),
                     "z": z.float().cpu().numpy()}
            if args.matrices:
                chunk["pose_body_matrot"] = decoded.matrices.float().cpu().numpy()
            if args.joints:
                chunk["joints"] = _joints(body, decoded.pose_body)
            out.append(**chunk)
            bar.update(k)
        out.extra["meta"] = meta_json(
            command="sample", model=args.model or "default", seed=args.seed, num=args.num,
            temperature=args.temperature, model_sha256=model_fingerprint(model),
            latent_draw="torch.randn on CPU" + (
                "" if model.latent_prior is None else
                f", through the model's learned prior ({model.latent_prior.n_components} Gaussians)"),
            **({"joints": f"body {args.body or 'open'}, zero root orientation and translation, "
                          "metres"} if args.joints else {}))
    report_created(created)
    print(f"wrote {args.num} poses to {out.path}")
    return 0


def _joints(body, pose_body):
    """``(N, 22, 3)`` float32 joint positions of the body posed with ``pose_body``."""
    import numpy as np

    parts = [body(pose_body=pose_body[s:s + BODY_BATCH].to(body.device, body.dtype)).joints[:, :22]
             .float().cpu().numpy() for s in range(0, len(pose_body), BODY_BATCH)]
    return np.concatenate(parts)
