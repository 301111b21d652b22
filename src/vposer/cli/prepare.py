"""``vposer prepare``: an AMASS tree to memory-mapped training arrays."""
from __future__ import annotations

import argparse

HELP = """Prepare AMASS for training: body poses (N x 63), root orientations and provenance per
split, memory-mapped, with a summary. Splits by dataset name: 'v2' (V02_05: train CMU +
BMLrub_train, vald BMLrub_vald, test BMLrub_test; BMLrub's subjects split by a hash of their
name), 'v1' (the paper's), or a YAML recipe. Old AMASS folder names are accepted as aliases."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare", help="prepare an AMASS tree for training",
                              description=HELP)
    p.add_argument("amass_root", help="AMASS root: <dataset>/<subject>/*_poses.npz or *_stageii.npz")
    p.add_argument("-o", "--output", required=True, help="output directory (replaced atomically)")
    p.add_argument("--splits", default="v2", help="v2 (default), v1, or a YAML recipe file")
    p.add_argument("--target-fps", type=float, default=30.0,
                   help="subsample each take to this rate (0: keep every frame; default 30)")
    p.add_argument("--dedup-threshold", type=float, default=0.0, metavar="RAD",
                   help="drop frames within RAD radians (every joint) of the last kept frame of "
                   "the take (default 0: off)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input

    check_input(args.amass_root, "folder")
    from ..data.pipeline import format_summary, prepare_amass

    summary = prepare_amass(args.amass_root, args.output, recipe=args.splits,
                            target_fps=args.target_fps, dedup_threshold=args.dedup_threshold,
                            workers=max(1, args.workers),
                            progress=False if args.no_progress else None)
    print(format_summary(summary))
    print(f"written to {args.output}")
    return 0
