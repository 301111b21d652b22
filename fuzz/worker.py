"""One fuzzing process: runs targets under the contract and writes what it saw.

Started by :mod:`fuzz.run` (``python -m fuzz.worker ...``), never by hand. It

- imports the package (instrumented for coverage under ``--engine atheris``), builds the seeds;
- caps its address space (``RLIMIT_AS``: its size after the imports plus ``--memory-mb``);
- runs each input in a :class:`fuzz.contract.Sandbox`, with a per-input CPU timer and a
  wall-clock watchdog (``faulthandler``: the process exits after ``--hang-seconds`` on one input,
  even inside C code; the input it was reading is in ``current/<target>.bin``);
- saves every input that breaks the contract, one per distinct break and run, into ``--findings``
  (``<target>/<kind>-<signature id>-<input id><suffix>``; a break whose signature is already
  there, all of which are fixed, has a new cause and is saved too), with its traceback beside it under
  ``--work``; and keeps its counts in ``--work``/``stats/<run>-<target>.json`` (rewritten every
  second, so a process that dies still leaves them).
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Modules instrumented for coverage under atheris (the package, and the pure-Python parsers
#: the readers drive).
INSTRUMENTED = ["vposer", "yaml", "zipfile", "gzip", "pickle", "json", "safetensors"]


def _import_readers() -> None:
    import vposer  # noqa: F401
    import vposer.body  # noqa: F401
    import vposer.checkpoints  # noqa: F401
    import vposer.data.amass  # noqa: F401
    import vposer.data.amc  # noqa: F401
    import vposer.data.asf  # noqa: F401
    import vposer.data.bvh  # noqa: F401
    import vposer.data.cmu  # noqa: F401
    import vposer.data.deepmimic  # noqa: F401
    import vposer.data.import_recipe  # noqa: F401
    import vposer.data.mapping  # noqa: F401
    import vposer.posefiles  # noqa: F401
    import vposer.runtime  # noqa: F401
    import vposer.train.config  # noqa: F401
    import yaml  # noqa: F401


def _vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def limit_memory(extra_mb: int) -> int:
    """Cap the address space at the current size plus ``extra_mb``; returns the cap (bytes)."""
    cap = _vm_size() + extra_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


class Runner:
    """Runs inputs of one target and keeps the counts, findings and stats file."""

    def __init__(self, target_name: str, args: argparse.Namespace, run_id: str):
        from fuzz.contract import Sandbox
        from fuzz.targets import TARGETS

        self.target = TARGETS[target_name]
        self.args = args
        self.work = Path(args.work)
        self.findings = Path(args.findings) / target_name
        # signatures of the breaks in the findings folder: all fixed (the suite replays them), so
        # one that comes back has a new cause and is saved again, once per run
        self.fixed = self._fixed_signatures()
        self.known: set = set()
        self.box = Sandbox(self.target)
        self.seed_inputs = self.target.seeds()
        self.target.fixed_files()
        self.current = self.work / "current" / f"{target_name}.bin"
        self.current.parent.mkdir(parents=True, exist_ok=True)
        self.stats_path = self.work / "stats" / f"{run_id}-{target_name}.json"
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        self.counts: dict[str, int] = {}
        self.breaks: list[dict[str, Any]] = []
        self.places: set = set()
        self.inputs = 0
        self.start = time.time()
        self.first: float | None = None
        self.last_write = 0.0

    def _fixed_signatures(self) -> set:
        """Signature ids of the breaks in the findings folder (all fixed: the suite replays them)."""
        if not self.findings.is_dir():
            return set()
        return {p.name.split("-")[1] for p in self.findings.iterdir() if p.name.count("-") >= 2}

    def one(self, data: bytes) -> Any:
        from fuzz.contract import input_id, run_one, signature_id

        if self.first is None:
            self.first = time.time()
        with open(self.current, "wb") as fh:
            fh.write(data)
        faulthandler.dump_traceback_later(self.args.hang_seconds, exit=True)
        try:
            outcome = run_one(self.target, data, self.box, self.args.time_limit)
        finally:
            faulthandler.cancel_dump_traceback_later()
        self.inputs += 1
        self.counts[outcome.kind] = self.counts.get(outcome.kind, 0) + 1
        if outcome.broken:
            sid = signature_id(outcome.signature)
            if sid not in self.known:
                self.known.add(sid)
                again = " (the signature of a fixed break, with a new cause)" if sid in self.fixed else ""
                name = f"{outcome.kind}-{sid}-{input_id(data)}{self.target.suffix}"
                self.findings.mkdir(parents=True, exist_ok=True)
                (self.findings / name).write_bytes(data)
                notes = self.work / "findings" / self.target.name
                notes.mkdir(parents=True, exist_ok=True)
                (notes / (name + ".txt")).write_text(
                    f"{outcome.signature}\n{outcome.detail}\n\n{outcome.traceback}")
                self.breaks.append({"kind": outcome.kind, "signature": outcome.signature,
                                    "file": str(self.findings / name),
                                    "detail": outcome.detail[:300], "recurs": bool(again)})
                print(f"fuzz {self.target.name}: BREAK {outcome.signature}{again}\n    "
                      f"{outcome.detail[:300]}\n    saved {self.findings / name}", flush=True)
                self.last_write = 0.0  # record it now
        now = time.time()
        if now - self.last_write > 1.0:
            self.write_stats()
        return outcome

    def elapsed(self) -> float:
        return time.time() - self.first if self.first is not None else 0.0

    def write_stats(self, done: bool = False) -> None:
        self.last_write = time.time()
        doc = {"target": self.target.name, "engine": self.args.engine, "seed": self.args.seed,
               "inputs": self.inputs, "seconds": round(self.elapsed(), 2),
               "outcomes": self.counts, "breaks": self.breaks, "done": done,
               "time_limit_s": self.args.time_limit, "memory_limit_mb": self.args.memory_mb,
               "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.start))}
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.stats_path)


def run_mutate(runner: Runner, seconds: float, max_inputs: int, seed: int) -> None:
    from fuzz.contract import _squash
    from fuzz.mutate import mutate

    rng = random.Random(f"{seed}:{runner.target.name}")
    corpus = list(runner.seed_inputs.values())
    seen: set = set()
    tokens = runner.target.tokens
    deadline = time.time() + seconds
    k = 0
    while time.time() < deadline and (not max_inputs or runner.inputs < max_inputs):
        data = corpus[k] if k < len(corpus) else mutate(rng.choice(corpus), rng, corpus, tokens)
        k += 1
        outcome = runner.one(data)
        # a poor man's feedback: keep an input that was refused for a reason not seen before
        key = outcome.kind + ":" + _squash(outcome.detail)
        if key not in seen and len(corpus) < 1000 and len(data) < (1 << 22):
            seen.add(key)
            if k > len(corpus):
                corpus.append(data)
    runner.write_stats(done=True)


def run_atheris(runner: Runner, seconds: float, seed: int, atheris: Any) -> None:
    work = Path(runner.args.work)
    corpus = work / "corpus" / runner.target.name
    corpus.mkdir(parents=True, exist_ok=True)
    seed_dir = work / "seeds" / runner.target.name
    seed_dir.mkdir(parents=True, exist_ok=True)
    for name, data in runner.seed_inputs.items():
        (seed_dir / name).write_bytes(data)
    biggest = max(len(data) for data in runner.seed_inputs.values())
    artifacts = work / "artifacts" / runner.target.name
    artifacts.mkdir(parents=True, exist_ok=True)

    def test_one_input(data: bytes) -> None:
        runner.one(data)

    argv = [sys.argv[0], str(corpus), str(seed_dir), f"-max_total_time={int(seconds)}",
            f"-seed={seed or 1}", f"-max_len={max(4096, 2 * biggest)}",
            f"-timeout={int(runner.args.hang_seconds) + 30}", "-rss_limit_mb=0",
            "-print_final_stats=1", f"-artifact_prefix={artifacts}/", "-close_fd_mask=0"]
    if runner.target.tokens:
        dictionary = work / "dict" / f"{runner.target.name}.dict"
        dictionary.parent.mkdir(parents=True, exist_ok=True)
        dictionary.write_text("".join(
            '"' + "".join(f"\\x{b:02x}" for b in token) + '"\n'
            for token in runner.target.tokens if len(token) <= 64))
        argv.append(f"-dict={dictionary}")
    atheris.Setup(argv, test_one_input)
    try:
        atheris.Fuzz()
    finally:
        runner.write_stats(done=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", required=True, help="comma-separated target names")
    parser.add_argument("--engine", choices=("atheris", "mutate"), default="mutate")
    parser.add_argument("--seconds", type=float, required=True, help="per target")
    parser.add_argument("--max-inputs", type=int, default=0, help="per target (mutate engine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--findings", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--hang-seconds", type=float, default=60.0)
    parser.add_argument("--memory-mb", type=int, default=2048)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    faulthandler.enable()
    atheris = None
    if args.engine == "atheris":
        import atheris  # type: ignore[import-not-found,no-redef]

        with atheris.instrument_imports(include=INSTRUMENTED):
            _import_readers()
    else:
        _import_readers()
    import torch

    torch.set_num_threads(1)
    from fuzz import contract

    contract.TIME_LIMIT = args.time_limit
    names = args.targets.split(",")
    runners = [Runner(name, args, args.run_id) for name in names]  # seeds: before the cap
    limit_memory(args.memory_mb)
    for runner in runners:
        runner.write_stats()
        if atheris is not None:
            run_atheris(runner, args.seconds, args.seed, atheris)  # never returns
        else:
            run_mutate(runner, args.seconds, args.max_inputs, args.seed)
        runner.box.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
