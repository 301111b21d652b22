"""``vposer import-mocap``: motion capture from several sources retargeted to SMPL body poses, as
one prepared data set (the format of ``vposer prepare``) with a quality report per source.

Steps: find the takes of every source (:mod:`.sources`: the CMU exponential-map set, BVH, ASF/AMC,
DeepMimic JSON; ``.gz`` too), split them by whole take groups (:mod:`.splits`), read and retarget
each take onto the body's skeleton (:mod:`.retarget`), subsample to ``target_fps``, remove
near-duplicate poses across the whole set (:mod:`.dedup`: the test poses are kept as they are;
validation and training poses within the threshold of a test pose, or of a pose kept before
them, are dropped, so no training pose leaks into a test set), and write the splits.

A file that cannot be read is named, skipped and listed in the summary (``strict``: the import
stops instead). The output folder is built aside and renamed into place, so a failed or
interrupted import leaves nothing half-written.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Sequence

import numpy as np

from .._types import PathLike
from ..errors import InputError
from .dedup import dedup_against, near_any, pose_features
from .prepared import FORMAT_VERSION, SplitWriter, atomic_output_dir, write_json_atomic
from .quality import QualityReport, format_quality, frame_errors
from .retarget import Retargeter
from .select import subsample_indices
from .skeleton import SMPL_JOINTS, Skeleton, body_skeleton, forward_kinematics
from .sources import MocapTake, SourceOptions, TakeFile, find_takes, read_take
from .splits import SplitRule, assign_splits
from .summaries import ImportSummary

if TYPE_CHECKING:
    from ..body import BodyModel


__all__ = ["SourceSpec", "import_mocap", "format_report", "format_counts"]

SPLIT_ORDER = ("test", "vald", "train")  # dedup priority: test poses are never dropped


@dataclass
class SourceSpec:
    """One source of an import: where, how to read it and how to split it."""

    path: PathLike
    options: SourceOptions = field(default_factory=SourceOptions)
    rule: SplitRule = field(default_factory=SplitRule)


@dataclass
class _Retargeted:
    """A retargeted, subsampled take held until the splits are written."""

    take: TakeFile
    split: str
    action: str
    fps: float
    frames_source: int
    frames: np.ndarray        # (n,) kept source frame indices
    pose_body: np.ndarray     # (n, 63)
    root_orient: np.ndarray   # (n, 3)


def _as_specs(sources: PathLike | SourceSpec | Sequence[PathLike | SourceSpec],
              options: SourceOptions, rule: SplitRule) -> list[SourceSpec]:
    """Sources as specs (plain paths take ``options`` and ``rule``), with unique names."""
    if isinstance(sources, (str, os.PathLike, SourceSpec)):
        sources = [sources]
    specs = [s if isinstance(s, SourceSpec) else SourceSpec(s, replace(options), replace(rule))
             for s in sources]
    if not specs:
        raise InputError("no sources given")
    names: dict[str, int] = {}
    for spec in specs:  # unique source names: cmu, cmu-2, ...
        path = Path(spec.path)
        base = spec.options.name or (path.name if path.is_dir() else path.name.split(".")[0])
        names[base] = names.get(base, 0) + 1
        spec.options.name = base if names[base] == 1 else f"{base}-{names[base]}"
    return specs


def import_mocap(sources: PathLike | SourceSpec | Sequence[PathLike | SourceSpec],
                 out: PathLike, body: BodyModel | PathLike | None = None, target_fps: float = 30.0,
                 val_takes: float | None = None, test_takes: float | None = None,
                 dedup_threshold: float = 0.0, mapping: dict[str, str] | None = None,
                 split: str = "train", fps: float | None = None,
                 asf: PathLike | None = None, character: PathLike | None = None,
                 strict: bool = False, progress: bool | None = None,
                 log: Callable[[str], None] | None = None) -> ImportSummary:
    """Retarget motion capture to SMPL body poses and write one prepared directory.

    Steps: find the takes of every source, split them by take groups, read and retarget each
    take, remove near-duplicates, write the splits, summarise.

    Args:
        sources: paths (files or folders) and/or :class:`SourceSpec` (per-source settings, as a
            recipe file gives them; the keyword settings below apply to plain paths only).
        out: the output directory (replaced atomically if it is a prepared directory).
        body: the body model whose rest skeleton is the target (None: the open body).
        target_fps: subsampling rate after retargeting (``<= 0``: keep every frame).
        val_takes, test_takes: take groups per stratum (``>= 1``) or fractions (``< 1``) moved
            to ``vald`` / ``test`` (:mod:`.splits`; default none).
        dedup_threshold: radians; near-duplicate removal across the whole set (``<= 0``: off).
        mapping: ``{SMPL joint: source joint}`` for skeletons with other names.
        split: the split of the takes not chosen for ``vald`` / ``test``.
        fps: frame rate overriding the files' own; asf, character: the skeleton file of every
            AMC / DeepMimic file.
        strict: stop at the first unreadable file instead of skipping it.
        progress: tqdm bar (None: when stderr is a terminal); log: where warnings go.

    Returns:
        The summary, an :class:`~vposer.data.summaries.ImportSummary` (also in
        ``out/summary.json``; the quality reports in ``out/quality.json``).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    specs = _as_specs(sources, SourceOptions(None, fps, mapping, asf, character),
                      SplitRule(test=test_takes or 0.0, val=val_takes or 0.0, default=split))
    target = body_skeleton(body)
    skipped: list[dict[str, str]] = []
    takes = _find_all_takes(specs, strict, skipped, log)
    splits, groups = assign_splits(takes, {s.options.name: s.rule for s in specs})
    with atomic_output_dir(out) as tmp:
        run = _retarget_all(takes, splits, {s.options.name: s.options for s in specs}, target,
                            target_fps, strict, skipped, log, progress)
        if not run.results:
            raise InputError("no takes could be read", specs[0].path)
        dedup = _dedup(run.results, dedup_threshold)
        counts = _write_splits(tmp, run.results, dedup["keep"])
        report = {"all": _merged_quality(run.quality), "per_source": {
            name: q.to_json() for name, q in run.quality.items()}}
        take_groups = [[f"{takes[i].source}/{takes[i].rel}" for i in g]
                       for g in groups if len(g) > 1]
        summary = _summary(specs, body, target_fps, dedup_threshold, counts, take_groups, dedup,
                           run, skipped, report)
        write_json_atomic(tmp / "quality.json", report)
        write_json_atomic(tmp / "summary.json", summary.to_json())
    return summary


