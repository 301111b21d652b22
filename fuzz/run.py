"""Fuzz vposer's file readers: every damaged input must give a one-line package error.

Usage (from the repository root; ``pip install atheris`` for coverage-guided runs)::

    python fuzz/run.py --list                              # the targets
    python fuzz/run.py bvh --seconds 600                   # one target, 10 minutes
    python fuzz/run.py --all --seconds 1800 --jobs 2       # every target 30 min, two at a time
    python fuzz/run.py --all --seconds 2 --engine mutate --max-inputs 400 --seed 0   # CI smoke
    python fuzz/run.py --replay                            # the regression corpus, once
    python fuzz/run.py --table                             # the README's table, from the log

Each target runs in a worker process (:mod:`fuzz.worker`) under the contract of
:mod:`fuzz.contract`; an input that breaks it is saved under ``tests/fuzz_regressions/<target>/``
(one per distinct break), which ``tests/test_fuzz_regressions.py`` replays. A worker that dies (a
crash, or stuck past ``--hang-seconds`` on one input) has its last input saved as a ``crash`` or
``hang`` and is restarted for the time left. Every run appends one JSON line per target to
``fuzz/campaign.jsonl``: date, target, engine, seconds, inputs tried, inputs per second, breaks.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LOG = REPO / "fuzz" / "campaign.jsonl"
WORK = REPO / "fuzz" / ".work"
FINDINGS = REPO / "tests" / "fuzz_regressions"


def _engine_default() -> str:
    import importlib.util

    return "atheris" if importlib.util.find_spec("atheris") else "mutate"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, text=True, capture_output=True, timeout=10).stdout
        return head + ("+changes" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _snapshot(folder: Path) -> dict[str, float]:
    """Files directly in ``folder`` and their modification times (a cheap write check)."""
    try:
        return {p.name: p.stat().st_mtime for p in folder.iterdir() if p.name != ".git"}
    except OSError:
        return {}


class Job:
    """One worker process: a list of targets (mutate) or one target (atheris)."""

    def __init__(self, targets: list[str], seconds: float, args: argparse.Namespace, n: int):
        self.targets, self.seconds, self.args = targets, seconds, args
        self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{n}"
        self.log_path = Path(args.work) / "logs" / f"{self.run_id}.log"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> None:
        a = self.args
        cmd = [sys.executable, "-m", "fuzz.worker", "--targets", ",".join(self.targets),
               "--engine", a.engine, "--seconds", str(self.seconds), "--seed", str(a.seed),
               "--findings", str(a.findings), "--work", str(a.work), "--run-id", self.run_id,
               "--time-limit", str(a.time_limit), "--hang-seconds", str(a.hang_seconds),
               "--memory-mb", str(a.memory_mb)]
        if a.max_inputs:
            cmd += ["--max-inputs", str(a.max_inputs)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.log = open(self.log_path, "w")
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)

    def stats(self) -> list[dict[str, Any]]:
        out = []
        for target in self.targets:
            path = Path(self.args.work) / "stats" / f"{self.run_id}-{target}.json"
            if path.is_file():
                out.append(json.loads(path.read_text()))
        return out


def _worker_died(job: Job, rc: int) -> dict[str, Any] | None:
    """Save the input a dead worker was reading as a ``crash``/``hang`` break."""
    from fuzz.contract import input_id, signature_id
    from fuzz.targets import TARGETS

    stats = {s["target"]: s for s in job.stats()}
    unfinished = [t for t in job.targets if not stats.get(t, {}).get("done")]
    if not unfinished:
        return None
    target = unfinished[0]
    current = Path(job.args.work) / "current" / f"{target}.bin"
    text = job.log_path.read_text(errors="replace")[-4000:]
    kind = "hang" if "Timeout (" in text or "timeout" in text.lower() else "crash"
    if not current.is_file():
        return None
    data = current.read_bytes()
    signature = f"{kind}:{target}:rc={rc}"
    name = f"{kind}-{signature_id(signature)}-{input_id(data)}{TARGETS[target].suffix}"
    folder = Path(job.args.findings) / target
    folder.mkdir(parents=True, exist_ok=True)
    if not any(p.name.startswith(f"{kind}-{signature_id(signature)}-") for p in folder.iterdir()):
        (folder / name).write_bytes(data)
    print(f"fuzz {target}: BREAK the worker died ({kind}, exit {rc}); input saved as "
          f"{folder / name}; log {job.log_path}", flush=True)
    return {"target": target, "kind": kind, "signature": signature, "file": str(folder / name),
            "detail": text[-300:]}


def _libfuzzer_totals(log: Path) -> tuple | None:
    """``(runs, seconds)`` from libFuzzer's last line ("Done N runs in S second(s)")."""
    import re

    found = re.findall(r"Done (\d+) runs in (\d+) second", log.read_text(errors="replace"))
    return (int(found[-1][0]), float(found[-1][1])) if found else None


