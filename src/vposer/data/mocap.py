"""``vposer import-mocap``: motion capture (the CMU exponential-map set or BVH files) retargeted to
SMPL body poses, written in the prepared format with a quality report.

Splits: CMU takes keep their published ``train`` / ``test`` split; BVH files all go to one split
(``train`` unless told). ``val_takes`` moves whole takes of the train split to ``vald``: per
action, ``K`` takes (``val_takes >= 1``) or that fraction of them rounded (``0 < val_takes < 1``),
always leaving one in train; which ones is decided by sorting the action's take keys by their
SHA-256, so the choice is deterministic and stable. Frames are subsampled to ``target_fps`` after
retargeting (the quality report uses every frame).
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from ..errors import InputError
from . import bvh as bvh_io
from . import cmu as cmu_io
from .mapping import resolve_mapping
from .prepared import FORMAT_VERSION, SplitWriter, atomic_output_dir, write_json_atomic
from .quality import QualityReport, format_quality, frame_errors
from .retarget import Retargeter
from .select import dedup_indices, subsample_indices
from .skeleton import Skeleton, body_skeleton, forward_kinematics

PathLike = Union[str, os.PathLike]

__all__ = ["import_mocap", "choose_val_takes", "MocapTake", "iter_cmu", "iter_bvh"]


@dataclass
class MocapTake:
    """One source take, ready to retarget.

    Attributes:
        key: take key (CMU) or path relative to the input root (BVH).
        action: action name (CMU) or the folder holding the file (BVH).
        split: the split it belongs to before any validation carve-out.
        fps: frame rate.
        skeleton: the source skeleton; mapping: source joint per SMPL joint.
        global_rot: ``(T, J, 3, 3)`` column-convention source globals.
        positions: ``(T, J, 3)`` source joint positions from the source's own FK.
    """

    key: str
    action: str
    split: str
    fps: float
    skeleton: Skeleton
    mapping: Sequence[int]
    global_rot: np.ndarray
    positions: np.ndarray


def choose_val_takes(keys_by_action: Dict[str, List[str]], val_takes: float) -> set:
    """Keys moved to the validation split (see the module doc)."""
    chosen = set()
    if val_takes <= 0:
        return chosen
    for keys in keys_by_action.values():
        n = len(keys)
        want = int(val_takes) if val_takes >= 1 else int(round(val_takes * n))
        want = min(want, n - 1)
        ordered = sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
        chosen.update(ordered[:max(want, 0)])
    return chosen


def iter_cmu(directory: PathLike) -> Iterator[MocapTake]:
    """The takes of the CMU exponential-map set, in natural key order."""
    data = cmu_io.load_cmu(directory)
    mapping, _ = resolve_mapping(data.skeleton.names, profile="cmu-expmap",
                                 where=str(data.directory / "skeleton.json"))
    for key in data.keys:
        frames = data.take(key)
        split, action = cmu_io.take_action(key)
        glob, _ = cmu_io.column_fk(data.skeleton, frames)
        positions = cmu_io.row_fk_positions(data.skeleton, frames)
        yield MocapTake(key, action, split if split in ("train", "test") else "train", data.fps,
                        data.skeleton, mapping, glob, positions)


def find_bvh(source: PathLike) -> List[Path]:
    """A BVH file, or every ``*.bvh`` under a folder in sorted order."""
    source = Path(source)
    if source.is_file():
        return [source]
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
    if not files:
        raise InputError("no .bvh files found (and no cmu_expmap.npz)", source)
    return files


def iter_bvh(source: PathLike, mapping: Optional[Dict[str, str]] = None, split: str = "train",
             log: Callable[[str], None] = print,
             skipped: Optional[List[Dict[str, str]]] = None) -> Iterator[MocapTake]:
    """The takes of BVH file(s); unreadable files are reported through ``log`` (and appended to
    ``skipped`` as ``{"path", "reason"}``) and skipped."""
    source = Path(source)
    for path in find_bvh(source):
        rel, action = _bvh_key(source, path)
        try:
            motion = bvh_io.read_bvh(path)
            indices, _ = resolve_mapping(motion.skeleton.names, mapping, where=str(path))
        except InputError as exc:
            log(f"warning: skipped {exc}")
            if skipped is not None:
                skipped.append({"path": rel, "reason": exc.problem})
            continue
        glob, positions = motion.global_rotations()
        yield MocapTake(rel, action, split, motion.fps, motion.skeleton, indices, glob, positions)


def import_mocap(source: PathLike, out: PathLike, body: Any = None, target_fps: float = 30.0,
                 val_takes: float = 0.0, dedup_threshold: float = 0.0,
                 mapping: Optional[Dict[str, str]] = None, split: str = "train",
                 progress: Optional[bool] = None, log: Optional[Callable[[str], None]] = None
                 ) -> Dict[str, Any]:
    """Retarget mocap to SMPL body poses and write a prepared directory.

    Args:
        source: a CMU folder (``cmu_expmap.npz`` + ``skeleton.json``), a BVH file or a folder of BVH.
        out: the output directory (replaced atomically if it is a prepared directory).
        body: the body model whose rest skeleton is the target (None: the open body).
        target_fps: subsampling rate after retargeting (``<= 0``: keep every frame).
        val_takes: takes per action (``>= 1``) or fraction (``< 1``) moved from train to ``vald``.
        dedup_threshold: radians; near-duplicate removal within each take (``<= 0``: off).
        mapping: explicit ``{SMPL joint: source joint}`` for BVH.
        split: the split of BVH takes.
        progress: tqdm bar (None: when stderr is a terminal).
        log: where warnings go (default stderr).

    Returns:
        The summary (also in ``out/summary.json``; the quality report also in ``out/quality.json``).
    """
    from tqdm import tqdm

    from .. import __version__

    log = log or (lambda msg: print(msg, file=sys.stderr))
    source = Path(source)
    if not source.exists():
        raise InputError("no such file or directory", source)
    target = body_skeleton(body)
    skipped: List[Dict[str, str]] = []
    is_cmu = source.is_dir() and (source / "cmu_expmap.npz").exists()
    if is_cmu:
        takes_meta = _cmu_index(source)
        takes = iter_cmu(source)
    else:
        takes_meta = {k: (a, split) for k, a in (_bvh_key(source, p) for p in find_bvh(source)
                                                 if val_takes <= 0 or _readable(p, mapping))}
        takes = iter_bvh(source, mapping, split, log, skipped)
    by_action: Dict[str, List[str]] = {}
    for key, (action, sp) in takes_meta.items():
        if sp == "train":
            by_action.setdefault(action, []).append(key)
    val = choose_val_takes(by_action, val_takes)

    quality = QualityReport()
    counts: Dict[str, Dict[str, Dict[str, int]]] = {}
    retargeters: Dict[bytes, Retargeter] = {}
    describe = None
    with atomic_output_dir(out) as tmp:
        writers: Dict[str, SplitWriter] = {}
        bar = tqdm(total=len(takes_meta), unit="take", desc="import-mocap",
                   disable=None if progress is None else not progress)
        for take in takes:
            bar.update(1)
            rt = _retargeter(retargeters, take, target)
            describe = describe or rt.describe()
            res = rt(take.global_rot)
            _, smpl_pos = forward_kinematics(target, res.local_rot)
            quality.add(take.action, frame_errors(rt, smpl_pos, take.positions))
            sp = "vald" if _val_key(take, val) else take.split
            idx = subsample_indices(len(res.pose_body), take.fps, target_fps)
            keep = idx[dedup_indices(res.pose_body[idx], dedup_threshold)]
            writer = writers.get(sp) or writers.setdefault(sp, SplitWriter(tmp / sp))
            writer.add({"path": take.key, "dataset": "CMU" if is_cmu else "BVH", "subject": "",
                        "action": take.action, "fps": take.fps, "frames": len(res.pose_body),
                        "source_split": take.split},
                       res.pose_body[keep], res.root_orient[keep], keep)
            row = counts.setdefault(sp, {}).setdefault(
                take.action, {"takes": 0, "frames_source": 0, "frames": 0})
            row["takes"] += 1
            row["frames_source"] += len(res.pose_body)
            row["frames"] += len(keep)
        bar.close()
        if not writers:
            raise InputError("no takes could be read", source)
        for writer in writers.values():
            writer.close()
        report = quality.to_json()
        summary = {
            "format_version": FORMAT_VERSION,
            "vposer_version": __version__,
            "kind": "cmu" if is_cmu else "bvh",
            "source": str(source.resolve()),
            "settings": {"body": _body_label(body), "target_fps": target_fps,
                         "val_takes": val_takes, "dedup_threshold_rad": dedup_threshold,
                         "val_split_rule": "per action, take keys sorted by sha256, first K"},
            "splits": {sp: {"takes": sum(r["takes"] for r in rows.values()),
                            "frames_source": sum(r["frames_source"] for r in rows.values()),
                            "frames": sum(r["frames"] for r in rows.values()),
                            "per_action": rows}
                       for sp, rows in sorted(counts.items())},
            "retarget": describe,
            "skipped": skipped,
            "quality": report,
        }
        write_json_atomic(tmp / "quality.json", report)
        write_json_atomic(tmp / "summary.json", summary)
    return summary


def _bvh_key(source: Path, path: Path) -> tuple:
    """(key relative to the input, action = the folder holding it, or the file stem at the top)."""
    root = source.parent if source.is_file() else source
    action = path.parent.name if path.parent != root else path.stem
    return path.relative_to(root).as_posix(), action


def _readable(path: Path, mapping: Optional[Dict[str, str]]) -> bool:
    """Whether a BVH file parses and maps (so that only usable takes are chosen for vald)."""
    try:
        resolve_mapping(bvh_io.read_bvh(path).skeleton.names, mapping, where=str(path))
    except InputError:
        return False
    return True


def _val_key(take: MocapTake, val: set) -> bool:
    return take.split == "train" and (take.key in val)


def _cmu_index(source: Path) -> Dict[str, tuple]:
    data = cmu_io.load_cmu(source)
    out = {}
    for key in data.keys:
        sp, action = cmu_io.take_action(key)
        out[key] = (action, sp if sp in ("train", "test") else "train")
    return out


def _retargeter(cache: Dict[bytes, Retargeter], take: MocapTake, target: Skeleton) -> Retargeter:
    sk = take.skeleton
    key = ("|".join(sk.names) + repr(list(take.mapping))).encode() + sk.offsets.tobytes()
    if key not in cache:
        cache[key] = Retargeter.build(sk, target, take.mapping)
    return cache[key]


def _body_label(body: Any) -> str:
    if body is None or body == "open":
        return "open"
    if isinstance(body, (str, os.PathLike)):
        return str(body)
    return type(body).__name__


def format_counts(summary: Dict[str, Any]) -> str:
    """Frames per split and action."""
    lines = [f"{'split':<6} {'action':<20} {'takes':>5} {'source':>8} {'kept':>8}"]
    for sp, row in summary["splits"].items():
        for action, r in row["per_action"].items():
            lines.append(f"{sp:<6} {action:<20} {r['takes']:>5} {r['frames_source']:>8} "
                         f"{r['frames']:>8}")
        lines.append(f"{sp:<6} {'total':<20} {row['takes']:>5} {row['frames_source']:>8} "
                     f"{row['frames']:>8}")
    return "\n".join(lines)


def format_report(summary: Dict[str, Any]) -> str:
    return format_counts(summary) + "\n" + format_quality(summary["quality"])