def _find_all_takes(specs: list[SourceSpec], strict: bool, skipped: list[dict[str, str]],
                    log: Callable[[str], None]) -> list[TakeFile]:
    """Step 1: the takes of every source (unreadable files listed in ``skipped`` unless
    ``strict``)."""
    takes: list[TakeFile] = []
    for spec in specs:
        takes += find_takes(spec.path, spec.options, None if strict else skipped)
    for entry in skipped:
        log(f"warning: skipped {entry['dataset']}/{entry['path']}: {entry['reason']}")
    if not takes:
        raise InputError("no takes could be read", specs[0].path)
    return takes


@dataclass
class _Retargeting:
    """What step 2 gives: the retargeted takes, quality reports per source, and per source and
    skeleton profile the joint mapping (``describe``)."""

    results: list[_Retargeted] = field(default_factory=list)
    quality: dict[str, QualityReport] = field(default_factory=dict)
    describe: dict[str, Any] = field(default_factory=dict)


def _retarget_all(takes: list[TakeFile], splits: Sequence[str], options: dict[str, SourceOptions],
                  target: Skeleton, target_fps: float, strict: bool,
                  skipped: list[dict[str, str]], log: Callable[[str], None],
                  progress: bool | None) -> _Retargeting:
    """Step 2: read and retarget every take (a take that cannot be read is skipped and listed,
    or stops the import when ``strict``)."""
    from tqdm import tqdm

    run = _Retargeting()
    retargeters: dict[bytes, Retargeter] = {}
    cache: dict[Any, Any] = {}
    bar = tqdm(total=len(takes), unit="take", desc="import-mocap",
               disable=None if progress is None else not progress)
    for take, sp in zip(takes, splits):
        bar.update(1)
        try:
            mocap = read_take(take, options[take.source], cache)
        except InputError as exc:
            if strict:
                raise
            # a skeleton file's problem names that file; the take's own, just the problem
            reason = exc.problem if exc.path == str(take.path) else str(exc)
            log(f"warning: skipped {take.path}: {reason}")
            skipped.append({"dataset": take.source, "path": take.rel, "reason": reason})
            continue
        run.results.append(_retarget(mocap, sp, target, target_fps, retargeters, run.quality,
                                     run.describe))
    bar.close()
    return run


