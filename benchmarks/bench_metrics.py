#!/usr/bin/env python
"""Evaluation metrics: seconds per metric at the sizes of the ``vposer evaluate`` protocol.

Synthetic poses (Gaussian axis-angle, 0.3 rad per component) and the open body, so nothing needs
the project's data: joint positions of 50,000 poses (forward kinematics), APD on 500 samples,
FID on 50,000 x 63 against 10,000 held-out poses (axis-angle and joint positions), dNN of 500
samples to 10,000 and 100,000 training poses (exact, float64, and the approximate shortlist),
precision / recall / density / coverage (1,000 and 5,000 poses a side), rotation ranges, the
reconstruction pass (encode, decode, two body-model calls) on 512 held-out poses with a V02-sized
network, and the GMM baseline fit on 10,000 poses (needs scikit-learn). Best of ``--repeats``.

Prints a markdown table; ``--json PATH`` also writes the numbers there.

    python benchmarks/bench_metrics.py [--device cpu|cuda] [--threads 2] [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch


def best_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from vposer.body import load_body
    from vposer.evaluate import (
    JointPositions,
    RotationRanges,
    average_pairwise_distance,
    frechet_distance,
    joint_quaternions,
    nearest_neighbour_distance,
    precision_recall_coverage,
    )
    from vposer.evaluate.pipeline import EvalSettings, Evaluator
    from vposer.model import VPoserConfig, build_model

    q = args.quick
    n_gen, n_test, n_train = (5_000, 2_000, 10_000) if q else (50_000, 10_000, 100_000)
    g = torch.Generator().manual_seed(0)
    gen = (torch.randn(n_gen, 63, generator=g) * 0.3).to(device)
    test = (torch.randn(n_test, 63, generator=g) * 0.3).to(device)
    train = (torch.randn(n_train, 63, generator=g) * 0.3).to(device)
    body = load_body(device=device)
    joints = JointPositions(body)
    jg, jt = joints(gen), joints(test)
    sq, tq = joint_quaternions(gen[:500]), joint_quaternions(train)
    small = min(10_000, n_train)

    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("joint positions (FK)", f"{n_gen} poses", lambda: joints(gen)),
        ("APD", "500 samples, 22 joints", lambda: average_pairwise_distance(jg[:500])),
        ("FID axis-angle", f"{n_gen} vs {n_test} x 63", lambda: frechet_distance(gen, test)),
        ("FID joints", f"{n_gen} vs {n_test} x 66",
         lambda: frechet_distance(jg.flatten(1), jt.flatten(1))),
        ("dNN exact", f"500 vs {small}", lambda: nearest_neighbour_distance(sq, tq[:small])),
        ("dNN approx", f"500 vs {small}",
         lambda: nearest_neighbour_distance(sq, tq[:small], "approx")),
    ]
    if n_train > small:
        cases += [("dNN exact", f"500 vs {n_train}", lambda: nearest_neighbour_distance(sq, tq)),
                  ("dNN approx", f"500 vs {n_train}",
                   lambda: nearest_neighbour_distance(sq, tq, "approx"))]
    for n in ((1000,) if q else (1000, 5000)):
        cases.append(("precision/recall/coverage", f"{n} vs {n}, k=5", lambda n=n:
                      precision_recall_coverage(jt[:n].flatten(1), jg[:n].flatten(1), 5)))
    cases.append(("rotation ranges fit + check", f"{n_train} + {n_gen}",
                  lambda: RotationRanges.fit(train).summary(gen)))
    model = build_model(VPoserConfig("v2")).to(device).eval()
    ev = Evaluator(train[:small], test[:512], body,
                   EvalSettings(samples=500, fid_samples=n_gen, prdc_samples=1000), device=device)
    cases.append(("reconstruction pass", "512 poses, open body", lambda: ev.reconstruction(model)))
    try:
        import sklearn  # noqa: F401

        from vposer.evaluate import GMMPrior

        cases.append(("GMM fit (8 full)", f"{small} x 63",
                      lambda: GMMPrior.fit(train[:small].cpu(), max_iter=100)))
    except ImportError:
        print("note: scikit-learn not installed, GMM fit skipped", file=sys.stderr)

    rows = []
    for name, size, fn in cases:
        reps = 1 if name.startswith(("GMM", "dNN exact")) and not q else args.repeats
        seconds = best_seconds(fn, reps, device)
        rows.append({"metric": name, "size": size, "seconds": seconds})
        print(f"  {name} ({size}): {seconds:.3f} s", file=sys.stderr, flush=True)

    print(f"\nevaluation metrics, {device.type}"
          + (f", {args.threads} threads" if device.type == "cpu" else "") + f", best of {args.repeats}"
          + (" (quick sizes)" if q else "") + "\n")
    print("| metric | size | seconds |")
    print("|---|---|---:|")
    for r in rows:
        print(f"| {r['metric']} | {r['size']} | {r['seconds']:.3f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "metrics", "device": str(device),
                                         "threads": args.threads, "quick": q, "rows": rows},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
