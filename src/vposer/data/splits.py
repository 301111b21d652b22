"""Splitting takes into train / vald / test: by whole take groups, deterministically.

A *group* is a set of takes that must share a split: a take alone, partner takes of one
recording (the two dancers of a salsa take: ``groups`` of a source), and the same take published
by several sources (``take_id="stem"``: ``02_01.amc`` and ``02_01.json`` are CMU take 02_01).
Each group belongs to the *stratum* of its first take: the take's folder within its source (the
action, for the CMU exponential-map set). In each stratum, groups are ordered by the SHA-256 of
their first take's key; the first ``test`` of them go to ``test``, the next ``val`` to ``vald``,
the rest stay in their default split (always at least one). A source with its own split (the
CMU set's ``train`` / ``test``) keeps it; ``vald`` is then drawn from its training takes only.
The counts: ``K >= 1`` groups per stratum, or a fraction ``0 < K < 1`` of them, rounded.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence

from .sources import TakeFile

__all__ = ["SplitRule", "assign_splits", "take_stem", "count_for"]


@dataclass
class SplitRule:
    """How one source's takes are split.

    Attributes:
        test: groups per stratum (``>= 1``) or fraction (``< 1``) held out for ``test``.
        val: likewise for ``vald``, from what ``test`` leaves.
        default: the split of the rest (``train``).
        groups: lists of take names (paths relative to the source without extensions, e.g.
            ``["salsa/01", "salsa/16"]``) that must share a split.
        take_id: ``"stem"``: takes of any source with this rule and the same file stem are one
            take (published twice), so they share a split; None: off.
    """

    test: float = 0.0
    val: float = 0.0
    default: str = "train"
    groups: Sequence[Sequence[str]] = field(default_factory=list)
    take_id: str | None = None


def take_stem(rel: str) -> str:
    """A take's name without extensions: ``salsa/01.bvh.gz`` -> ``salsa/01``."""
    path = Path(rel)
    name = path.name.split(".")[0] or path.name
    return (path.parent / name).as_posix() if path.parent != Path(".") else name


def count_for(k: float, n: int) -> int:
    """How many of ``n`` groups: ``K`` (``k >= 1``) or ``round(k n)`` (``0 < k < 1``), leaving one."""
    if k <= 0 or n <= 1:
        return 0
    want = int(k) if k >= 1 else int(round(k * n))
    return max(0, min(want, n - 1))


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the earlier take leads the group


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def assign_splits(takes: Sequence[TakeFile], rules: dict[str, SplitRule]
                  ) -> tuple[list[str], list[list[int]]]:
    """The split of every take.

    Args:
        takes: all takes of all sources, in source order then take order.
        rules: the rule of each source (by ``TakeFile.source``; missing: all ``train``).

    Returns:
        ``(splits, groups)``: a split name per take, and the groups as lists of take indices.
    """
    n = len(takes)
    union = _Union(n)
    by_stem: dict[tuple[str, str], int] = {}
    by_id: dict[str, int] = {}
    for i, take in enumerate(takes):
        rule = rules.get(take.source, SplitRule())
        stem = take_stem(take.rel)
        by_stem.setdefault((take.source, stem), i)
        if rule.take_id == "stem":
            tid = Path(stem).name
            if tid in by_id:
                union.join(by_id[tid], i)
            else:
                by_id[tid] = i
    for source, rule in rules.items():
        for names in rule.groups:
            members = [by_stem[(source, name)] for name in names if (source, name) in by_stem]
            for m in members[1:]:
                union.join(members[0], m)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(union.find(i), []).append(i)
    fixed: dict[int, str] = {}
    for lead, members in groups.items():
        own = {takes[m].source_split for m in members if takes[m].source_split}
        if own:
            fixed[lead] = "test" if "test" in own else sorted(own)[0]
    strata: dict[tuple[str, str], list[int]] = {}
    for lead in groups:  # leads are the groups' first takes, in take order
        strata.setdefault((takes[lead].source, takes[lead].folder), []).append(lead)
    split_of: dict[int, str] = {}
    for (source, _), leads in strata.items():
        rule = rules.get(source, SplitRule())
        free = sorted((g for g in leads if g not in fixed), key=lambda g: _sha(takes[g].rel))
        n_test = count_for(rule.test, len(free))
        for g in free[:n_test]:
            split_of[g] = "test"
        trainable = free[n_test:] + [g for g in leads if fixed.get(g) == "train"]
        trainable.sort(key=lambda g: _sha(takes[g].rel))
        n_val = count_for(rule.val, len(trainable))
        for g in trainable[:n_val]:
            split_of[g] = "vald"
        for g in leads:
            split_of.setdefault(g, fixed.get(g, rule.default))
    splits = [split_of[union.find(i)] for i in range(n)]
    return splits, [members for _, members in sorted(groups.items())]
