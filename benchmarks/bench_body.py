"""Body-model forward throughput: vposer.body against the ``smplx`` package, same run.

Random models with the exact layout of SMPL (6890 vertices, 24 joints) and SMPL-X (10475
vertices, 55 joints, 10 shape + 10 expression components) are written to a temporary folder;
both libraries pose the same random parameters (all joints, shape, expression, translation),
float32 without autograd, on the CPU with 2 threads (default) or on a CUDA device. Rounds alternate
between the two libraries and the median round is reported, which keeps the ratio fair on a busy machine.

    python benchmarks/bench_body.py [--batches 1 64 512] [--models smpl smplx] [--rounds 7]
                                    [--threads 2] [--device cpu|cuda] [--body-only]

``--body-only`` adds rows for the VPoser use (hands and face at rest), where vposer.body skips
the pose blend shapes of joints at exactly zero rotation.
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vposer.body import load_body
from vposer.body.synthetic import random_body_arrays, smplx_loader_extras

SMPLX_EXTRAS = smplx_loader_extras()


def write_models(root: Path) -> dict[str, Path]:
    smpl = root / "SMPL_NEUTRAL.pkl"
    with open(smpl, "wb") as fh:
        pickle.dump(random_body_arrays("smpl", seed=1), fh, protocol=2)
    smplx_path = root / "SMPLX_NEUTRAL.npz"
    np.savez(smplx_path, **random_body_arrays("smplx", seed=3), **SMPLX_EXTRAS)
    return {"smpl": smpl, "smplx": smplx_path}


def make_pair(kind: str, path: Path, device: str = "cpu"):
    import smplx

    ours = load_body(path, device=device)
    if kind == "smpl":
        ref = smplx.SMPL(str(path), num_betas=10)
    else:
        ref = smplx.SMPLX(str(path), ext="npz", use_pca=False, flat_hand_mean=True, num_betas=10,
                          num_expression_coeffs=10)
    return ours, ref.to(device)


def body_only(p_ours: dict, p_ref: dict) -> tuple[dict, dict]:
    """The VPoser use: body pose, root, shape and translation; hands and face at rest."""
    p_ours = {k: torch.zeros_like(v) if k in ("pose_hand", "pose_jaw", "pose_eye") else v
              for k, v in p_ours.items()}
    rest = ("left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose", "reye_pose")
    p_ref = {k: torch.zeros_like(v) if k in rest else v for k, v in p_ref.items()}
    if "body_pose" in p_ref and p_ref["body_pose"].shape[1] == 69:  # SMPL: hands in body_pose
        p_ref["body_pose"] = torch.cat([p_ours["pose_body"], p_ours["pose_hand"]], 1)
    return p_ours, p_ref


def random_inputs(kind: str, n: int) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(n)

    def rand(width: int, scale: float = 0.5) -> torch.Tensor:
        return torch.randn(n, width, generator=g) * scale

    ours = {"root_orient": rand(3), "pose_body": rand(63), "betas": rand(10, 1.0),
            "trans": rand(3)}
    if kind == "smpl":
        ours["pose_hand"] = rand(6)
        ref = {"global_orient": ours["root_orient"], "transl": ours["trans"],
               "betas": ours["betas"], "body_pose": torch.cat([ours["pose_body"],
                                                               ours["pose_hand"]], 1)}
        return ours, ref
    ours.update(pose_hand=rand(90), pose_jaw=rand(3), pose_eye=rand(6), expression=rand(10, 1.0))
    ref = {"global_orient": ours["root_orient"], "transl": ours["trans"], "betas": ours["betas"],
           "body_pose": ours["pose_body"], "left_hand_pose": ours["pose_hand"][:, :45],
           "right_hand_pose": ours["pose_hand"][:, 45:], "jaw_pose": ours["pose_jaw"],
           "leye_pose": ours["pose_eye"][:, :3], "reye_pose": ours["pose_eye"][:, 3:],
           "expression": ours["expression"]}
    return ours, ref


def rate(fn, n: int, min_seconds: float, sync=lambda: None) -> float:
    """Bodies per second of one round: repeat ``fn`` for at least ``min_seconds``."""
    sync()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 2:
            return n * calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 512])
    parser.add_argument("--models", nargs="+", default=["smpl", "smplx"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.4, help="minimum time per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--body-only", action="store_true",
                        help="also time the VPoser use: hands and face at rest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        paths = write_models(Path(tmp))
        for kind in args.models:
            ours, ref = make_pair(kind, paths[kind], args.device)
            num_j = ours.num_joints
            cases = [(n, False) for n in args.batches]
            if args.body_only:
                cases += [(n, True) for n in args.batches]
            for n, rest in cases:
                p_ours, p_ref = random_inputs(kind, n)
                if rest:
                    p_ours, p_ref = body_only(p_ours, p_ref)
                p_ours = {k: v.to(device) for k, v in p_ours.items()}
                p_ref = {k: v.to(device) for k, v in p_ref.items()}
                a, b = ours(**p_ours), ref(**p_ref)
                dv = (a.vertices - b.vertices).abs().max().item()
                dj = (a.joints - b.joints[:, :num_j]).abs().max().item()
                r_ours, r_ref = [], []
                for _ in range(args.rounds):
                    r_ours.append(rate(lambda m=ours, p=p_ours: m(**p), n, args.seconds, sync))
                    r_ref.append(rate(lambda m=ref, p=p_ref: m(**p), n, args.seconds, sync))
                mo, mr = statistics.median(r_ours), statistics.median(r_ref)
                label = kind + (" body only" if rest else "")
                rows.append((label, n, mo, mr, mo / mr, max(dv, dj)))
                print(f"  {label} batch {n}: ours {mo:.0f}/s, smplx {mr:.0f}/s", flush=True)

    where = (f"CPU, {args.threads} threads" if device.type == "cpu"
             else torch.cuda.get_device_name(device))
    print(f"\nbody-model forward, float32, {where}, no autograd, "
          f"median of {args.rounds} alternating rounds\n")
    print("| model | batch | vposer bodies/s | smplx bodies/s | ratio | max diff (m) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, n, mo, mr, ratio, diff in rows:
        print(f"| {kind} | {n} | {mo:.0f} | {mr:.0f} | {ratio:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