def _summary(specs: list[SourceSpec], body: Any, target_fps: float, dedup_threshold: float,
             counts: dict[str, Any], take_groups: list[list[str]], dedup: dict[str, Any],
             run: _Retargeting, skipped: list[dict[str, str]],
             report: dict[str, Any]) -> ImportSummary:
    """Step 5: the summary of the import (``summary.json``)."""
    from .._version import __version__

    return ImportSummary(
        format_version=FORMAT_VERSION,
        vposer_version=__version__,
        kind="mocap",
        sources=[{"name": s.options.name, "path": str(Path(s.path).resolve()),
                  "fps_override": s.options.fps, "split_rule": vars(s.rule) | {
                      "groups": [list(g) for g in s.rule.groups]}}
                 for s in specs],
        settings={"body": _body_label(body), "target_fps": target_fps,
                  "dedup_threshold_rad": dedup_threshold,
                  "split_rule": "per source folder (CMU: per action), take groups sorted "
                                "by sha256 of their first take; test, then vald"},
        splits=counts,
        take_groups=take_groups,
        dedup={k: v for k, v in dedup.items() if k != "keep"},
        retarget=run.describe,
        skipped=skipped,
        quality={name: {"chord_deg": q["chord_deg"]["groups"],
                        "bone_direction_max_deg": q["bone_direction_deg"]["all"]["max"],
                        "frames": q["frames"]}
                 for name, q in report["per_source"].items()},
    )


def _retarget(mocap: MocapTake, split: str, target: Skeleton, target_fps: float,
              cache: dict[bytes, Retargeter], quality: dict[str, QualityReport],
              describe: dict[str, Any]) -> _Retargeted:
    take = mocap.file
    sk = mocap.skeleton
    key = ("|".join(sk.names) + repr(list(mocap.mapping))).encode() + sk.offsets.tobytes()
    if key not in cache:
        cache[key] = Retargeter.build(sk, target, mocap.mapping)
    rt = cache[key]
    res = rt(mocap.global_rot)
    label = f"{take.source} ({mocap.profile})"
    entry = describe.setdefault(label, {"joints": rt.describe(), "never_moved": None})
    moved = np.abs(res.pose_body.reshape(len(res.pose_body), 21, 3)).max(axis=(0, 2)) > 0
    still = set(np.asarray(SMPL_JOINTS[1:])[~moved])
    entry["never_moved"] = [j for j in SMPL_JOINTS[1:] if j in still and (
        entry["never_moved"] is None or j in entry["never_moved"])]
    _, smpl_pos = forward_kinematics(target, res.local_rot)
    action = take.folder or take.source
    quality.setdefault(take.source, QualityReport()).add(
        action, frame_errors(rt, smpl_pos, mocap.positions))
    idx = subsample_indices(len(res.pose_body), mocap.fps, target_fps)
    return _Retargeted(take, split, action, mocap.fps, len(res.pose_body), idx,
                       res.pose_body[idx], res.root_orient[idx])


def _dedup(results: list[_Retargeted], threshold: float) -> dict[str, Any]:
    """Which kept frames survive: test poses all; vald, then train, de-duplicated in take order
    against the test poses, the poses kept before them and each other."""
    keep = [np.ones(len(r.frames), dtype=bool) for r in results]
    stats: dict[str, Any] = {"threshold_rad": threshold}
    if threshold <= 0:
        stats["leakage_check"] = "off (no threshold)"
        return {"keep": keep, **stats}
    by_split = {sp: [i for i, r in enumerate(results) if r.split == sp] for sp in SPLIT_ORDER}
    reference = np.zeros((0, 189), dtype=np.float32)
    tests = [i for i in range(len(results)) if results[i].split == "test"]
    test_feats = (np.concatenate([pose_features(results[i].pose_body) for i in tests])
                  if tests else reference)
    for sp in ("vald", "train") + tuple(sorted({r.split for r in results} - set(SPLIT_ORDER))):
        members = by_split.get(sp) or [i for i, r in enumerate(results) if r.split == sp]
        if not members:
            continue
        feats = np.concatenate([pose_features(results[i].pose_body) for i in members])
        mask, reason = dedup_against(feats, threshold, np.concatenate([test_feats, reference]))
        stats[sp] = {"poses": int(len(feats)), "kept": int(mask.sum()),
                     "near_test_or_earlier_split": int((reason == 1).sum()),
                     "near_duplicates": int((reason == 2).sum())}
        start = 0
        for i in members:
            n = len(results[i].frames)
            keep[i] = mask[start:start + n]
            start += n
        reference = np.concatenate([reference, feats[mask]])
        if sp == "train":  # the leakage check: no kept training pose near a test pose
            stats["leakage_check"] = {
                "train_poses_within_threshold_of_a_test_pose": int(
                    near_any(feats[mask], test_feats, threshold).sum())}
    return {"keep": keep, **stats}