def _record(job: Job, records: list[dict[str, Any]], died: dict[str, Any] | None) -> None:
    a = job.args
    for s in job.stats():
        breaks = list(s.get("breaks", []))
        if died and died["target"] == s["target"]:
            breaks.append({k: v for k, v in died.items() if k != "target"})
        seconds = float(s.get("seconds", 0))
        totals = _libfuzzer_totals(job.log_path) if a.engine == "atheris" else None
        if totals and totals[0] >= s.get("inputs", 0):  # the stats lag by up to a second
            s["inputs"], seconds = totals[0], max(seconds, totals[1])
        rec = {"date": s.get("started"), "target": s["target"], "engine": s.get("engine"),
               "seconds": round(seconds, 1), "inputs": s.get("inputs", 0),
               "inputs_per_s": round(s.get("inputs", 0) / seconds, 1) if seconds else 0.0,
               "outcomes": s.get("outcomes", {}), "breaks": breaks, "seed": s.get("seed"),
               "time_limit_s": s.get("time_limit_s"), "memory_limit_mb": s.get("memory_limit_mb"),
               "cpu": _cpu(), "cores": len(os.sched_getaffinity(0)), "jobs": a.jobs,
               "python": platform.python_version(), "commit": a.commit}
        records.append(rec)
        if a.log:
            with open(a.log, "a") as fh:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
        print(f"fuzz {s['target']}: {rec['inputs']} inputs in {rec['seconds']:.0f} s "
              f"({rec['inputs_per_s']:.1f}/s), outcomes {rec['outcomes']}, "
              f"{len(breaks)} new break(s)", flush=True)


def campaign(args: argparse.Namespace, names: list[str]) -> int:
    """Run the targets; returns the number of breaks found."""
    home, repo_files = Path.home(), REPO
    before = (_snapshot(home), _snapshot(repo_files))
    if args.engine == "atheris":
        plan = [([name], args.seconds) for name in names]
    else:  # mutate: share the imports, the targets dealt round-robin over the jobs
        groups = [names[k::args.jobs] for k in range(min(args.jobs, len(names)))]
        plan = [(group, args.seconds) for group in groups]
    pending = [Job(targets, seconds, args, k) for k, (targets, seconds) in enumerate(plan)]
    running: list[Job] = []
    records: list[dict[str, Any]] = []
    restarts: dict[str, int] = {}
    n = len(pending)
    while pending or running:
        while pending and len(running) < args.jobs:
            job = pending.pop(0)
            job.start()
            running.append(job)
        time.sleep(0.2)
        for job in list(running):
            rc = job.proc.poll()
            if rc is None:
                continue
            running.remove(job)
            job.log.close()
            died = _worker_died(job, rc) if rc != 0 else None
            _record(job, records, died)
            if rc != 0:
                print(f"fuzz: worker exited {rc}; see {job.log_path}", flush=True)
                done = {s["target"] for s in job.stats() if s.get("done")}
                left = [t for t in job.targets if t not in done]
                used = time.time() - job.started
                for target in left:
                    restarts[target] = restarts.get(target, 0) + 1
                    remaining = job.seconds - used if target == left[0] else job.seconds
                    if restarts[target] <= 3 and remaining > 5:
                        n += 1
                        pending.append(Job([target], remaining, args, n))
    after = (_snapshot(home), _snapshot(repo_files))
    for where, old, new in (("home", before[0], after[0]), ("repository", before[1], after[1])):
        changed = sorted(k for k in new if old.get(k) != new[k]) + sorted(set(old) - set(new))
        if changed:
            print(f"fuzz: note: the {where} folder changed during the run: {changed[:10]} "
                  "(other processes may have done it; the audit hook saw no reader write there)")
    total = sum(len(r["breaks"]) for r in records)
    print(f"fuzz: {len(records)} target run(s), {sum(r['inputs'] for r in records)} inputs, "
          f"{total} new break(s)")
    return total


def replay(folder: Path, names: list[str] | None = None) -> int:
    """Run every input of the regression corpus once; returns the number still breaking."""
    from fuzz.contract import Sandbox, run_one
    from fuzz.targets import TARGETS

    failures = 0
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in TARGETS or (names and sub.name not in names):
            continue
        box = Sandbox(TARGETS[sub.name])
        try:
            for path in sorted(p for p in sub.iterdir() if p.is_file()):
                outcome = run_one(TARGETS[sub.name], path.read_bytes(), box)
                status = "BREAKS" if outcome.broken else outcome.kind
                failures += outcome.broken
                print(f"{sub.name}/{path.name}: {status} {outcome.detail[:160]}")
        finally:
            box.cleanup()
    print(f"replay: {failures} input(s) still break the contract")
    return failures


