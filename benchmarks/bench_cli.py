"""The command line as a user meets it: how fast argument errors and help answer, and how much
memory a large ``vposer sample`` holds.

* Latency: wall-clock seconds of ``vposer`` processes that end in an argument error, an
  output-name error or help (median of ``--repeats`` runs), next to a bare ``python -c pass``
  and ``python -c "import torch"`` started the same way, in the same run: the ratios carry over
  to other machines, the absolute figures do not.
* Memory: peak resident memory of ``vposer sample -n N`` (default 10,000,000; ``--quick``:
  1,000,000) and its wall time, against the size of the file it writes.

    python benchmarks/bench_cli.py [--repeats 7] [--num 10000000] [--quick] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ERRORS = {
    "sample -n 0 (bound)": ["sample", "-n", "0"],
    "render -o grid.xyz (output name)": ["render", "-o", "grid.xyz"],
    "evaluate --data missing (input folder)": ["evaluate", "--data", "no_such_dir"],
    "sample --help": ["sample", "--help"],
}


def timed(argv: list[str], repeats: int) -> float:
    """Median wall-clock seconds of running ``argv`` to completion."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, text=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def latency(repeats: int) -> dict:
    cli = [sys.executable, "-m", "vposer"]
    out = {"python -c pass": timed([sys.executable, "-c", "pass"], repeats),
           "python -c 'import torch'": timed([sys.executable, "-c", "import torch"], repeats)}
    for label, args in ERRORS.items():
        out[f"vposer {label}"] = timed(cli + args, repeats)
    return out


def peak_memory(num: int) -> dict:
    """Peak RSS (MB) and seconds of ``vposer sample -n num`` in a child process."""
    with tempfile.TemporaryDirectory(prefix="bench_cli_") as folder:
        path = Path(folder) / "big.npz"
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run([sys.executable, "-m", "vposer", "sample", "-n", str(num), "-q",
                               "-o", str(path)], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            raise SystemExit(f"vposer sample failed: {proc.stderr.strip()}")
        size = path.stat().st_size
    if peak_kb <= before:  # an earlier child (a latency run) was bigger: measure alone
        return {"note": "run with --skip-latency for a clean peak"}
    return {"num": num, "peak_rss_mb": peak_kb / 1024, "seconds": seconds,
            "file_mb": size / 2**20, "poses_per_s": num / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--num", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1,000,000 poses")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    repeats, num = (3, 1_000_000) if args.quick else (args.repeats, args.num)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    result: dict = {"threads": threads}
    print(f"## CLI latency and memory (OMP_NUM_THREADS={threads})\n")
    if not args.skip_latency:
        lat = latency(repeats)
        result["latency_s"] = lat
        base = lat["python -c pass"]
        print(f"| process ({repeats} runs, median) | seconds | over `python -c pass` |")
        print("|---|---:|---:|")
        for label, seconds in lat.items():
            print(f"| `{label}` | {seconds:.3f} | {seconds - base:+.3f} |")
        print()
    if not args.skip_memory:
        mem = peak_memory(num)
        result["sample_memory"] = mem
        if "peak_rss_mb" in mem:
            print("| `vposer sample -n` | peak RSS | file | time | poses/s |")
            print("|---:|---:|---:|---:|---:|")
            print(f"| {num:,} | {mem['peak_rss_mb']:.0f} MB | {mem['file_mb']:.0f} MB | "
                  f"{mem['seconds']:.1f} s | {mem['poses_per_s']:,.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
