"""Sampling throughput: decoded poses per second, ours vs the original VPoser vs the machine's limit.

For batches of 1, 1k and 64k latent codes, float32, 2 threads (``--threads``):

- **ours**: ``vposer.load_model(fixture)`` then ``model.decode(z)`` (axis-angle ``(N, 21, 3)`` AND
  matrices ``(N, 21, 3, 3)``) and ``model.sample(n, seed=...)`` (the same plus drawing ``z``), for
  the v1 and v2 fixtures in ``../shared/fixtures/vposer``;
- **original**: ``human-body-prior==0.8.5.0`` (v1), installed once with ``pip install --no-deps
  --target`` into a cache folder (``~/.cache/vposer-bench/original``; ``--original-dir`` or
  ``$VPOSER_BENCH_ORIGINAL`` to change) and run in a subprocess (``_original_sampling.py``) with
  ``PYTHONPATH`` pointing there. Its axis-angle output is broken on current torch (torchgeometry
  subtracts bool masks), so its *matrix* output, ``decode(z, output_type='matrot')``, is timed:
  it does less work than ours. Its matrices are checked against ours on the same codes;
- **onnx**: the same models exported with ``vposer export --format onnx`` and decoded by
  ``vposer.runtime`` (ONNX Runtime and numpy, no torch in the call; axis-angle and matrices, like
  ours), with ``--threads`` intra-op threads (``_onnx_sampling.py``; skipped with a note when
  ``onnx``/``onnxruntime`` are missing, with ``--device cuda`` and with ``--no-onnx``);
- **3-matmul**: the decoder's three ``torch.addmm`` (with the two in-place leaky ReLUs) alone, in
  this process with the same threads, in one pass over the batch: the issue's yardstick for the
  machine's limit (our CPU decode works in blocks of 2048 codes that stay in the caches, which
  can make its matmuls faster than this one-pass figure, so a ratio above 100 % is possible).

Each call is timed on its own, after a warm-up; a figure is the best (shortest) of N calls, the
median is printed beside it in a second table and kept in the JSON. The contenders take turns in
short rounds, so a busy machine slows them alike: on a shared machine read the ratios, and the
median table for how steady they are. ``--clock cpu`` times the calling thread's CPU time with
one thread instead, which a busy machine disturbs far less (a check of the ratios, not of the
targets, which are for wall time at 2 threads). ``--device cuda`` runs all three on the GPU.

Prints markdown tables and writes ``benchmarks/results/sampling.json`` (``sampling_cpu_clock.json``
with ``--clock cpu``). Run from anywhere: ``python benchmarks/bench_sampling.py``.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import vposer

import _onnx_sampling

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "vposer"
V1_FIXTURE = FIXTURES / "vposer_v1_snapshot"
V2_FIXTURE = FIXTURES / "V02_fixture"
RESULTS = HERE / "results" / "sampling.json"
ORIGINAL_PACKAGES = ("human-body-prior==0.8.5.0", "torchgeometry")

# batch -> (calls per round, min rounds, max rounds, seconds of rounds per model): rounds go on
# until the budget is spent (at least min, at most max), so a loaded machine does not stretch the
# run much; the whole script takes about a minute.
PLAN = {1: (50, 3, 60, 3.0), 1024: (4, 3, 30, 5.0), 65536: (1, 2, 8, 18.0)}
QUICK_PLAN = {1: (50, 2, 3, 0.5), 1024: (3, 2, 3, 1.0), 65536: (1, 1, 2, 3.0)}
TARGETS = {"ratio_original_64k": 1.5, "ratio_matmul_64k": 0.70, "us_per_call_batch1": 150.0,
           "ratio_onnx_original_batch1": 3.0, "ratio_ours_original_batch1": 1.0}


# -- the original implementation, isolated -------------------------------------------------------
def default_original_dir() -> Path:
    if os.environ.get("VPOSER_BENCH_ORIGINAL"):
        return Path(os.environ["VPOSER_BENCH_ORIGINAL"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "vposer-bench" / "original"


def ensure_original(target: Path) -> Path | None:
    """Install the original package and torchgeometry into ``target`` (once); None on failure."""
    if (target / "human_body_prior" / "train" / "vposer_smpl.py").is_file() and (
        target / "torchgeometry"
    ).is_dir():
        return target
    print(f"installing the original implementation ({', '.join(ORIGINAL_PACKAGES)}) into {target} ...",
          flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="original-", dir=target.parent))
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check",
           "--target", str(tmp), *ORIGINAL_PACKAGES]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print("could not install the original implementation: pip failed (no access to the package "
              "registry?). The 'original' column is skipped. Install it by hand with\n  "
              + " ".join(cmd[:-len(ORIGINAL_PACKAGES) - 2]) + f" --target {target} "
              + " ".join(ORIGINAL_PACKAGES) + "\npip said: " + " | ".join(tail), file=sys.stderr)
        return None
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target


# Modules the original's vposer_smpl.py imports at module level but the timed code never uses.
_STUBS = {
    "configer": "class Configer:\n    def __init__(self, *a, **k):\n"
                "        raise RuntimeError('configer stub (benchmark only)')\n",
    "smplx": None,  # a package with lbs below
}
_SMPLX_LBS = "def lbs(*a, **k):\n    raise RuntimeError('smplx stub (benchmark only)')\n"


def make_stubs(stub_dir: Path) -> list[str]:
    """Write stub modules for those of ``configer`` / ``smplx`` that are not importable."""
    shutil.rmtree(stub_dir, ignore_errors=True)
    stub_dir.mkdir(parents=True)
    stubbed = []
    for name, source in _STUBS.items():
        if importlib.util.find_spec(name) is not None:
            continue
        if name == "smplx":
            (stub_dir / "smplx").mkdir()
            (stub_dir / "smplx" / "__init__.py").write_text("")
            (stub_dir / "smplx" / "lbs.py").write_text(_SMPLX_LBS)
        else:
            (stub_dir / f"{name}.py").write_text(source)
        stubbed.append(name)
    return stubbed


class Original:
    """The original VPoser v1 running in a subprocess, driven line by line."""

    def __init__(self, site: Path, stub_dir: Path, snapshot: Path, args: argparse.Namespace):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(stub_dir)])
        env["OMP_NUM_THREADS"] = str(args.threads)
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_original_sampling.py"), "--snapshot", str(snapshot),
             "--threads", str(args.threads), "--clock", args.clock, "--device", args.device],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(tempfile.gettempdir()),
        )
        self.info = self._read()
        if "error" in self.info:
            self.close()
            raise RuntimeError(f"the original implementation did not start: {self.info['error']}")
        if not Path(self.info["human_body_prior"]).resolve().is_relative_to(site.resolve()):
            self.close()
            raise RuntimeError(f"the subprocess imported human_body_prior from {self.info['human_body_prior']},"
                               f" not from {site}")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the original implementation's subprocess exited (see its stderr above)")
        return json.loads(line)

    def request(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def time(self, batch: int, calls: int, warmup: bool) -> list[float]:
        """Seconds of each of ``calls`` calls of ``decode(z, output_type='matrot')``."""
        return self.request(cmd="time", batch=batch, calls=calls, mode="decode",
                            warmup=warmup)["per_call_s"]

    def matrices(self, z: torch.Tensor) -> np.ndarray:
        """``(N, 21, 3, 3)`` matrices of the codes ``z`` ``(N, 32)``."""
        with tempfile.TemporaryDirectory() as tmp:
            zf, of = Path(tmp) / "z.npy", Path(tmp) / "m.npy"
            np.save(zf, z.cpu().numpy())
            self.request(cmd="matrices", z_file=str(zf), out_file=str(of))
            return np.load(of)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()


# -- our code and the limit ----------------------------------------------------------------------
def decoder_linears(model) -> tuple[list[torch.nn.Linear], float]:
    """The decoder's three linear layers and its leaky-ReLU slope, for v1 and v2 layouts."""
    if model.config.architecture == "v1":
        return [model.bodyprior_dec_fc1, model.bodyprior_dec_fc2, model.bodyprior_dec_out], model.slope
    net = model.decoder_net
    return [net[0], net[3], net[5]], model.slope


