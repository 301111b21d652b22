"""``vposer evaluate``: the field's pose-prior metrics for a model, a pose file, and a baseline."""
from __future__ import annotations

import argparse

from ..fileio import POSE_SOURCES
from ._common import (
    add_device_argument, add_standard_prior_argument, apply_prior_choice, at_least, check_device,
    check_model_and_body,
)

DESCRIPTION = """Score a VPoser (and/or poses from an .npz file, and/or SMPLify's 8-component GMM
prior fitted on the same training poses) on a prepared data set: reconstruction of the held-out
split (vertex errors in mm, Euclidean and per-coordinate L1; joint rotation error in degrees; KL;
active units) and generation (APD in cm on 500 samples; FID on raw axis-angle and on joint
positions against the held-out split, 50,000 samples; dNN to the training set in rad, summed over
21 joints and per joint; precision/recall/density/coverage on joint positions; share of samples
outside the training rotation ranges). A 'data (ref)' column gives what real poses score.
Prints a table, writes metrics.json (with every definition) and PNG plots to the output folder."""

EPILOG = """examples:
  vposer evaluate --data cmu_prepared --baseline gmm -o eval_default
  vposer evaluate -m runs/v1_cmu --data cmu_prepared --device cuda -o eval_v1
  vposer evaluate --poses samples.npz --data cmu_prepared --samples 500 --fid-samples 500"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="pose-prior metrics (reconstruction, APD, FID, dNN, ...)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", metavar="PATH|default", default=None,
                   help="VPoser to score: a release/run folder, checkpoint or native model, or "
                   "'default' for the shipped open weights (the default unless --poses is given)")
    add_standard_prior_argument(p)
    p.add_argument("--poses", metavar="NPZ", help="score these poses as generated samples "
                   f"({POSE_SOURCES})")
    p.add_argument("--data", required=True, metavar="PREPARED_DIR",
                   help="prepared data set (vposer prepare / vposer import-mocap)")
    p.add_argument("--split", default="test", help="held-out split (default test)")
    p.add_argument("--train-split", default="train", help="training split (default train)")
    p.add_argument("--source", default=None, metavar="NAME",
                   help="held-out poses of these sources only (a 'dataset' of vposer "
                   "import-mocap, or several separated by commas; default all)")
    p.add_argument("--body", default="open", help="body model: 'open' (default) or a model file")
    p.add_argument("--samples", type=int, default=500, help="samples for APD and dNN (default 500)")
    p.add_argument("--fid-samples", type=int, default=50_000,
                   help="samples for FID and the rotation ranges (default 50000)")
    p.add_argument("--prdc-samples", type=int, default=1_000,
                   help="poses per set for precision/recall/density/coverage (default 1000)")
    p.add_argument("-k", type=int, default=5, help="neighbours of precision/recall (default 5)")
    p.add_argument("--dnn", choices=("auto", "exact", "approx"), default="auto",
                   help="dNN search: exact, approx (shortlist by quaternion distance), or auto: "
                   "exact up to 100000 training poses (default)")
    p.add_argument("--max-test", type=int, default=None,
                   help="use at most this many held-out poses (random subset; default all)")
    p.add_argument("--baseline", choices=("gmm",), default=None,
                   help="also score SMPLify's 8-component GMM prior fitted on the training split")
    p.add_argument("--seed", type=int, default=0, help="seed of samples and subsets (default 0)")
    add_device_argument(p)
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("-o", "--output", default="evaluation",
                   help="output folder for metrics.json and plots (default ./evaluation)")
    p.set_defaults(func=run)


def _name(path: str) -> str:
    from pathlib import Path

    return Path(path.rstrip("/")).name or path


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..fileio import check_input, check_writable

    at_least("--samples", args.samples, 2)
    if args.fid_samples < args.samples:
        raise InputError(f"--fid-samples must be at least --samples ({args.samples}), got "
                         f"{args.fid_samples}")
    at_least("--prdc-samples", args.prdc_samples, 2)
    at_least("-k", args.k, 1)
    check_input(args.data, "folder")
    if args.poses:
        check_input(args.poses, "file")
    check_model_and_body(args)
    check_writable(Path(args.output) / "metrics.json")

    import torch

    import vposer

    from ..evaluate import EvalSettings, evaluate
    from ..evaluate.report import format_table, published_lines
    from ..posefiles import load_poses

    check_device(args.device)
    model = None
    model_arg = args.model if args.model is not None else (None if args.poses else "default")
    if model_arg is not None:
        model = apply_prior_choice(
            vposer.load_model(None if model_arg == "default" else model_arg, device=args.device), args)
    poses = torch.from_numpy(load_poses(args.poses)) if args.poses else None
    settings = EvalSettings(samples=args.samples, fid_samples=args.fid_samples,
                            prdc_samples=args.prdc_samples, k=args.k, dnn_mode=args.dnn,
                            max_test=args.max_test, seed=args.seed)
    result = evaluate(args.data, model=model,
                      model_name=_name(model_arg) if model_arg else "vposer",
                      poses=poses, poses_name=_name(args.poses) if args.poses else "poses",
                      split=args.split, train_split=args.train_split, source=args.source,
                      body=args.body,
                      settings=settings, baseline=args.baseline, out_dir=args.output,
                      device=args.device, plots=not args.no_plots)
    data = result.data
    held_out = data["split"] + (f" of {data['source']}" if data.get("source") else "")
    print(f"data: {data['prepared_dir']} ({data['train_split']}: {data['n_train']} poses, "
          f"{held_out}: {data['n_evaluated']} of {data['n_split']} poses); "
          f"body: {result.body['model_type']}")
    print(format_table(result.methods))
    print("data (ref): FID and precision/recall use training vs held-out poses; APD, dNN and "
          "the out-of-range share are those of held-out poses.")
    for line in published_lines():
        print(line)
    for path in result.files or []:
        print(f"wrote {path}")
    return 0
