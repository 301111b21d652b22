"""``vposer import-mocap``: motion capture retargeted to SMPL body poses (prepared format)."""
from __future__ import annotations

import argparse

HELP = """Retarget motion capture to SMPL body poses and write them in the prepared format
(as 'vposer prepare'), with a quality report (bone-direction and chord errors) in quality.json.
SOURCE is the CMU exponential-map folder (cmu_expmap.npz + skeleton.json; its train/test split is
kept) or a BVH file or folder of BVH files (CMU-MotionBuilder, Mixamo or SMPL joint names, or
--mapping)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-mocap", help="retarget mocap (CMU, BVH) to SMPL poses",
                              description=HELP)
    p.add_argument("source", help="CMU folder, BVH file or folder of BVH files")
    p.add_argument("-o", "--output", required=True, help="output directory (replaced atomically)")
    p.add_argument("--body", default="open",
                   help="body model whose rest skeleton is the target: 'open' (default) or a file")
    p.add_argument("--target-fps", type=float, default=30.0,
                   help="subsample to this rate after retargeting (0: every frame; default 30)")
    p.add_argument("--val-takes", type=float, default=0.0, metavar="K",
                   help="move K takes per action (or a fraction if < 1) from train to a 'vald' "
                   "split, chosen deterministically (default 0)")
    p.add_argument("--dedup-threshold", type=float, default=0.0, metavar="RAD",
                   help="drop near-duplicate frames within a take (radians; default 0: off)")
    p.add_argument("--mapping", help="JSON {SMPL joint name: source joint name} for BVH files")
    p.add_argument("--split", default="train", help="split of BVH takes (default train)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.mapping import load_mapping_file
    from ..data.mocap import format_report, import_mocap

    mapping = load_mapping_file(args.mapping) if args.mapping else None
    summary = import_mocap(args.source, args.output, body=args.body, target_fps=args.target_fps,
                           val_takes=args.val_takes, dedup_threshold=args.dedup_threshold,
                           mapping=mapping, split=args.split,
                           progress=False if args.no_progress else None)
    print(format_report(summary))
    print(f"written to {args.output}")
    return 0