def _corpus_status(findings: Path) -> dict[str, tuple]:
    """Per target: (inputs in the regression corpus, how many now keep the contract)."""
    from fuzz.contract import Sandbox, run_one
    from fuzz.targets import TARGETS, available

    out = {}
    for name, target in TARGETS.items():
        files = sorted(p for p in (findings / name).glob("*") if p.is_file())
        if not files or available(name):
            out[name] = (len(files), None if files else 0)
            continue
        box = Sandbox(target, guard=False)
        try:
            out[name] = (len(files), sum(not run_one(target, p.read_bytes(), box).broken
                                         for p in files))
        finally:
            box.cleanup()
    return out


def _rate(rates: list[float]) -> str:
    if not rates:
        return "-"
    lo, hi = min(rates), max(rates)
    return f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}"


def table(log: Path, findings: Path) -> str:
    """The README's table: per target, totals over every run in the log, and the regression
    corpus (inputs kept, inputs that keep the contract now)."""
    from fuzz.targets import TARGETS

    rows: dict[str, dict[str, Any]] = {}
    for line in log.read_text().splitlines() if log.is_file() else []:
        rec = json.loads(line)
        row = rows.setdefault(rec["target"], {"seconds": 0.0, "inputs": 0,
                                              "rates": {"mutate": [], "atheris": []}})
        row["seconds"] += rec["seconds"]
        row["inputs"] += rec["inputs"]
        if rec["seconds"] >= 10:  # shorter runs time mostly their start
            row["rates"].setdefault(rec["engine"], []).append(rec["inputs_per_s"])
    status = _corpus_status(findings)
    lines = ["| target | reader | inputs/s, mutate | inputs/s, atheris | time fuzzed | "
             "inputs tried | breaks found / fixed |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, t in TARGETS.items():
        row = rows.get(name, {"seconds": 0.0, "inputs": 0, "rates": {}})
        found, fixed = status[name]
        lines.append(f"| `{name}` | {t.reader} | {_rate(row['rates'].get('mutate', []))} | "
                     f"{_rate(row['rates'].get('atheris', []))} | "
                     f"{row['seconds'] / 60:.1f} min | {row['inputs']:,} | "
                     f"{found} / {'?' if fixed is None else fixed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from fuzz.targets import TARGETS, available

    parser = argparse.ArgumentParser(
        prog="python fuzz/run.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="target names (see --list)")
    parser.add_argument("--all", action="store_true", help="every target")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--seconds", type=float, default=60, help="per target (default 60)")
    parser.add_argument("--max-inputs", type=int, default=0,
                        help="stop a target after this many inputs (mutate engine)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes at a time")
    parser.add_argument("--engine", choices=("atheris", "mutate"), default=None,
                        help="atheris (coverage-guided, libFuzzer; the default when installed) "
                        "or mutate (random mutations, pure Python)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--time-limit", type=float, default=5.0,
                        help="CPU seconds one input may take (default 5)")
    parser.add_argument("--hang-seconds", type=float, default=60.0,
                        help="wall seconds on one input before the worker is killed (default 60)")
    parser.add_argument("--memory-mb", type=int, default=2048,
                        help="memory one input may add to the process (RLIMIT_AS; default 2048)")
    parser.add_argument("--findings", type=Path, default=FINDINGS,
                        help="where breaking inputs go (default tests/fuzz_regressions)")
    parser.add_argument("--work", type=Path, default=WORK,
                        help="corpora, logs, stats (default fuzz/.work, not committed)")
    parser.add_argument("--log", type=Path, default=LOG, help="the JSON-lines campaign log")
    parser.add_argument("--no-log", action="store_const", const=None, dest="log",
                        help="do not append to the campaign log")
    parser.add_argument("--replay", action="store_true",
                        help="run the regression corpus (--findings) once and exit")
    parser.add_argument("--table", action="store_true",
                        help="print the README's table from the log and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, t in TARGETS.items():
            missing = available(name)
            print(f"{name:22s} {t.reader}" + (f"  [needs {missing}]" if missing else ""))
        return 0
    if args.table:
        print(table(args.log or LOG, args.findings))
        return 0
    names = list(TARGETS) if args.all else args.targets
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; see --list")
    if args.replay:
        return 1 if replay(args.findings, names or None) else 0
    if not names:
        parser.error("name targets or give --all")
    skipped = [n for n in names if available(n)]
    for n in skipped:
        print(f"fuzz {n}: skipped (needs {available(n)})")
    names = [n for n in names if n not in skipped]
    args.engine = args.engine or _engine_default()
    args.jobs = max(1, args.jobs)
    args.commit = _commit()
    args.work, args.findings = args.work.resolve(), args.findings.resolve()
    return 1 if campaign(args, names) else 0


if __name__ == "__main__":
    sys.exit(main())
