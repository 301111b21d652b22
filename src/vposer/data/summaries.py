"""What ``prepare_amass`` and ``import_mocap`` return: the ``summary.json`` they write, as typed
result objects (:class:`vposer._results.JsonResult`: attributes, ``.to_json()``, and
``summary["splits"]`` as before)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._results import JsonResult

__all__ = ["ImportSummary", "PrepareSummary"]


@dataclass(eq=False)
class PrepareSummary(JsonResult):
    """``summary.json`` of ``vposer prepare`` (AMASS).

    Attributes:
        format_version, vposer_version: of the prepared format and of the package that wrote it.
        kind: ``'amass'``.
        source: the AMASS root, absolute.
        settings: ``recipe`` (the split recipe), ``target_fps``, ``dedup_threshold_rad``.
        splits: split -> ``files``, ``frames_source``, ``frames_subsampled``, ``frames``.
        datasets: dataset -> split -> the same counts.
        unused_files: dataset -> files in no split.
        skipped: ``{"path", "reason"}`` of each unreadable or foreign file.
    """

    format_version: int
    vposer_version: str
    kind: str
    source: str
    settings: dict[str, Any]
    splits: dict[str, dict[str, int]]
    datasets: dict[str, dict[str, dict[str, int]]]
    unused_files: dict[str, int]
    skipped: list[dict[str, str]]


@dataclass(eq=False)
class ImportSummary(JsonResult):
    """``summary.json`` of ``vposer import-mocap``.

    Attributes:
        format_version, vposer_version: of the prepared format and of the package that wrote it.
        kind: ``'mocap'``.
        sources: per source: ``name``, ``path``, ``fps_override``, ``split_rule``.
        settings: ``body``, ``target_fps``, ``dedup_threshold_rad``, ``split_rule``.
        splits: split -> ``takes``, ``frames_source``, ``frames_subsampled``, ``frames`` and
            ``per_source`` (source -> action -> the same counts).
        take_groups: the groups of takes kept in one split (partners, one take in two sources).
        dedup: near-duplicate removal per split and the leakage check.
        retarget: per source and skeleton profile: the joint mapping and the never-moved joints.
        skipped: ``{"dataset", "path", "reason"}`` of each file that could not be read.
        quality: per source: chord and bone-direction errors of the retargeting (degrees).
    """

    format_version: int
    vposer_version: str
    kind: str
    sources: list[dict[str, Any]]
    settings: dict[str, Any]
    splits: dict[str, dict[str, Any]]
    take_groups: list[list[str]]
    dedup: dict[str, Any]
    retarget: dict[str, Any]
    skipped: list[dict[str, str]]
    quality: dict[str, Any]
