"""Running a generation: plan the shards, check what exists, produce the rest in parallel.

Parallelism is an ``concurrent.futures.Executor``: by default a ``ProcessPoolExecutor`` over the
``spawn`` start method (one process per core with 1 torch thread each, or one per GPU), or any
executor with the same interface, e.g. Dask's (:mod:`vposer.generate.dask_launcher`). With one
worker and no executor, shards are made in this process (with the same thread count, so the
bytes are the same). The manifest is merged as shards finish (at most every
``MANIFEST_INTERVAL`` seconds, and always at the end, also after an error or an interrupt).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable

import torch

from ..errors import InputError, VPoserError
from .errors import GenerateError, OutputError, output_error
from .manifest import MANIFEST, existing_records, merge_shards, new_manifest, verify
from .plausibility import CALIBRATION_SIZE, array_digest, resolve_score, threshold
from .sampling import decode, draw_latent
from .settings import GenerateSettings, parse_shard_range, shard_generator
from .worker import ShardJob, ShardResult, init_worker, prime_model, produce_shard, torch_threads
if TYPE_CHECKING:
    from ..model import VPoser


MANIFEST_INTERVAL = 2.0
#: settings the runner derives (compared like the others, but taken from an existing manifest).
DERIVED = ("plausibility",)


@dataclass
class Options:
    """How to run (none of this changes the shards' content, except ``device`` and ``threads``
    in the last bits of floats)."""

    out: str | os.PathLike
    model_path: str | None = None
    device: str = "cpu"
    workers: int | str = 1
    threads: int = 1
    shards: str | None = None
    resume: bool = False
    progress: bool = True
    manifest: str = MANIFEST
    body_path: str | None = None
    mix_path: str | None = None
    reference_path: str | None = None
    executor: Executor | None = None


@dataclass
class Summary:
    """What a run did."""

    out: Path
    manifest: Path
    shards_total: int
    selected: tuple[int, int]
    generated: list[int] = field(default_factory=list)
    verified: list[int] = field(default_factory=list)
    damaged: dict[int, str] = field(default_factory=dict)
    samples: int = 0
    drawn: int = 0
    bytes: int = 0
    seconds: float = 0.0
    shard_seconds: float = 0.0
    setup_seconds: float = 0.0
    complete: bool = False

    def lines(self) -> list[str]:
        rate = self.samples / self.seconds if self.seconds > 0 else float("nan")
        a, b = self.selected
        out = [(f"shards {a}:{b} of {self.shards_total}: {len(self.generated)} generated, "
                f"{len(self.verified)} verified and kept")]
        if self.damaged:
            first = min(self.damaged)
            out.append(f"{len(self.damaged)} were damaged or unrecorded and made again "
                       f"(first: shard {first}, {self.damaged[first]})")
        out.append(f"{self.samples:,} samples made, {self.bytes / 1e6:,.1f} MB in {self.seconds:,.1f} s "
                   f"({rate:,.0f} samples/s)")
        if self.drawn > self.samples:
            out.append(f"acceptance: {self.samples / self.drawn:.1%} of {self.drawn:,} drawn model samples")
        out.append(f"manifest: {self.manifest} ({'complete' if self.complete else 'partial'})")
        return out


def resolve_workers(workers: int | str, device: str, jobs: int) -> int:
    """``'auto'``: one per usable core on the CPU, one per GPU on CUDA; never more than jobs."""
    if workers == "auto":
        if device.startswith("cuda"):
            n = torch.cuda.device_count() if device == "cuda" else 1
        else:
            n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    else:
        n = int(workers)
        if n < 1:
            raise InputError(f"--workers must be >= 1 or 'auto', got {workers}")
    return max(1, min(n, max(jobs, 1)))


def model_record(model: VPoser) -> dict[str, Any]:
    from ..posefiles import model_fingerprint

    return {"sha256": model_fingerprint(model), "architecture": model.config.architecture,
            "latent_dim": model.latent_dim}


def resolve_settings(settings: GenerateSettings, model: VPoser, opts: Options,
                     existing: dict[str, Any] | None) -> GenerateSettings:
    """Fill in the digests of the inputs (user poses, reference, body) and the rejection
    threshold (calibrated here, or taken from an existing manifest)."""
    from ..posefiles import load_poses

    changes: dict[str, Any] = {}
    if settings.mix_ratio > 0:
        if not opts.mix_path:
            raise InputError("--mix-ratio needs --mix-poses FILE")
        user = load_poses(opts.mix_path)
        if len(user) == 0:
            raise InputError("no poses to mix in", opts.mix_path)
        changes["mix"] = {"sha256": array_digest(user), "poses": len(user)}
    if settings.needs_body:
        from ..body import load_body
        from .extras import body_digest

        changes["body"] = body_digest(load_body(opts.body_path))
    if settings.needs_render:
        from ..render import gl_available

        ok, why = gl_available()
        if not ok:
            raise InputError(f"--with images needs OpenGL: {why}")
    if settings.reject_quantile is not None:
        reference = load_poses(opts.reference_path) if opts.reference_path else None
        # poses given by the user choose the joint-range score; otherwise the model's likelihood
        name, score = resolve_score(model, reference, "joint-range" if reference is not None else None)
        prior = (existing or {}).get("settings", {}).get("plausibility")
        if prior and prior.get("score") == name:
            changes["plausibility"] = prior
        else:
            gen = shard_generator(settings.seed, -1, "latent")
            with torch.no_grad():
                z = draw_latent(CALIBRATION_SIZE, model.latent_dim, gen, settings, model.latent_prior)
                scores = score(decode(model, z, settings.decode_chunk))
            changes["plausibility"] = {
                "score": name, "threshold": threshold(scores, settings.reject_quantile),
                "calibration_size": CALIBRATION_SIZE,
                "reference_sha256": None if reference is None else array_digest(reference)}
    return settings.replace(**changes) if changes else settings


def _ensure_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, out, "creating the output folder") from None
    if not out.is_dir():
        raise InputError("--out is not a folder", out)


def _clean_temporaries(out: Path, files: Iterable[str]) -> None:
    for name in files:
        for tmp in out.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def plan(settings: GenerateSettings, opts: Options, model: dict[str, Any], out: Path, summary: Summary,
         ) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Which shards of the selected range to make; checks existing manifests and files."""
    records, _ = existing_records(out, model, settings.to_dict())
    a, b = summary.selected
    todo: list[int] = []
    present = [i for i in range(a, b) if i in records or (out / settings.shard_file(i)).exists()]
    if present and not opts.resume:
        raise InputError(
            f"{len(present)} of the requested shards already exist (first: {settings.shard_file(present[0])}): "
            "pass --resume to verify them and make only missing or damaged ones, or use another --out", out)
    from tqdm.auto import tqdm

    for i in tqdm(range(a, b), desc="verifying", unit="shard", disable=not (opts.progress and present)):
        entry = records.get(i)
        problem = "missing" if entry is None else verify(out, entry)
        if problem is None:
            summary.verified.append(i)
            continue
        if problem != "missing" or (out / settings.shard_file(i)).exists():
            summary.damaged[i] = problem if entry is not None else "not in the manifest"
        todo.append(i)
    return todo, records


