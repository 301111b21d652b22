#!/usr/bin/env python
"""Training throughput: poses per second of one VPoser training step (the v2 recipe).

One step is what ``vposer train`` does per batch, without Lightning's loop around it: the
module's forward (encode, reparameterised sample, decode), the open body's vertices and joints
for the reconstruction and the original, the recipe's loss (with the early-epoch terms,
``extra``, and without), backward, and an Adam step. V02_05 sizes (512 neurons, 32 latent
dimensions), batch 128 by default, synthetic poses. Two ways to get the vertices, side by side:
the one training uses (``linear map``: the differences as one product of the joint transforms,
:mod:`vposer.train.body_points`) and the reference (``two forward passes``: the body model posed
for both sets of poses, then subtracted; what training did before). Best of ``--repeats`` rounds
of ``--steps`` steps after two warm-up steps, rounds of every variant interleaved.

Prints a markdown table; ``--json PATH`` also writes the numbers there.

    python benchmarks/bench_train.py [--device cpu|cuda] [--batch 128] [--threads 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def run_steps(module, opt, batches: list[torch.Tensor], extra: bool, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches:
        losses, _ = module._step(batch, extra)
        opt.zero_grad(set_to_none=True)
        losses.total.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    try:
        import lightning  # noqa: F401
    except ImportError:
        print("skipping: training needs the 'train' extra (lightning)")
        return 0
    from vposer.body import load_body
    from vposer.train import load_config
    from vposer.train.body_points import BodyPoints
    from vposer.train.module import VPoserModule

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = 3 if args.quick else args.steps
    cfg = load_config()  # the v2 preset: V02_05 sizes, loss weights, Adam lr 1e-3
    module = VPoserModule(cfg, load_body()).to(device)
    module.train()
    opt = torch.optim.Adam(module.vposer.parameters(), lr=1e-3, weight_decay=1e-5)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch, 63, generator=g) * 0.3).to(device) for _ in range(steps)]
    fast = module.points
    slow = BodyPoints(module.body, linear=False)
    variants = [(name, extra) for name in ("linear map", "two forward passes") for extra in (True, False)]
    times: dict = {v: [] for v in variants}

    def use(name: str) -> None:
        module.points = fast if name == "linear map" else slow

    for name, extra in variants:
        use(name)
        run_steps(module, opt, batches[:2], extra, device)  # warm-up
    for _ in range(args.repeats):  # rounds interleaved: a busy machine slows all alike
        for name, extra in variants:
            use(name)
            times[(name, extra)].append(run_steps(module, opt, batches, extra, device))
    rows = []
    for name, extra in variants:
        best = min(times[(name, extra)])
        rate = steps * args.batch / best
        rows.append({"vertices": name, "extra_terms": extra, "batch": args.batch, "steps": steps,
                     "ms_per_step": 1000 * best / steps, "poses_per_s": rate})
        print(f"  {name}, extra={extra}: {rate:.0f} poses/s", file=sys.stderr, flush=True)
    nv = module.body.num_vertices
    where = f"{device.type}" + (f", {args.threads} threads" if device.type == "cpu" else "")
    print(f"\ntraining step (v2 recipe, V02_05 sizes, open body {nv} vertices), {where}, "
          f"float32, best of {args.repeats} x {steps} steps\n")
    print("| vertices | loss terms | batch | ms / step | poses / s | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    reference = {r["extra_terms"]: r["poses_per_s"] for r in rows if r["vertices"] != "linear map"}
    for r in rows:
        terms = "with early-epoch terms" if r["extra_terms"] else "KL + vertices"
        ratio = r["poses_per_s"] / reference[r["extra_terms"]]
        print(f"| {r['vertices']} | {terms} | {r['batch']} | {r['ms_per_step']:.1f} | "
              f"{r['poses_per_s']:.0f} | {ratio:.2f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "train", "device": str(device),
                                         "threads": args.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
