#!/usr/bin/env python
"""Throughput of data preparation and retargeting on CPU (frames per second).

- ``prepare``: a synthetic AMASS tree (SMPL+H takes at 120 Hz) through ``prepare_amass`` to 30 Hz,
  with 1 and 2 workers, and with near-duplicate removal; frames/s counts source frames read.
- ``retarget``: the CMU exponential-map set (``../shared/data/cmu``, when present) retargeted onto
  the open body (source FK + retargeting, no I/O), and the whole ``import_mocap`` including the
  quality report and writing; plus BVH parsing of a written file.

Usage::

    python benchmarks/bench_data.py [--takes 24] [--frames 2000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CMU = ROOT.parent / "shared" / "data" / "cmu"


def make_tree(root: Path, takes: int, frames: int) -> int:
    rng = np.random.default_rng(0)
    for i in range(takes):
        path = root / "CMU" / f"{i // 4:02d}" / f"{i:02d}_poses.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        # a smooth random walk, so de-duplication has realistic work to do
        poses = np.cumsum(rng.normal(scale=0.003, size=(frames, 156)), axis=0).astype(np.float32)
        np.savez(path, poses=poses, mocap_framerate=np.array(120.0), trans=np.zeros((frames, 3)))
    return takes * frames


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    import torch

    torch.set_num_threads(2)
    from vposer.data import cmu as cmu_io
    from vposer.data.bvh import read_bvh, write_bvh
    from vposer.data.mapping import resolve_mapping
    from vposer.data.mocap import import_mocap
    from vposer.data.pipeline import prepare_amass
    from vposer.data.retarget import Retargeter
    from vposer.data.skeleton import body_skeleton

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=24)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        total = make_tree(tmp / "amass", args.takes, args.frames)
        for workers, dedup in ((1, 0.0), (2, 0.0), (1, 0.02)):
            sec = timed(lambda w=workers, d=dedup: prepare_amass(
                tmp / "amass", tmp / "out", "v2", 30.0, d, w, progress=False))
            rows.append((f"prepare (workers={workers}, dedup={dedup})", total, sec))

        smpl = body_skeleton("open")
        if CMU.exists():
            data = cmu_io.load_cmu(CMU)
            mapping, _ = resolve_mapping(data.skeleton.names, profile="cmu-expmap")
            rt = Retargeter.build(data.skeleton, smpl, mapping)
            takes = [data.take(k) for k in data.keys]
            n = sum(len(t) for t in takes)

            def retarget_all():
                for frames in takes:
                    rt(cmu_io.column_fk(data.skeleton, frames)[0])

            rows.append(("retarget CMU (FK + retarget)", n, timed(retarget_all, 2)))
            rows.append(("import-mocap CMU (all, with report)", n,
                         timed(lambda: import_mocap(CMU, tmp / "cmu", progress=False))))
        local = np.tile(np.eye(3), (5000, 22, 1, 1))
        write_bvh(tmp / "a.bvh", smpl, local)
        rows.append(("read BVH (22 joints)", 5000, timed(lambda: read_bvh(tmp / "a.bvh"), 2)))

    print("| operation | frames | seconds | frames/s |")
    print("|---|---:|---:|---:|")
    for name, n, sec in rows:
        print(f"| {name} | {n} | {sec:.2f} | {n / sec:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
