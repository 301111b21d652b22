"""``vposer import-mocap``: motion capture retargeted to SMPL body poses (prepared format)."""
from __future__ import annotations

import argparse

HELP = """Retarget motion capture to SMPL body poses and write them, from one source or several,
as one data set in the prepared format (as 'vposer prepare'), with a quality report per source
(bone-direction and chord errors) in quality.json and per-pose provenance (source, take, frame).

Each SOURCE is a file or a folder, searched recursively; formats are told from the files, and
.gz files read as they are: the CMU exponential-map folder (cmu_expmap.npz + skeleton.json; its
train/test split is kept), BVH (CMU-MotionBuilder, CMU-DAZ, Mixamo or SMPL joint names, or
--mapping), ASF/AMC (each AMC with the only ASF in its folder, else the ASF whose name is the
longest prefix of the AMC's, or --asf) and DeepMimic motion JSON (with its character file, found
beside it, or --character). A file that cannot be read is named, skipped and listed in the
summary; --strict stops instead. Splits are made of whole takes (--test-takes, --val-takes);
--dedup-threshold removes near-duplicate poses across all sources and every training pose near a
test pose. Several sources with their own settings: --recipe FILE (see
vposer.data.import_recipe; tools/open_prior_data.yaml is the open weights' recipe)."""

EPILOG = """examples:
  vposer import-mocap ../shared/data/cmu -o cmu_prepared --val-takes 1
  vposer import-mocap takes/ more_takes.bvh.gz -o prepared --test-takes 0.15 --val-takes 0.1
  vposer import-mocap subject_a/ --asf subject_a/skeleton.asf --fps 60 -o prepared
  vposer import-mocap --recipe tools/open_prior_data.yaml -o open_prior_data"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-mocap", help="retarget mocap (CMU, BVH, ASF/AMC, DeepMimic) "
                              "to SMPL poses", description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="files or folders of motion capture (or give --recipe)")
    p.add_argument("-o", "--output", required=True, help="output directory (replaced atomically)")
    p.add_argument("--recipe", metavar="YAML",
                   help="sources with their own settings, in one file (instead of SOURCE ...)")
    p.add_argument("--body", default="open",
                   help="body model whose rest skeleton is the target: 'open' (default) or a file")
    p.add_argument("--target-fps", type=float, default=None,
                   help="subsample to this rate after retargeting (0: every frame; default 30, "
                   "or the recipe's)")
    p.add_argument("--test-takes", type=float, default=0.0, metavar="K",
                   help="move K take groups per folder (or a fraction if < 1) to a 'test' split "
                   "(default 0; the CMU set keeps its own test takes)")
    p.add_argument("--val-takes", type=float, default=0.0, metavar="K",
                   help="move K take groups per folder or CMU action (or a fraction if < 1) from "
                   "train to a 'vald' split, chosen deterministically (default 0)")
    p.add_argument("--dedup-threshold", type=float, default=None, metavar="RAD",
                   help="drop training and validation poses within RAD radians (every joint) of "
                   "a test pose or of a pose kept before them, across all sources (default 0: "
                   "off, or the recipe's)")
    p.add_argument("--mapping", help="JSON {SMPL joint name: source joint name} for skeletons "
                   "with other joint names (BVH, ASF)")
    p.add_argument("--fps", type=float, default=None,
                   help="the true frame rate of every take, overriding the files' (AMC files "
                   "state none: 120 by default)")
    p.add_argument("--asf", help="the ASF skeleton of every AMC file")
    p.add_argument("--character", help="the DeepMimic character file of every motion file")
    p.add_argument("--split", default="train",
                   help="split of the takes not moved to vald/test (default train)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first file that cannot be read (default: skip and report it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..errors import InputError

    if bool(args.sources) == bool(args.recipe):
        raise InputError("give the sources (SOURCE ...) or --recipe FILE, not both or neither")
    if args.fps is not None and args.fps <= 0:
        raise InputError(f"--fps must be positive, got {args.fps:g}")
    from ..fileio import check_input

    for source in args.sources:
        check_input(source, "any")
    for path in (args.recipe, args.mapping, args.asf, args.character):
        if path:
            check_input(path, "file")
    if args.body not in (None, "open"):
        check_input(args.body, "file")
    from ..data.mapping import load_mapping_file
    from ..data.mocap import format_report, import_mocap

    settings: dict = {}
    sources = args.sources
    if args.recipe:
        from ..data.import_recipe import read_recipe

        sources, settings = read_recipe(args.recipe)
    mapping = load_mapping_file(args.mapping) if args.mapping else None
    target_fps = args.target_fps if args.target_fps is not None else settings.get("target_fps", 30.0)
    dedup = args.dedup_threshold if args.dedup_threshold is not None else settings.get(
        "dedup_threshold", 0.0)
    summary = import_mocap(sources, args.output, body=args.body, target_fps=target_fps,
                           val_takes=args.val_takes, test_takes=args.test_takes,
                           dedup_threshold=dedup, mapping=mapping, split=args.split,
                           fps=args.fps, asf=args.asf, character=args.character,
                           strict=args.strict, progress=False if args.no_progress else None)
    quality = json.loads((Path(args.output) / "quality.json").read_text())
    print(format_report(summary, quality))
    print(f"written to {args.output}")
    return 0
