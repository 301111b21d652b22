"""Generation throughput: ``vposer generate`` against raw in-process sampling.

- **raw sampling**: ``model.sample(n, seed=...)`` in this process (decoding only, nothing
  written), at 1 thread and at ``--threads`` threads: the ceiling for poses only;
- **poses only**: ``vposer.generate.generate`` writing npz shards of ``--shard-size`` with 1 and
  2 workers (1 torch thread each). *End to end* counts everything (worker start-up, model
  loading, writing, hashing, fsync, manifest); *per worker* is samples over the time spent
  inside shards less the one-off loading of model, body and renderer in each worker: the
  steady-state rate of one worker;
- **images**: the same with ``--with images`` (open body, 256 x 256, one view, headless OpenGL),
  1 and 2 workers.

Model: the v2 fixture in ``../shared/fixtures/vposer/V02_fixture`` when present, else a random
v2 network (same size, same speed). Prints a markdown table and writes
``benchmarks/results/generate.json``.

    python benchmarks/bench_generate.py [--n 400000] [--images 48] [--quick]
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

import vposer
from vposer.generate import Options, Settings, generate

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent.parent / "shared" / "fixtures" / "vposer" / "V02_fixture"
RESULTS = HERE / "results" / "generate.json"


def model_path(tmp: Path) -> tuple[str, str]:
    if FIXTURE.is_dir():
        return str(FIXTURE), "V02 fixture"
    from vposer.model import VPoserConfig, build_model

    torch.manual_seed(0)
    path = tmp / "random_v2"
    vposer.save_model(build_model(VPoserConfig()), path)
    return str(path), "random v2 network"


def raw_rate(path: str, n: int, threads: int, rounds: int = 3) -> float:
    model = vposer.load_model(path)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.sample(1024, seed=0)
        best = float("inf")
        for r in range(rounds):
            t = time.perf_counter()
            model.sample(n, seed=r)
            best = min(best, time.perf_counter() - t)
    finally:
        torch.set_num_threads(old)
    return n / best


def run(path: str, tmp: Path, name: str, settings: Settings, workers: int) -> dict:
    out = tmp / name
    summary = generate(settings, Options(out=out, model_path=path, workers=workers, progress=False))
    return {"workers": workers, "samples": summary.samples, "seconds": summary.seconds,
            "end_to_end_per_s": summary.samples / summary.seconds,
            "per_worker_per_s": summary.samples / (summary.shard_seconds - summary.setup_seconds),
            "setup_seconds": summary.setup_seconds,
            "mb": summary.bytes / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400_000, help="poses for the poses-only runs")
    parser.add_argument("--shard-size", type=int, default=50_000)
    parser.add_argument("--images", type=int, default=48, help="samples for the image runs")
    parser.add_argument("--threads", type=int, default=2, help="threads of the second raw figure")
    parser.add_argument("--quick", action="store_true", help="smaller runs (n / 4, images / 2)")
    args = parser.parse_args()
    n, n_img = (args.n // 4, args.images // 2) if args.quick else (args.n, args.images)
    results: dict = {"benchmark": "generate", "date": datetime.datetime.now().isoformat(timespec="seconds"),
                     "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                     "python": platform.python_version(), "n": n, "shard_size": args.shard_size,
                     "images": n_img}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path, what = model_path(tmp)
        results["model"] = what
        results["raw_1_thread"] = raw_rate(path, min(n, 100_000), 1)
        results[f"raw_{args.threads}_threads"] = raw_rate(path, min(n, 100_000), args.threads)
        poses = Settings(n=n, shard_size=args.shard_size)
        results["poses"] = [run(path, tmp, f"p{w}", poses, w) for w in (1, 2)]
        images = Settings(n=n_img, shard_size=8, outputs=("images",), image_size=256)
        results["images"] = [run(path, tmp, f"i{w}", images, w) for w in (1, 2)]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")

    raw1 = results["raw_1_thread"]
    print(f"model: {what}; {n:,} poses in shards of {args.shard_size:,}; {n_img} images at 256 x 256\n")
    print("| what | workers | end to end /s | per worker /s | per worker / raw 1-thread |")
    print("|---|---:|---:|---:|---:|")
    print(f"| raw sampling, 1 thread (model.sample) | - | {raw1:,.0f} | {raw1:,.0f} | 1.00 |")
    rawk = results[f"raw_{args.threads}_threads"]
    print(f"| raw sampling, {args.threads} threads | - | {rawk:,.0f} | - | - |")
    for kind, label in (("poses", "poses only (npz)"), ("images", "with images (npz, uint8)")):
        for r in results[kind]:
            ratio = f"{r['per_worker_per_s'] / raw1:.2f}" if kind == "poses" else "-"
            print(f"| {label} | {r['workers']} | {r['end_to_end_per_s']:,.1f} | "
                  f"{r['per_worker_per_s']:,.1f} | {ratio} |")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
