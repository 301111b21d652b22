"""``vposer prepare``: an AMASS tree to prepared splits, streaming, parallel, deterministic.

Takes are visited in sorted path order; each is read, subsampled and de-duplicated by a worker
(a pure function of the file), and the results are written back in that same order, with at most
a few takes in flight. The output therefore does not depend on the number of workers, memory
stays bounded by a few takes, and a restarted run rebuilds the same bytes.
"""
from __future__ import annotations

import sys
from collections import deque
from itertools import islice
from pathlib import Path
from collections.abc import Mapping
from typing import Any
from collections.abc import Callable, Iterable, Iterator, Sequence

from ..errors import InputError
from . import amass
from .prepared import FORMAT_VERSION, SplitWriter, atomic_output_dir, write_json_atomic
from .select import dedup_indices, subsample_indices
from .summaries import PrepareSummary
from .._types import PathLike


__all__ = ["prepare_amass", "ordered_map", "process_take", "format_summary"]


def process_take(root: str, rel: str, target_fps: float, dedup: float) -> dict[str, Any]:
    """Read, subsample and de-duplicate one take (run in a worker).

    Returns a dict with ``rel``, ``ok``; when ok: ``fps``, ``model``, ``source`` (frames in the
    file), ``subsampled`` (after subsampling), ``frames`` (kept source indices, int64),
    ``pose_body`` (n, 63) and ``root_orient`` (n, 3) float32; else ``reason``.
    """
    try:
        take = amass.read_take(Path(root, rel))
    except amass.TakeError as exc:  # the file is named by rel; the reason alone
        return {"rel": rel, "ok": False, "reason": exc.problem}
    except Exception as exc:  # never let one file stop the run; it is reported
        return {"rel": rel, "ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    idx = subsample_indices(len(take.pose_body), take.fps, target_fps)
    keep = idx[dedup_indices(take.pose_body[idx], dedup)]
    return {"rel": rel, "ok": True, "fps": take.fps, "model": take.model,
            "source": len(take.pose_body), "subsampled": len(idx), "frames": keep,
            "pose_body": take.pose_body[keep], "root_orient": take.root_orient[keep]}


def ordered_map(fn: Callable[..., Any], jobs: Iterable[Sequence[Any]], workers: int = 1,
                ahead: int = 2) -> Iterator[Any]:
    """``fn(*job)`` for each job, results yielded in job order.

    With ``workers > 1`` a process pool runs them, at most ``ahead * workers`` in flight, so
    memory stays bounded whatever the number of jobs.
    """
    jobs = iter(jobs)
    if workers <= 1:
        for job in jobs:
            yield fn(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = deque(pool.submit(fn, *job) for job in islice(jobs, ahead * workers))
        while pending:
            result = pending.popleft().result()
            nxt = next(jobs, None)
            if nxt is not None:
                pending.append(pool.submit(fn, *nxt))
            yield result


def _count(table: dict[str, Any], key: str, res: dict[str, Any]) -> None:
    row = table.setdefault(key, {"files": 0, "frames_source": 0, "frames_subsampled": 0,
                                 "frames": 0})
    row["files"] += 1
    row["frames_source"] += res["source"]
    row["frames_subsampled"] += res["subsampled"]
    row["frames"] += len(res["frames"])


def prepare_amass(root: PathLike, out: PathLike, recipe: str | amass.SplitRecipe = "v2",
                  target_fps: float = 30.0, dedup_threshold: float = 0.0, workers: int = 1,
                  progress: bool | None = None, log: Callable[[str], None] | None = None
                  ) -> PrepareSummary:
    """Prepare an AMASS tree; returns the summary also written to ``out/summary.json`` (a
    :class:`~vposer.data.summaries.PrepareSummary`).

    Args:
        root: the AMASS root (``<dataset>/<subject>/*.npz``).
        out: the output directory (replaced atomically if it is a prepared directory).
        recipe: ``'v2'``, ``'v1'``, a YAML path or a :class:`~vposer.data.amass.SplitRecipe`.
        target_fps: subsampling rate (``<= 0`` keeps all frames).
        dedup_threshold: radians; near-duplicate removal within each take (``<= 0``: off).
        workers: processes (1 = in this process).
        progress: show a tqdm bar (None: when stderr is a terminal).
        log: where warnings go (default: stderr).
    """
    from .._version import __version__

    log = log or (lambda msg: print(msg, file=sys.stderr))
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a directory", root)
    if not isinstance(recipe, amass.SplitRecipe):
        recipe = amass.load_recipe(recipe)
    takes = amass.find_takes(root)
    if not takes:
        raise InputError("no .npz takes found (expected <dataset>/<subject>/*_poses.npz)", root)
    jobs, unused = [], {}
    for rel in takes:
        dataset, subject = amass.dataset_and_subject(rel)
        split = recipe.assign(dataset, subject)
        if split is None:
            unused[dataset] = unused.get(dataset, 0) + 1
        else:
            jobs.append((rel, dataset, subject, split))

    per_split: dict[str, dict[str, Any]] = {}
    per_dataset: dict[str, dict[str, Any]] = {}
    skipped: list[dict[str, str]] = []
    with atomic_output_dir(out) as tmp:
        writers = {name: SplitWriter(tmp / name) for name in recipe.splits}
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="file", desc="prepare", disable=_no_bar(progress))
        args = ((str(root), rel.as_posix(), float(target_fps), float(dedup_threshold))
                for rel, *_ in jobs)
        for (rel, dataset, subject, split), res in zip(jobs, ordered_map(process_take, args, workers),
                                                        strict=True):
            bar.update(1)
            if not res["ok"]:
                skipped.append({"path": rel.as_posix(), "reason": res["reason"]})
                log(f"warning: skipped {root / rel}: {res['reason']}")
                continue
            entry = {"path": rel.as_posix(), "dataset": dataset, "subject": subject,
                     "fps": res["fps"], "frames": res["source"], "model": res["model"]}
            writers[split].add(entry, res["pose_body"], res["root_orient"], res["frames"])
            _count(per_split, split, res)
            _count(per_dataset.setdefault(dataset, {}), split, res)
        bar.close()
        for writer in writers.values():
            writer.close()
        summary = PrepareSummary(
            format_version=FORMAT_VERSION,
            vposer_version=__version__,
            kind="amass",
            source=str(root.resolve()),
            settings={"recipe": recipe.to_json(), "target_fps": target_fps,
                      "dedup_threshold_rad": dedup_threshold},
            splits={name: per_split.get(name, _empty()) for name in recipe.splits},
            datasets=per_dataset,
            unused_files=unused,
            skipped=skipped,
        )
        write_json_atomic(tmp / "summary.json", summary.to_json())
    return summary


def _empty() -> dict[str, int]:
    return {"files": 0, "frames_source": 0, "frames_subsampled": 0, "frames": 0}


def _no_bar(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def format_summary(summary: Mapping[str, Any]) -> str:
    """A plain-text table of frames per dataset and split (before and after)."""
    lines = [f"{'dataset':<20} {'split':<8} {'files':>6} {'source':>11} {'subsampled':>11} "
             f"{'kept':>11}"]
    for dataset in sorted(summary["datasets"]):
        for split, row in sorted(summary["datasets"][dataset].items()):
            lines.append(f"{dataset:<20} {split:<8} {row['files']:>6} {row['frames_source']:>11} "
                         f"{row['frames_subsampled']:>11} {row['frames']:>11}")
    lines.append("-" * len(lines[0]))
    for split, row in summary["splits"].items():
        lines.append(f"{'total':<20} {split:<8} {row['files']:>6} {row['frames_source']:>11} "
                     f"{row['frames_subsampled']:>11} {row['frames']:>11}")
    for dataset, count in sorted(summary.get("unused_files", {}).items()):
        lines.append(f"not in any split: {dataset or '(root)'} ({count} files)")
    if summary.get("skipped"):
        lines.append(f"skipped {len(summary['skipped'])} unreadable or foreign files "
                     "(listed in summary.json)")
    return "\n".join(lines)
