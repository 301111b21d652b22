"""``vposer score``: rank body poses by plausibility under the VPoser prior."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..fileio import POSE_SOURCES
from ._common import (
    add_device_argument, add_model_argument, at_least, check_model_and_body, finite,
    load_model_from_args, report_created,
)

if TYPE_CHECKING:
    from pathlib import Path

    from torch import Tensor

    from ..model import VPoser

DESCRIPTION = """Score body poses with the model's importance-weighted log-likelihood (nats,
higher = more plausible; observation model: Gaussian per-joint geodesic error of scale --sigma
around the decoded pose, see vposer.model.likelihood) and list the least plausible first.

Poses scoring below a threshold are flagged implausible. The threshold is, in order: --threshold;
the --quantile of the scores of the held-out poses given with --calibrate; the calibration stored
beside the model (plausibility.json, written with --write-calibration); else no flags."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="rank body poses (npz) by plausibility under the prior",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  vposer score poses.npz -o scores.npz\n"
                       "  vposer score poses.npz --calibrate heldout.npz --quantile 0.05")
    p.add_argument("input", help=f"body poses: {POSE_SOURCES}")
    p.add_argument("--key", default=None, help="array to read (default: pose_body, pose or poses)")
    add_model_argument(p)
    add_device_argument(p)
    p.add_argument("--samples", type=int, default=16, help="importance samples per pose (default 16)")
    p.add_argument("--sigma", type=float, default=0.1,
                   help="observation scale, radians per joint (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--elbo", action="store_true", help="score with the (cheaper, lower) ELBO")
    p.add_argument("--refine", type=int, default=0, metavar="ITERS",
                   help="refine each pose's code by this many LM iterations first (tighter, slower)")
    p.add_argument("--threshold", type=float, default=None, help="flag poses scoring below this")
    p.add_argument("--calibrate", default=None, metavar="HELDOUT_NPZ",
                   help="held-out real poses whose --quantile gives the threshold")
    p.add_argument("--quantile", type=float, default=0.05, help="calibration quantile (default 0.05)")
    p.add_argument("--write-calibration", default=None, metavar="DIR",
                   help="store the calibration as DIR/plausibility.json (a model folder)")
    p.add_argument("--top", type=int, default=10, help="poses listed (default 10)")
    p.add_argument("-o", "--output", default=None, help="write scores to this .npz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the arguments, score the poses, find the threshold, report, write the scores."""
    from ..fileio import check_input, check_outputs, missing_folders

    _check_arguments(args)
    inputs = [check_input(p, "file") for p in (args.input, args.calibrate) if p]
    check_outputs((args.output, "npz"), inputs=inputs)
    check_model_and_body(args)
    created = missing_folders(args.output)

    import torch

    from ..posefiles import load_poses

    poses = torch.from_numpy(load_poses(args.input, args.key))
    model = load_model_from_args(args)
    scores = _scores(args, model, poses)
    threshold, source = _threshold(args, model)
    flags = None if threshold is None else (scores < threshold)
    order = torch.argsort(scores)
    _report(args, scores, order, flags, threshold, source)
    if args.output:
        path = _write_scores(args, model, scores, order, flags, threshold)
        report_created(created)
        print(f"wrote {path}")
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    from ..errors import InputError

    at_least("--samples", args.samples, 1)
    at_least("--top", args.top, 0)
    at_least("--refine", args.refine, 0)
    finite("--sigma", args.sigma)
    if args.sigma <= 0:
        raise InputError(f"--sigma must be a positive number, got {args.sigma:g}")
    finite("--threshold", args.threshold)
    if not 0 < args.quantile < 1:
        raise InputError(f"--quantile must be between 0 and 1, got {args.quantile:g}")
    if args.write_calibration and not args.calibrate:
        raise InputError("--write-calibration needs --calibrate HELDOUT_NPZ (the poses to "
                         "calibrate on)")


def _scores(args: argparse.Namespace, model: VPoser, poses: Tensor) -> Tensor:
    """``(N,)`` float64 scores: the ELBO or the importance-weighted log-likelihood."""
    from ..model.likelihood import elbo, log_likelihood

    if args.elbo:
        return elbo(model, poses, samples=args.samples, sigma=args.sigma, seed=args.seed)
    return log_likelihood(model, poses, samples=args.samples, sigma=args.sigma, seed=args.seed,
                          refine=args.refine)


def _threshold(args: argparse.Namespace, model: VPoser) -> tuple[float | None, str]:
    """The threshold and where it came from: ``--threshold``, a calibration made now
    (``--calibrate``), or the model's ``plausibility.json`` when its settings match these."""
    import torch

    from ..model.likelihood import calibrate_threshold, read_calibration, write_calibration
    from ..posefiles import load_poses

    threshold, source = args.threshold, "--threshold"
    if args.calibrate:
        cal = calibrate_threshold(model, torch.from_numpy(load_poses(args.calibrate)),
                                  args.quantile, args.samples, args.sigma, args.seed, details=True)
        print(f"calibrated on {cal.num_poses} held-out poses: {args.quantile:g} quantile = "
              f"{cal.threshold:.2f} nats")
        if args.write_calibration:
            print(f"wrote {write_calibration(cal, args.write_calibration)}")
        if threshold is None:
            threshold, source = cal.threshold, f"--calibrate {args.calibrate}"
    if threshold is not None:
        return threshold, source
    stored = read_calibration(model)
    if stored is None:
        return None, source
    mine = {"ELBO": args.elbo, "samples": args.samples, "sigma": args.sigma, "refine": args.refine}
    theirs = {"ELBO": False, "samples": stored.samples, "sigma": stored.sigma, "refine": 0}
    if mine == theirs:
        return stored.threshold, "the model's plausibility.json"
    differ = ", ".join(f"{k} {mine[k]} (calibrated: {theirs[k]})" for k in mine
                       if mine[k] != theirs[k])
    print(f"note: the model's plausibility.json was calibrated with other settings "
          f"({differ}); no threshold applied (give --calibrate or --threshold)")
    return None, source


def _report(args: argparse.Namespace, scores: Tensor, order: Tensor, flags: Tensor | None,
            threshold: float | None, source: str) -> None:
    """The summary line, the threshold line and the ``--top`` least plausible poses."""
    kind = "ELBO" if args.elbo else f"log-likelihood (K={args.samples})"
    print(f"{len(scores)} poses, {kind}: median {scores.median():.2f}, min {scores.min():.2f}, "
          f"max {scores.max():.2f} nats")
    if flags is not None:
        print(f"threshold {threshold:.2f} ({source}): {int(flags.sum())} flagged implausible")
    print("rank  index      score" + ("  flag" if flags is not None else ""))
    for rank, i in enumerate(order[: args.top].tolist()):
        flag = ("  IMPLAUSIBLE" if flags[i] else "  ok") if flags is not None else ""
        print(f"{rank + 1:4d}  {i:5d}  {scores[i]:9.2f}{flag}")


def _write_scores(args: argparse.Namespace, model: VPoser, scores: Tensor, order: Tensor,
                  flags: Tensor | None, threshold: float | None) -> Path:
    import numpy as np

    from ..posefiles import atomic_savez, meta_json, model_fingerprint

    arrays = {"scores": scores.numpy(), "order": order.numpy(),
              "meta": meta_json(command="score", input=args.input, model=args.model or "default",
                                samples=args.samples, sigma=args.sigma, seed=args.seed,
                                elbo=args.elbo, refine=args.refine, threshold=threshold,
                                model_sha256=model_fingerprint(model))}
    if flags is not None:
        arrays["implausible"] = flags.numpy()
        arrays["threshold"] = np.asarray(threshold)
    return atomic_savez(args.output, arrays)
