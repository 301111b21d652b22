"""Batched fitting (IK) with the VPoser prior: seconds and accuracy for 1,000 targets.

Targets are the 22 joints of real poses (the CMU held-out takes, retargeted, when ../shared is
there; else samples of the model) on the open body, each with a random root orientation
(0.5 rad std per axis) and translation (1 m std), optionally with Gaussian noise. Every method
fits the whole batch in one call of :func:`vposer.fit.fit` with its defaults (coarse
root/translation stage, then the prior's weight annealed 1e-2 -> 1e-5). Reported: wall-clock
seconds, mean / median / 95th-percentile joint error against the targets (mm), the share of
samples converged, and the error against the noise-free joints when noise is added.

    python benchmarks/bench_fit.py [--num 1000] [--optimizers lm lbfgs] [--noise 0 0.01]
                                   [--device cpu] [--threads 2] [--quick] [--json PATH]
                                   [--picture docs/images/fit_overlay.png]

``--picture`` also draws, for a few cases, the targets over the fitted bodies (3D joints,
markers with one mislabelled marker, and 2D keypoints seen by a pinhole camera).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import vposer
from vposer.fit import fit, joint_targets, keypoint_targets, marker_targets

SHARED = Path(__file__).resolve().parents[2] / "shared"


def real_poses(n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """``n`` held-out CMU poses retargeted to the open body, else None."""
    cmu = SHARED / "data" / "cmu"
    if not cmu.exists():
        return None, ""
    from vposer.data.retarget import Retargeter
    from vposer.data.skeleton import body_skeleton
    from vposer.data.sources import find_takes, read_take

    target, cache, files, out = body_skeleton(None), {}, {}, []
    for found in find_takes(cmu):
        if found.source_split != "test":
            continue
        take = read_take(found, cache=files)
        key = (tuple(take.skeleton.names), tuple(int(i) for i in take.mapping))
        cache.setdefault(key, Retargeter.build(take.skeleton, target, take.mapping))
        out.append(cache[key](take.global_rot[::4]).pose_body)
    poses = torch.as_tensor(np.concatenate(out))
    g = torch.Generator().manual_seed(seed)
    return poses[torch.randperm(len(poses), generator=g)[:n]], "CMU held-out takes"


def scene(model, body, n: int, seed: int = 0):
    poses, source = real_poses(n, seed)
    if poses is None:
        poses, source = model.sample(n, seed=seed).pose_body.cpu(), "model samples"
    g = torch.Generator().manual_seed(seed + 1)
    root, trans = torch.randn(n, 3, generator=g) * 0.5, torch.randn(n, 3, generator=g)
    with torch.no_grad():
        out = body(pose_body=poses.to(body.device), root_orient=root.to(body.device),
                   trans=trans.to(body.device))
    return out, source


def run_case(model, body, joints: torch.Tensor, clean: torch.Tensor, optimizer: str) -> dict:
    if body.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fit(model, body, joint_targets(joints), optimizer=optimizer)
    if body.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    err = result.mean_error.double().cpu() * 1000
    with torch.no_grad():
        fitted = body(pose_body=result.pose_body, root_orient=result.root_orient,
                      trans=result.trans).joints
    to_clean = (fitted - clean).norm(dim=-1).mean(1).double().cpu() * 1000
    return {"optimizer": optimizer, "seconds": seconds, "mean_mm": float(err.mean()),
            "median_mm": float(err.median()), "p95_mm": float(torch.quantile(err, 0.95)),
            "to_clean_mm": float(to_clean.mean()),
            "converged": float(result.converged.float().mean()),
            "iterations": result.iterations}


def _label(image: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(image)
    ImageDraw.Draw(img).text((10, 8), text, fill=(30, 30, 30))
    return np.asarray(img)


def picture(model, body, path: str, size: int = 300) -> None:
    """Three rows of three cases (held-out poses, turned about the vertical): 3D joints,
    markers with one mislabelled marker, 2D keypoints seen by a pinhole camera."""
    from vposer.fit.overlay import render_overlay, render_overlay_2d
    from vposer.render import save_image

    poses, _ = real_poses(3, seed=11)
    if poses is None:
        poses = model.sample(3, seed=11).pose_body.cpu()
    yaw = torch.tensor([[0.0, 0.6, 0.0], [0.0, -0.5, 0.0], [0.0, 2.6, 0.0]])
    with torch.no_grad():
        out = body(pose_body=poses, root_orient=yaw, trans=torch.tensor([[0.3, 0.0, 0.2]] * 3))

    def posed(res):
        with torch.no_grad():
            return body(pose_body=res.pose_body, root_orient=res.root_orient, trans=res.trans)

    def row(cells, text):
        return _label(np.concatenate(cells, axis=1), text)

    fj = posed(fit(model, body, joint_targets(out.joints)))
    rows = [row([render_overlay(fj.vertices[i:i + 1], fj.faces, out.joints[i:i + 1],
                                fj.joints[i:i + 1], angles=(0.0,), size=size) for i in range(3)],
                "3D joints (red) and the fitted body's joints (blue)")]
    idx = torch.arange(0, body.num_vertices, body.num_vertices // 40)[:40]
    markers = out.vertices[:, idx].clone()
    markers[:, 7] += torch.tensor([0.3, 0.0, 0.1])  # a mislabelled marker
    fm = posed(fit(model, body, marker_targets(markers, idx)))
    rows.append(row([render_overlay(fm.vertices[i:i + 1], fm.faces, markers[i:i + 1],
                                    fm.vertices[i:i + 1, idx], angles=(0.0,), size=size)
                     for i in range(3)],
                    "40 markers on vertices, one mislabelled by 30 cm (Geman-McClure ignores it)"))
    K = torch.tensor([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # a camera on +z looking at the body
    t = torch.tensor([0.0, 0.0, 4.0])
    cam = out.joints @ R.T + t
    kp = cam[..., :2] / cam[..., 2:] @ K[:2, :2].T + K[:2, 2]
    targets = keypoint_targets(kp, K, R, t)
    fk = posed(fit(model, body, targets))
    cells = [render_overlay_2d(fk.vertices[i:i + 1], fk.faces, fk.joints[i:i + 1], kp[i:i + 1],
                               targets.camera, size=size) for i in range(3)]
    cells = [np.pad(c, ((0, 0), ((size - c.shape[1]) // 2, size - c.shape[1] - (size - c.shape[1]) // 2),
                        (0, 0)), constant_values=255) if c.shape[1] < size else c for c in cells]
    rows.append(row(cells, "2D keypoints (red) and the fitted body seen by their camera"))
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    save_image(np.concatenate(padded, axis=0), path)
    print(f"wrote {path}", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=1000)
    p.add_argument("--optimizers", nargs="+", default=["lm", "lbfgs"])
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01],
                   help="Gaussian noise per coordinate, metres")
    p.add_argument("--model", default=None, help="VPoser (default: the shipped weights)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="100 targets, LM only, no noise")
    p.add_argument("--json", default=None)
    p.add_argument("--picture", default=None, help="also write the overlay picture here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.num, args.optimizers, args.noise = 100, ["lm"], [0.0]
    model = vposer.load_model(args.model, device=args.device)
    body = vposer.load_body(device=args.device)
    out, source = scene(model, body, args.num)
    rows = []
    for noise in args.noise:
        g = torch.Generator().manual_seed(3)
        joints = out.joints + noise * torch.randn(out.joints.shape, generator=g).to(out.joints)
        for name in args.optimizers:
            row = run_case(model, body, joints, out.joints, name)
            row["noise_mm"] = noise * 1000
            rows.append(row)
            print(f"{name} noise {noise}: {row['seconds']:.1f} s", file=sys.stderr)
    device = torch.cuda.get_device_name() if body.device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"### Fitting {args.num} bodies to 3D joints ({source}; open body; {device})\n")
    print("| optimizer | noise (mm/coord) | seconds | bodies/s | mean err (mm) | median | p95 "
          "| vs clean joints (mm) | converged | iterations |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['optimizer']} | {r['noise_mm']:.0f} | {r['seconds']:.1f} | "
              f"{args.num / r['seconds']:.0f} | {r['mean_mm']:.2f} | {r['median_mm']:.2f} | "
              f"{r['p95_mm']:.2f} | {r['to_clean_mm']:.2f} | {100 * r['converged']:.0f} % | "
              f"{r['iterations']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "num": args.num, "source": source,
                                               "rows": rows}, indent=2))
    if args.picture:
        picture(model, body, args.picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
