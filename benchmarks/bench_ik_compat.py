"""The compat ``IK_Engine`` (the IK tutorial's settings) against another checkout's compat
engine and the native fitter, on the same bodies and 3D joint targets.

Body: an SMPL-X-structured model file (10,475 vertices, 55 joints, 400 shape components, random
blend shapes and weights; ``vposer.body.synthetic``) whose rest joints are put at the open
body's skeleton, so that poses fit as on a real body. Targets: the 22 body joints of poses
sampled from the model (``--model``, default the shipped weights) with a random root orientation
(0.4 rad std per axis) and translation (1 m std). Engines, each in its own process:

- ``compat``: this checkout's ``human_body_prior.models.ik_engine.IK_Engine`` driven as the
  tutorial drives it (``SourceKeyPoints`` around ``BodyModel(bm, num_betas=16,
  persistant_buffer=False)``, ``MSELoss(reduction='sum')``, ``stepwise_weights=[{'data': 10,
  'poZ_body': .01, 'betas': .5}]``, ``LBFGS`` with ``max_iter=300, lr=1, tolerance_change=1e-4,
  history_size=200``);
- ``reference``: the same script with ``--reference SRC`` (a checkout's ``src`` folder, e.g.
  ``git worktree add /tmp/compat_ref HEAD`` then ``--reference /tmp/compat_ref/src``) first on
  ``sys.path``: both ``vposer`` and ``human_body_prior`` are imported from there;
- ``native-lbfgs`` / ``native-lm``: :func:`vposer.fit.fit` with its defaults.

Reported per batch size: seconds of the fitting call (median of ``--repeats``; loading the
model and the body is not timed), mean joint error (mm, over all target sets) and the speed
ratios. ``--sets`` target sets per batch size (different poses; the
fits are chaotic, so a single set's error moves by a few tenths of a mm with rounding).

    python benchmarks/bench_ik_compat.py [--batches 4 64] [--sets 2] [--repeats 1]
        [--reference /tmp/compat_ref/src] [--threads 2] [--model PATH] [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def make_body(path: Path) -> Path:
    """An SMPL-X-structured file: random blend shapes, rest joints at the open body's skeleton."""
    from vposer.body import open_body_path
    from vposer.body.synthetic import random_body_arrays

    a = random_body_arrays("smplx", seed=3, num_shape_components=400)
    with np.load(open_body_path()) as ob:
        body_j = ob["J"].astype(np.float64)
    rng = np.random.default_rng(5)
    parents = a["kintree_table"][0].astype(np.int64)
    joints = np.zeros((55, 3))
    joints[:22] = body_j
    face = {22: (0.0, -0.05, 0.05), 23: (0.03, 0.03, 0.08), 24: (-0.03, 0.03, 0.08)}
    for j in range(22, 55):  # jaw, eyes, then finger joints a few cm past their parent
        p = int(parents[j])
        side = 1.0 if joints[p][0] > 0 else -1.0
        joints[j] = joints[p] + np.asarray(face.get(j, (side * 0.03, 0.0, 0.01 * rng.normal())))
    verts = a["v_template"].astype(np.float64) * 0.3 + body_j[rng.integers(0, 22, len(a["v_template"]))]
    regressor = np.zeros(a["J_regressor"].shape)
    order = rng.permutation(len(verts))
    for j in range(55):  # 12 vertices of its own per joint, moved so that they regress onto it
        idx = order[12 * j:12 * j + 12]
        w = rng.dirichlet(np.ones(12))
        regressor[j, idx] = w
        verts[idx] += joints[j] - (w[:, None] * verts[idx]).sum(0)
    a["v_template"], a["J_regressor"] = verts.astype(np.float32), regressor.astype(np.float32)
    np.savez(path, **a)
    return path


def child(args: argparse.Namespace) -> dict:
    """One engine on one target set, in this process (``--child``)."""
    import torch

    torch.set_num_threads(args.threads)
    import vposer

    model = vposer.load_model(args.model)
    n = args.n
    body = vposer.load_body(args.body, num_betas=16)
    g = torch.Generator().manual_seed(1000 + args.set)
    poses = model.sample(n, seed=args.set).axis_angle.reshape(n, 63)
    root, trans = torch.randn(n, 3, generator=g) * 0.4, torch.randn(n, 3, generator=g)
    with torch.no_grad():
        target = body(pose_body=poses, root_orient=root, trans=trans).joints[:, :22]
    run = _engine(args, model, body)  # loading the model and the body is not timed
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])  # torch's first optimiser: ~3 s of imports
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fitted = run(target)
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        joints = body(**fitted).joints[:, :22]
    err = (joints - target).norm(dim=-1).mean(1) * 1000
    return {"engine": args.child, "n": n, "set": args.set, "seconds": float(np.median(times)),
            "mean_mm": float(err.mean()), "max_mm": float(err.max()),
            "vposer": os.path.dirname(vposer.__file__)}