def generate(settings: GenerateSettings, opts: Options, model: VPoser | None = None) -> Summary:
    """Produce the selected shards of a dataset (see the package docstring).

    Args:
        settings: what to generate.
        opts: where and how.
        model: the loaded model (default: ``load_model(opts.model_path)``), used for the
            fingerprint, the calibration of ``--reject-implausible`` and ``--workers 1``.

    Returns:
        A :class:`Summary`; the manifest is in ``opts.out``.

    Raises:
        InputError: bad options, or the folder holds a dataset made with other settings.
        OutputError: a shard or the manifest cannot be written; finished shards stay valid.
    """
    from ..checkpoints import load_model

    t0 = time.perf_counter()
    if torch.device(opts.device).type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no CUDA device here")
    out = Path(opts.out)
    _ensure_dir(out)
    if model is None:
        model = load_model(opts.model_path)
    mrec = model_record(model)
    prime_model(model, opts.model_path, mrec["sha256"], opts.device)
    with torch.no_grad():
        _, existing = existing_records(out, mrec, settings.to_dict(), ignore=DERIVED)
        with torch_threads(opts.threads):
            settings = resolve_settings(settings, model, opts, existing)
    summary = Summary(out, out / opts.manifest, settings.num_shards,
                      parse_shard_range(opts.shards, settings.num_shards))
    todo, records = plan(settings, opts, mrec, out, summary)
    env = {"device_type": torch.device(opts.device).type, "threads_per_worker": opts.threads,
           "torch": torch.__version__.split("+")[0]}
    base = new_manifest(mrec, settings.to_dict(), env)
    if existing and existing.get("environment") != env:
        print(f"note: shards already there were made with {existing.get('environment')}; now {env}: "
              "shards stay valid but may differ in the last bits from a run in one environment",
              file=sys.stderr)
    _clean_temporaries(out, (settings.shard_file(i) for i in todo))
    jobs = [ShardJob(i, settings.shard_count(i), str(out.resolve()), settings.shard_file(i), settings,
                     opts.model_path, mrec["sha256"], opts.device, opts.threads, opts.body_path,
                     opts.mix_path, opts.reference_path) for i in todo]
    kept = {i: records[i] for i in summary.verified}  # also from manifest parts: into this manifest
    try:
        _run_jobs(jobs, opts, base, summary, kept)
    finally:
        summary.seconds = time.perf_counter() - t0
    return summary