def _write_splits(tmp: Path, results: list[_Retargeted], keep: list[np.ndarray]
                  ) -> dict[str, Any]:
    writers: dict[str, SplitWriter] = {}
    counts: dict[str, dict[str, Any]] = {}
    for r, mask in zip(results, keep):
        writer = writers.get(r.split) or writers.setdefault(r.split, SplitWriter(tmp / r.split))
        t = r.take
        writer.add({"path": t.rel, "dataset": t.source, "subject": "", "action": r.action,
                    "fps": r.fps, "frames": r.frames_source, "format": t.fmt,
                    "source_split": t.source_split or None},
                   r.pose_body[mask], r.root_orient[mask], r.frames[mask])
        row = counts.setdefault(r.split, {}).setdefault(t.source, {}).setdefault(
            r.action, {"takes": 0, "frames_source": 0, "frames_subsampled": 0, "frames": 0})
        row["takes"] += 1
        row["frames_source"] += r.frames_source
        row["frames_subsampled"] += len(r.frames)
        row["frames"] += int(mask.sum())
    for writer in writers.values():
        writer.close()
    out = {}
    for sp, per_source in sorted(counts.items()):
        rows = [r for actions in per_source.values() for r in actions.values()]
        out[sp] = {k: sum(r[k] for r in rows) for k in ("takes", "frames_source",
                                                         "frames_subsampled", "frames")}
        out[sp]["per_source"] = per_source
    return out


def _merged_quality(quality: dict[str, QualityReport]) -> dict:
    merged = QualityReport()
    for q in quality.values():
        merged.merge_from(q)
    return merged.to_json()


def _body_label(body: Any) -> str:
    if body is None or body == "open":
        return "open"
    if isinstance(body, (str, os.PathLike)):
        return str(body)
    return type(body).__name__


def format_counts(summary: Mapping[str, Any]) -> str:
    """Frames per split, source and action."""
    lines = [f"{'split':<6} {'source':<16} {'action':<18} {'takes':>5} {'source':>8} {'kept':>8}"]
    for sp, row in summary["splits"].items():
        for source, actions in row["per_source"].items():
            for action, r in actions.items():
                lines.append(f"{sp:<6} {source:<16} {action:<18} {r['takes']:>5} "
                             f"{r['frames_source']:>8} {r['frames']:>8}")
        lines.append(f"{sp:<6} {'total':<16} {'':<18} {row['takes']:>5} {row['frames_source']:>8} "
                     f"{row['frames']:>8}")
    dedup = summary.get("dedup", {})
    if dedup.get("threshold_rad", 0) > 0:
        lines.append(f"near-duplicates (threshold {dedup['threshold_rad']:g} rad): " + "; ".join(
            f"{sp}: {d['kept']} of {d['poses']} kept" for sp, d in dedup.items()
            if isinstance(d, dict) and "kept" in d))
        leak = dedup.get("leakage_check", {})
        if isinstance(leak, dict):
            lines.append("leakage check: " + ", ".join(f"{k.replace('_', ' ')}: {v}"
                                                       for k, v in leak.items()))
    return "\n".join(lines)


def format_report(summary: Mapping[str, Any], quality: dict[str, Any] | None = None) -> str:
    """Counts, then the retargeting quality of each source (from ``quality.json``)."""
    lines = [format_counts(summary)]
    for name, q in (quality or {}).get("per_source", {}).items():
        lines.append(f"[{name}] " + format_quality(q))
    for label, d in summary.get("retarget", {}).items():
        if d.get("never_moved"):
            lines.append(f"[{label}] at rest in every frame (the source does not move them): "
                         + ", ".join(d["never_moved"]))
    if summary.get("skipped"):
        lines.append(f"skipped {len(summary['skipped'])} file(s): " + "; ".join(
            f"{s['dataset']}/{s['path']} ({s['reason']})" for s in summary["skipped"]))
    return "\n".join(lines)