def _engine(args: argparse.Namespace, model, body):
    """``run(target) -> fitted parameters`` for the engine named by ``args.child``."""
    import torch

    if args.child.startswith("native"):
        from vposer.fit import fit, joint_targets

        def native(target):
            res = fit(model, body, joint_targets(target), optimizer=args.child.split("-")[1])
            return {"pose_body": res.pose_body, "root_orient": res.root_orient, "trans": res.trans}

        return native
    from human_body_prior.body_model.body_model import BodyModel
    from human_body_prior.models.ik_engine import IK_Engine

    class SourceKeyPoints(torch.nn.Module):  # the tutorial's module, as published
        def __init__(self, bm, n_joints=22, kpts_colors=None, num_betas=16):
            super().__init__()
            self.bm = BodyModel(bm, num_betas=num_betas, persistant_buffer=False)
            self.bm_f, self.n_joints, self.kpts_colors = [], n_joints, kpts_colors

        def forward(self, body_parms):
            new_body = self.bm(**body_parms)
            return {"source_kpts": new_body.Jtr[:, :self.n_joints], "body": new_body}

    ik_engine = IK_Engine(vposer_expr_dir=args.model_dir, verbosity=0, display_rc=(2, 2),
                          data_loss=torch.nn.MSELoss(reduction="sum"),
                          stepwise_weights=[{"data": 10., "poZ_body": .01, "betas": .5}],
                          optimizer_args={"type": "LBFGS", "max_iter": args.max_iter, "lr": 1,
                                          "tolerance_change": 1e-4, "history_size": 200})
    source = SourceKeyPoints(str(args.body))

    def compat(target):
        ik_res = ik_engine(source, target)
        return {k: ik_res[k].detach() for k in ("pose_body", "root_orient", "trans", "betas")}

    return compat


def spawn(engine: str, n: int, set_id: int, body: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(HERE), "--child", engine, "--n", str(n), "--set", str(set_id),
           "--body", str(body), "--threads", str(args.threads), "--repeats", str(args.repeats),
           "--max-iter", str(args.max_iter)] + (["--model", args.model] if args.model else [])
    env = dict(os.environ)
    if engine == "reference":
        env["PYTHONPATH"] = os.pathsep.join([args.reference, env.get("PYTHONPATH", "")])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{engine} n={n} set={set_id}: {row['seconds']:.2f} s, {row['mean_mm']:.2f} mm",
          file=sys.stderr)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[4, 64])
    p.add_argument("--sets", type=int, default=2, help="target sets per batch size")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per set (median)")
    p.add_argument("--reference", default=None, help="another checkout's src folder")
    p.add_argument("--engines", nargs="+", default=["compat", "native-lbfgs", "native-lm"])
    p.add_argument("--model", default=None, help="VPoser (default: the shipped weights)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-iter", type=int, default=300, help="the tutorial's L-BFGS max_iter")
    p.add_argument("--quick", action="store_true", help="batch 4, one set, 50 iterations")
    p.add_argument("--json", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=4, help=argparse.SUPPRESS)
    p.add_argument("--set", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--body", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.model is None:
        from vposer.checkpoints import default_model_path

        args.model = str(default_model_path())
    args.model_dir = args.model
    if args.child:
        print(json.dumps(child(args)))
        return 0
    if args.quick:
        args.batches, args.sets, args.max_iter = [4], 1, 50
    engines = list(args.engines) + (["reference"] if args.reference else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        body = make_body(Path(tmp) / "smplx_structured.npz")
        for n in args.batches:
            for s in range(args.sets):
                rows.extend(spawn(e, n, s, body, args) for e in engines)
    print(f"### IK: compat IK_Engine (tutorial settings) vs {', '.join(engines[1:])} "
          f"(SMPL-X-structured body, {args.threads} threads, L-BFGS max_iter {args.max_iter}, "
          f"{args.sets} target set(s) per batch)\n")
    print("| batch | engine | seconds | mean joint error (mm) | compat speed-up |")
    print("|---:|---|---:|---:|---:|")
    summary = {}
    for n in args.batches:
        per = {e: [r for r in rows if r["engine"] == e and r["n"] == n] for e in engines}
        secs = {e: float(np.mean([r["seconds"] for r in rs])) for e, rs in per.items()}
        errs = {e: float(np.mean([r["mean_mm"] for r in rs])) for e, rs in per.items()}
        for e in engines:
            ratio = f"{secs[e] / secs['compat']:.2f}x" if "compat" in secs else "-"
            print(f"| {n} | {e} | {secs[e]:.2f} | {errs[e]:.2f} | {ratio} |")
        summary[n] = {"seconds": secs, "mean_mm": errs}
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary,
                                               "threads": args.threads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