def matmul_limit(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """``z -> addmm -> leaky_ -> addmm -> leaky_ -> addmm``: the decoder's arithmetic, nothing else."""
    (l1, l2, l3), slope = decoder_linears(model)
    w = [layer.weight.detach().t() for layer in (l1, l2, l3)]  # (in, out) views, as F.linear uses
    b = [layer.bias.detach() for layer in (l1, l2, l3)]

    def run(z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu_(torch.addmm(b[0], z, w[0]), slope)
        h = F.leaky_relu_(torch.addmm(b[1], h, w[1]), slope)
        return torch.addmm(b[2], h, w[2])

    return run


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


@dataclass(frozen=True)
class Timing:
    """How calls are timed: ``clock`` (wall or thread CPU time) on ``device`` (synchronised)."""

    clock: Callable[[], float] = time.perf_counter
    device: torch.device = torch.device("cpu")

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def call_times(fn: Callable[[], object], calls: int, timing: Timing) -> list[float]:
    """Seconds of each of ``calls`` calls of ``fn``."""
    out = []
    for _ in range(calls):
        timing.sync()
        t0 = timing.clock()
        fn()
        timing.sync()
        out.append(timing.clock() - t0)
    return out


def codes(batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(batch, 32)`` standard normal codes, the same for a given batch size."""
    return torch.randn(batch, 32, generator=torch.Generator().manual_seed(batch)).to(device)


def _contenders(model, limit, original: Original | None, z: torch.Tensor, calls: int,
                timing: Timing, onnx=None) -> dict[str, Callable[[bool], list[float]]]:
    """Per contender, a function ``(warm-up first?) -> seconds of each of calls calls``."""
    batch = z.shape[0]
    seeds = iter(range(10**9))
    out: dict[str, Callable[[bool], list[float]]] = {
        "ours_decode": lambda _w: call_times(lambda: model.decode(z), calls, timing),
        "ours_sample": lambda _w: call_times(lambda: model.sample(batch, seed=next(seeds)), calls, timing),
        "matmul": lambda _w: call_times(lambda: limit(z), calls, timing),
    }
    if original is not None:
        out["original_decode_matrot"] = lambda w: original.time(batch, calls, warmup=w)
    if onnx is not None:
        z_np = z.cpu().numpy()
        out["onnx_decode"] = lambda _w: call_times(lambda: onnx.decode(z_np), calls, timing)
    return out


def bench_model(name: str, model, original: Original | None, plan: dict, timing: Timing,
                onnx=None) -> list[dict]:
    """Best per-call seconds for each batch of ``plan``: ours decode, ours sample, original, onnx,
    3-matmul."""
    limit = matmul_limit(model)
    rows = []
    for batch, (calls, min_rounds, max_rounds, seconds) in plan.items():
        budget = seconds if original is not None else 0.6 * seconds  # shorter rounds without it
        z = codes(batch, timing.device)
        contenders = _contenders(model, limit, original, z, calls, timing, onnx)
        samples: dict[str, list[float]] = {k: [] for k in contenders}
        with torch.no_grad():
            for _ in range(2 if batch < 65536 else 1):  # warm-up (the original warms up in round 0)
                model.decode(z), model.sample(batch, seed=0), limit(z)
                if onnx is not None:
                    onnx.decode(z.cpu().numpy())
            t0 = time.perf_counter()
            rounds = 0
            while rounds < min_rounds or (rounds < max_rounds and time.perf_counter() - t0 < budget):
                for key, fn in contenders.items():
                    samples[key] += fn(rounds == 0)
                rounds += 1
        row = {"model": name, "batch": batch, "calls_per_round": calls, "rounds": rounds}
        best = {k: min(v) for k, v in samples.items()}
        for key, s in best.items():
            med = statistics.median(samples[key])
            row[key] = {"s_per_call": s, "us_per_call": s * 1e6, "poses_per_s": batch / s,
                        "median_us_per_call": med * 1e6, "median_poses_per_s": batch / med,
                        "calls_timed": len(samples[key])}
        if "original_decode_matrot" in best:
            row["ratio_ours_over_original"] = best["original_decode_matrot"] / best["ours_decode"]
        if "onnx_decode" in best:
            row["ratio_onnx_over_ours"] = best["ours_decode"] / best["onnx_decode"]
            if "original_decode_matrot" in best:
                row["ratio_onnx_over_original"] = best["original_decode_matrot"] / best["onnx_decode"]
        row["ratio_ours_over_matmul"] = best["matmul"] / best["ours_decode"]
        rows.append(row)
        print(f"  {name} batch {batch}: {rounds} rounds", file=sys.stderr, flush=True)
    return rows


# -- report --------------------------------------------------------------------------------------
def _rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def table(rows: list[dict], median: bool = False) -> str:
    """The markdown table of best (or median) per-call times."""
    has_orig = any("original_decode_matrot" in r for r in rows)
    has_onnx = any("onnx_decode" in r for r in rows)
    rate, us = ("median_poses_per_s", "median_us_per_call") if median else ("poses_per_s", "us_per_call")
    head = ["batch", "ours decode aa+mat poses/s", "µs/call", "ours sample() poses/s", "µs/call"]
    if has_orig:
        head += ["original decode (mat only) poses/s", "µs/call"]
    if has_onnx:
        head += ["onnx decode aa+mat poses/s", "µs/call"]
    head += ["3-matmul poses/s", "µs/call"]
    if has_orig:
        head += ["ours/original"]
    if has_onnx:
        head += ["onnx/original"] if has_orig else []
        head += ["onnx/ours"]
    head += ["ours/matmul"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["batch"])]
        keys = (["ours_decode", "ours_sample"] + (["original_decode_matrot"] if has_orig else [])
                + (["onnx_decode"] if has_onnx else []) + ["matmul"])
        for k in keys:
            cells += [_rate(r[k][rate]), f"{r[k][us]:.0f}"]
        if has_orig:
            cells.append(f"{r['original_decode_matrot'][us] / r['ours_decode'][us]:.2f}x")
        if has_onnx:
            if has_orig:
                cells.append(f"{r['original_decode_matrot'][us] / r['onnx_decode'][us]:.2f}x")
            cells.append(f"{r['ours_decode'][us] / r['onnx_decode'][us]:.2f}x")
        cells.append(f"{r['matmul'][us] / r['ours_decode'][us]:.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_targets(rows: list[dict]) -> list[dict]:
    checks = []
    by_batch = {r["batch"]: r for r in rows}
    big = by_batch.get(65536)
    if big and "ratio_ours_over_original" in big:
        v = big["ratio_ours_over_original"]
        checks.append({"what": "64k: ours (aa+mat) / original (mat only)", "value": v,
                       "target": f">= {TARGETS['ratio_original_64k']}x", "ok": v >= TARGETS["ratio_original_64k"]})
    if big:
        v = big["ratio_ours_over_matmul"]
        checks.append({"what": "64k: ours (aa+mat) / 3-matmul", "value": v,
                       "target": f">= {TARGETS['ratio_matmul_64k']:.0%}", "ok": v >= TARGETS["ratio_matmul_64k"]})
    one = by_batch.get(1)
    if one and "ratio_onnx_over_original" in one:
        v = one["ratio_onnx_over_original"]
        checks.append({"what": "batch 1: original (mat only) / onnx decode (aa+mat)", "value": v,
                       "target": f">= {TARGETS['ratio_onnx_original_batch1']}x",
                       "ok": v >= TARGETS["ratio_onnx_original_batch1"]})
    if one and "ratio_ours_over_original" in one:
        v = one["ratio_ours_over_original"]
        checks.append({"what": "batch 1: original (mat only) / ours decode (aa+mat)", "value": v,
                       "target": f">= {TARGETS['ratio_ours_original_batch1']}x",
                       "ok": v >= TARGETS["ratio_ours_original_batch1"]})
    if one:
        for key in ("ours_decode", "ours_sample"):
            v = one[key]["us_per_call"]
            checks.append({"what": f"batch 1: {key} µs/call", "value": v,
                           "target": f"<= {TARGETS['us_per_call_batch1']:.0f}",
                           "ok": v <= TARGETS["us_per_call_batch1"]})
    return checks


def _load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="'wall' (default) or 'cpu': the calling thread's CPU time, with 1 thread; "
                             "steadier on a busy shared machine (the targets are for wall time)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    parser.add_argument("--no-original", action="store_true", help="skip the original implementation")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime column")
    parser.add_argument("--original-dir", type=Path, default=None,
                        help="where the original is (or gets) installed (default ~/.cache/vposer-bench/original)")
    parser.add_argument("--json", type=Path, default=None, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.clock == "cpu":
        if args.device != "cpu":
            parser.error("--clock cpu times CPU work only: use it with --device cpu")
        args.threads = 1  # all the work then runs in the timed thread
    if args.json is None:
        args.json = RESULTS if args.clock == "wall" else RESULTS.with_name("sampling_cpu_clock.json")
    return args


def _start_original(args: argparse.Namespace, v1) -> tuple[Original | None, list[str], list[str]]:
    """The original in its subprocess (or None), notes for the report, the stubbed modules."""
    site = ensure_original(args.original_dir or default_original_dir())
    if site is None:
        return None, ["original: not installed (see the message above): no original column"], []
    stub_dir = site.parent / "stubs"
    stubbed = make_stubs(stub_dir)
    snapshot = Path(v1.info.get("snapshot", V1_FIXTURE / "snapshots" / "TR00_E096.pt"))
    original = Original(site, stub_dir, snapshot, args)
    notes = [
        f"original: human_body_prior from {original.info['human_body_prior']}"
        + (f", stub modules: {', '.join(stubbed)}" if stubbed else ""),
        f"original's axis-angle path (decode(z, output_type='aa')): {original.info['axis_angle']}"
        " -> its matrix output is timed instead (less work than ours)",
    ]
    z = codes(1024, torch.device(args.device))
    with torch.no_grad():
        ours = v1.decode(z).matrices.cpu().numpy()
    diff = float(np.abs(original.matrices(z) - ours).max())
    notes.append(f"agreement on 1024 codes: max |ours - original| over the matrices = {diff:.2e}")
    return original, notes, stubbed


def _print_report(args: argparse.Namespace, results: dict, notes: list[str]) -> dict:
    """Markdown on stdout; returns the target checks per model."""
    where = f"{torch.get_num_threads()} threads, {_cpu_name()}" if args.device == "cpu" else args.device
    print(f"\n# Sampling throughput (float32, {where}, {args.clock} clock, torch {torch.__version__})\n")
    print("'decode' times model.decode(z) on fixed codes (no_grad); 'sample()' adds drawing z from a seed.")
    for note in notes:
        print(f"- {note}")
    all_checks = {}
    for name, rows in results.items():
        what = "" if name == "v1" else " (the original v2 is not on PyPI: no original column)"
        print(f"\n## {name} fixture{what}\n")
        print(table(rows))
        print("\nmedian per call (steadiness on a shared machine):\n")
        print(table(rows, median=True))
        print()
        all_checks[name] = check_targets(rows)
        for c in all_checks[name]:
            print(f"- {c['what']}: {c['value']:.2f} (target {c['target']}) {'OK' if c['ok'] else 'MISSED'}")
    return all_checks


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not V1_FIXTURE.is_dir():
        print(f"skipping: the VPoser fixtures are not at {FIXTURES} (../shared/fixtures relative to the repo)")
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("skipping: --device cuda but torch sees no CUDA device")
        return 0
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    timing = Timing(CLOCKS[args.clock], device)
    start, load_before = time.perf_counter(), _load_average()

    models = {"v1": vposer.load_model(V1_FIXTURE).to(device)}
    if V2_FIXTURE.is_dir():
        models["v2"] = vposer.load_model(V2_FIXTURE).to(device)
    else:
        print(f"note: no v2 fixture at {V2_FIXTURE}; v2 skipped")
    original, notes, stubbed = (None, [], []) if args.no_original else _start_original(args, models["v1"])
    onnx, onnx_tmp = {}, None
    if not args.no_onnx and args.device == "cpu":
        onnx, onnx_notes, onnx_tmp = _onnx_sampling.start(models, torch.get_num_threads())
        notes += onnx_notes
    results: dict = {}
    try:
        for name, model in models.items():
            results[name] = bench_model(name, model, original if name == "v1" else None,
                                        QUICK_PLAN if args.quick else PLAN, timing, onnx.get(name))
    finally:
        if original is not None:
            original.close()
        if onnx_tmp is not None:
            onnx_tmp.cleanup()

    checks = _print_report(args, results, notes)
    elapsed, load = time.perf_counter() - start, _load_average()
    print(f"\n(total {elapsed:.0f} s; load average {load_before} before, {load} after, on "
          f"{os.cpu_count()} CPUs: the higher, the noisier the absolute figures)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "benchmark": "sampling",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__, "device": args.device, "threads": torch.get_num_threads(),
        "clock": args.clock, "cpu": _cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "quick": args.quick, "load_average_before": load_before, "load_average_after": load,
        "original": original.info if original is not None else None, "stubbed_modules": stubbed,
        "notes": notes, "results": results, "targets": checks, "elapsed_s": elapsed,
    }, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