def _executor(opts: Options, workers: int, settings: GenerateSettings) -> Executor:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = None
    if opts.device == "cuda":
        queue = ctx.Queue()
        for k in range(workers):
            queue.put(f"cuda:{k % max(torch.cuda.device_count(), 1)}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gl_threads = max(1, cores // workers) if settings.needs_render else None
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                               initargs=(queue, opts.threads, gl_threads))


def _run_jobs(jobs: list[ShardJob], opts: Options, base: dict[str, Any], summary: Summary,
              kept: dict[int, dict[str, Any]]) -> None:
    """Run the jobs, record results in the manifest as they finish (with the ``kept`` records of
    verified shards), raise the first error after recording everything that did finish."""
    from tqdm.auto import tqdm

    path = summary.manifest
    done: dict[int, dict[str, Any]] = dict(kept)
    last_write = [time.monotonic()]
    bar = tqdm(total=sum(j.count for j in jobs), desc="generating", unit="pose", unit_scale=True,
               disable=not opts.progress or not jobs, smoothing=0.1)

    def record(result: ShardResult) -> None:
        done[result.index] = result.entry()
        summary.generated.append(result.index)
        summary.samples += result.count
        summary.drawn += result.drawn
        summary.bytes += result.bytes
        summary.shard_seconds += result.seconds
        summary.setup_seconds += result.setup_seconds
        bar.update(result.count)
        bar.set_postfix(shards=f"{len(summary.generated)}/{len(jobs)}", refresh=False)
        if time.monotonic() - last_write[0] >= MANIFEST_INTERVAL:
            merge_shards(path, base, done)
            last_write[0] = time.monotonic()

    error: BaseException | None = None
    try:
        workers = resolve_workers(opts.workers, opts.device, len(jobs))
        if opts.executor is None and workers == 1:
            for job in jobs:
                record(produce_shard(job))
        elif jobs:
            error = _run_parallel(jobs, opts.executor or _executor(opts, workers, jobs[0].settings),
                                  opts.executor is None, record,
                                  lambda: merge_shards(path, base, done))
    except BaseException as exc:  # interrupted, or an error in this process: record, then re-raise
        error = exc
    finally:
        bar.close()
        doc = merge_shards(path, base, done)
        summary.complete = doc["complete"]
    if error is not None:
        _raise_with_context(error, summary)


def _run_parallel(jobs, executor: Executor, own: bool, record, flush) -> BaseException | None:
    """Submit all jobs; on the first failure cancel what has not started, keep what finishes.

    Interrupted (Ctrl-C, SIGTERM): shards not started are cancelled; those already finished are
    recorded and the manifest written at once (``flush``), then each shard still running is
    recorded as it completes, so no finished work is lost even if the process is killed while
    it waits (a second Ctrl-C stops waiting)."""
    error: BaseException | None = None
    pending: set[Future] = set()
    handled: set[Future] = set()
    try:
        pending = {executor.submit(produce_shard, job) for job in jobs}
        submitted = set(pending)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                handled.add(fut)
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is None:
                    record(fut.result())
                elif error is None:
                    error = exc
                    for other in pending:
                        other.cancel()
    except BaseException as exc:
        error = error or exc
        for other in pending:
            other.cancel()
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            left = [f for f in submitted - handled if not f.cancelled()]
            for fut in sorted(left, key=lambda f: not f.done()):  # finished ones first
                if not fut.done():
                    flush()
                try:
                    result = fut.result()
                except BaseException:  # noqa: BLE001 (a failed shard is simply not recorded)
                    continue
                record(result)
            flush()
    finally:
        if own:
            executor.shutdown(wait=error is None or not isinstance(error, KeyboardInterrupt), cancel_futures=True)
    return error


def _raise_with_context(error: BaseException, summary: Summary) -> None:
    kept = (f"{len(summary.verified) + len(summary.generated)} finished shards are valid and "
            f"recorded in {summary.manifest}")
    if isinstance(error, OutputError):
        raise OutputError(f"{error.problem}; {kept}; rerun with --resume", error.path) from None
    if isinstance(error, VPoserError):
        raise error
    if isinstance(error, OSError):
        raise output_error(error, summary.out, "generating", f"{kept}; rerun with --resume") from None
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        raise error
    raise GenerateError(f"{type(error).__name__}: {error}; {kept}; rerun with --resume") from error
