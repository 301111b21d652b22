"""``vposer fit``: fit bodies to 3D joints, mocap markers or 2D keypoints with the VPoser prior."""
from __future__ import annotations

import argparse

from ._common import (
    add_body_argument, add_device_argument, add_model_argument, at_least, check_model_and_body,
    finite, load_model_from_args, report_created,
)

DESCRIPTION = """Fit a body (VPoser latent pose, root orientation, translation, optionally shape)
to each sample of a target file, all samples in one batched optimisation.

Target file (.npz), one of:
  joints (N, J, 3)                  the body's first J joints, metres (joint_indices (J,) to pick others)
  markers (N, M, 3) + marker_vertices (M,)   markers on those body vertices, metres
  keypoints2d (N, K, 2) + K (3, 3) [+ R (3, 3), t (3,)]   pixels of the body's first K joints
                                    seen by a pinhole camera (x_cam = R X + t, OpenCV axes)
optional: confidence (N, K) or (K,) per-target weights (0 = missing; NaN targets are missing too).
Or a .csv of 3D joints: one sample per row, x y z of the body's first J joints in order (3 J
numbers, metres; a header line and empty or NaN cells for missing joints are fine).
Make targets from the prior: vposer sample -n 4 --seed 1 --joints -o targets.npz

Output (.npz): z (N, D), pose_body (N, 63), root_orient (N, 3), trans (N, 3), betas (N, B),
residuals (N, K) (metres or pixels, NaN where missing), mean_error (N,), objective (N,),
converged (N,), iterations, meta (JSON)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit bodies to 3D joints, markers or 2D keypoints (npz)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example: vposer fit targets.npz -o fitted.npz --render overlay.png")
    p.add_argument("input", help="target .npz or .csv (see above)")
    p.add_argument("-o", "--output", default="fitted.npz", help="output .npz (default fitted.npz)")
    p.add_argument("--kind", choices=("joints", "markers", "keypoints2d"), default=None,
                   help="target kind (default: from the keys of the file)")
    add_model_argument(p)
    add_body_argument(p)
    add_device_argument(p)
    p.add_argument("--optimizer", choices=("lm", "lbfgs", "adam"), default="lm",
                   help="lm: per-sample Levenberg-Marquardt (default, most accurate); lbfgs: "
                   "L-BFGS with strong Wolfe line search (faster for thousands of samples on a "
                   "CPU); adam")
    p.add_argument("--robust", choices=("gmof", "smooth_l1", "l2"), default="gmof",
                   help="penalty of the residuals (default gmof, Geman-McClure)")
    p.add_argument("--robust-scale", type=float, default=None,
                   help="scale of the robust penalty (default 0.2 m for 3D, 100 px for 2D)")
    p.add_argument("--fit-betas", action="store_true", help="also fit the body shape")
    p.add_argument("--max-iters", type=int, default=None, help="iterations per stage")
    p.add_argument("--restarts", type=int, default=1,
                   help="fits per sample from different initial codes; the best is kept")
    p.add_argument("--batch-size", type=int, default=0,
                   help="samples per optimisation (default 0: all at once)")
    p.add_argument("--render", default=None, metavar="PNG",
                   help="also draw the targets over the fitted bodies (first --render-count samples)")
    p.add_argument("--render-count", type=int, default=4, help="samples in the picture (default 4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input, check_outputs, missing_folders

    at_least("--batch-size", args.batch_size, 0)
    at_least("--restarts", args.restarts, 1)
    at_least("--render-count", args.render_count, 1)
    if args.max_iters is not None:
        at_least("--max-iters", args.max_iters, 1)
    finite("--robust-scale", args.robust_scale, 0)
    check_input(args.input, "file")
    check_outputs((args.output, "npz"), (args.render, "image"), inputs=[args.input])
    check_model_and_body(args)
    created = missing_folders(args.output, args.render)

    import time

    import numpy as np
    import torch

    import vposer

    from ..fit import fit, load_targets
    from ..posefiles import atomic_savez, meta_json, model_fingerprint

    targets = load_targets(args.input, args.kind)
    model = load_model_from_args(args)
    body = vposer.load_body(args.body, device=args.device)
    n = len(targets)
    step = args.batch_size or n
    start, parts = time.perf_counter(), []
    for s in range(0, n, step):
        rows = torch.arange(s, min(n, s + step))
        parts.append(fit(model, body, targets.select(rows), optimizer=args.optimizer,
                         robust=args.robust, robust_scale=args.robust_scale,
                         fit_betas=args.fit_betas, max_iters=args.max_iters,
                         restarts=args.restarts))
    seconds = time.perf_counter() - start
    arrays = {k: np.concatenate([p.arrays()[k] for p in parts]) for k in parts[0].arrays()
              if k != "iterations"}
    arrays["iterations"] = np.asarray(max(p.iterations for p in parts))
    arrays["meta"] = meta_json(command="fit", input=args.input, kind=targets.kind,
                               model=args.model or "default", body=args.body or "open",
                               optimizer=args.optimizer, robust=args.robust,
                               robust_scale=args.robust_scale, fit_betas=args.fit_betas,
                               restarts=args.restarts, model_sha256=model_fingerprint(model),
                               units="pixels" if targets.kind == "keypoints2d" else "metres")
    path = atomic_savez(args.output, arrays)
    report_created(created)
    err = arrays["mean_error"]
    unit, scale = ("px", 1.0) if targets.kind == "keypoints2d" else ("mm", 1000.0)
    print(f"fitted {n} samples in {seconds:.1f} s: mean error {np.nanmean(err) * scale:.2f} {unit} "
          f"(median {np.nanmedian(err) * scale:.2f}, max {np.nanmax(err) * scale:.2f}); "
          f"{int(arrays['converged'].sum())}/{n} converged; wrote {path}")
    if args.render:
        _render(args, body, targets, arrays)
    return 0


def _render(args: argparse.Namespace, body, targets, arrays) -> None:
    import torch

    from ..fit.overlay import render_overlay, render_overlay_2d

    count = max(1, min(args.render_count, len(targets)))
    rows = torch.arange(count)
    sel = targets.select(rows)
    params = {k: torch.as_tensor(arrays[k][:count]).to(body.device, body.dtype)
              for k in ("pose_body", "root_orient", "trans", "betas")}
    with torch.no_grad():
        out = body(pose_body=params["pose_body"], root_orient=params["root_orient"],
                   trans=params["trans"],
                   betas=params["betas"] if params["betas"].shape[1] else None)
    present = sel.present.cpu().numpy()
    if sel.kind == "keypoints2d":
        joints = out.joints.index_select(1, sel.indices.to(body.device)).cpu()
        render_overlay_2d(out.vertices.cpu().numpy(), out.faces.cpu().numpy(), joints.numpy(),
                          sel.points.cpu().numpy(), sel.camera, present, path=args.render)
    else:
        fitted = sel.predict(out.joints.cpu(), out.vertices.index_select(
            1, sel.indices.to(body.device)).cpu() if sel.kind == "markers" else None)
        render_overlay(out.vertices.cpu().numpy(), out.faces.cpu().numpy(),
                       sel.points.cpu().numpy(), fitted.numpy(), present, path=args.render)
    print(f"wrote {args.render} ({count} samples: targets red, fitted body points blue)")
