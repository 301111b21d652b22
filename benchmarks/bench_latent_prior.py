"""What the learned latent prior costs: ``model.sample`` of the default weights drawing codes from
their Gaussian mixture, against the same network drawing from N(0, I), in one run.

Rounds alternate between the two (so a busy machine slows both alike); reported per batch size:
the median time of a call, poses per second and the ratio mixture / N(0, I).

    python benchmarks/bench_latent_prior.py [--threads 1] [--rounds 5] [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

import vposer

BATCHES = (1, 1024, 65536)


def median_call(model, batch: int, calls: int) -> float:
    """Median seconds of ``model.sample(batch, seed=i)`` over ``calls`` calls."""
    times = []
    for i in range(calls):
        start = time.perf_counter()
        model.sample(batch, seed=i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="one round, fewer calls")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = vposer.load_model()
    prior = model.latent_prior
    if prior is None:
        print("the default weights carry no latent prior: nothing to compare")
        return 0
    rounds = 1 if args.quick else args.rounds
    results: dict[int, dict[str, list[float]]] = {b: {"mixture": [], "normal": []} for b in BATCHES}
    for _ in range(rounds):
        for batch in BATCHES:
            calls = max(3, min(200, 20000 // batch)) if not args.quick else 3
            for name, p in (("mixture", prior), ("normal", None)):
                model.latent_prior = p
                model.sample(batch, seed=0)  # warm-up
                results[batch][name].append(median_call(model, batch, calls))
    model.latent_prior = prior
    print(f"`model.sample` of the default weights, {args.threads} thread(s), {rounds} round(s)\n")
    print("| batch | learned prior (mixture) | N(0, I) | time ratio |")
    print("|---:|---:|---:|---:|")
    out = {}
    for batch, r in results.items():
        m, n = statistics.median(r["mixture"]), statistics.median(r["normal"])
        out[batch] = {"mixture_s": m, "normal_s": n, "ratio": m / n}
        print(f"| {batch:,} | {m * 1e6:,.0f} µs ({batch / m:,.0f} poses/s) | "
              f"{n * 1e6:,.0f} µs ({batch / n:,.0f} poses/s) | {m / n:.2f}x |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
