"""Retargeting quality: bone-direction and chord errors, per joint and per action.

- Bone-direction error, per direction-matched SMPL joint ``j``: the angle between the posed SMPL
  bone (joint ``j`` to :data:`~vposer.data.retarget.BONE_END` ``[j]``, forward kinematics of the
  retargeted local rotations) and the posed source bone it was matched to. Zero by construction
  when the rotation conventions are right; anything else is a bug.
- Chord error: the angle between the same chord on both skeletons, each end being an SMPL joint
  and, on the source, the joint driving it: hip to ankle, shoulder to wrist, pelvis to head. The
  two rest skeletons differ (proportions, spine curve, CMU's splayed legs), so these are not zero;
  they measure how faithful the retargeted posture is.

Source positions should come from the source's own forward kinematics (for CMU: the row-vector
recipe, computed independently of the transposed path used for retargeting).
"""
from __future__ import annotations


import numpy as np

from .retarget import BONE_END, Retargeter
from .skeleton import SMPL_JOINTS

__all__ = ["CHORDS", "CHORD_GROUPS", "frame_errors", "QualityReport", "format_quality"]

CHORDS = {
    "L hip-ankle": (1, 7), "R hip-ankle": (2, 8),
    "L shoulder-wrist": (16, 20), "R shoulder-wrist": (17, 21),
    "pelvis-head": (0, 15),
}
CHORD_GROUPS = {
    "hip to ankle": ["L hip-ankle", "R hip-ankle"],
    "shoulder to wrist": ["L shoulder-wrist", "R shoulder-wrist"],
    "pelvis to head": ["pelvis-head"],
}
TARGET_MEAN_DEG = 5.0


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors ``(..., 3)`` (atan2 form, exact near 0)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, (a * b).sum(-1)))


def frame_errors(rt: Retargeter, smpl_pos: np.ndarray, source_pos: np.ndarray
                 ) -> dict[str, dict[str, np.ndarray]]:
    """Per-frame errors (degrees) of one take.

    Args:
        rt: the retargeter used.
        smpl_pos: ``(T, 22, 3)`` SMPL joint positions (FK of the retargeted pose).
        source_pos: ``(T, Js, 3)`` source joint positions in the source's axes.

    Returns:
        ``{"bones": {SMPL joint: (T,)}, "chords": {chord: (T,)}}``.
    """
    src = source_pos @ rt.world.T  # into SMPL axes
    bones = {}
    for j, end in BONE_END.items():
        if rt.ends[j] >= 0:
            bones[SMPL_JOINTS[j]] = _angle_deg(smpl_pos[:, end] - smpl_pos[:, j],
                                               src[:, rt.ends[j]] - src[:, rt.mapping[j]])
    chords = {name: _angle_deg(smpl_pos[:, b] - smpl_pos[:, a],
                               src[:, rt.mapping[b]] - src[:, rt.mapping[a]])
              for name, (a, b) in CHORDS.items()}
    return {"bones": bones, "chords": chords}


_BIN = 0.01  # degrees: the streaming histograms give percentiles to this resolution
_BINS = int(round(180.0 / _BIN)) + 1


class _Running:
    """Streaming statistics of angles in degrees: count, sum, max and a 0.01-degree histogram."""

    def __init__(self) -> None:
        self.count, self.total, self.max = 0, 0.0, 0.0
        self.hist = np.zeros(_BINS, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.size == 0:
            return
        self.count += values.size
        self.total += float(values.sum())
        self.max = max(self.max, float(values.max()))
        bins = np.clip(np.floor(values / _BIN).astype(np.int64), 0, _BINS - 1)
        self.hist += np.bincount(bins, minlength=_BINS)

    def merge(self, other: _Running) -> _Running:
        out = _Running()
        out.count, out.total = self.count + other.count, self.total + other.total
        out.max, out.hist = max(self.max, other.max), self.hist + other.hist
        return out

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def stats(self) -> dict[str, float]:
        if not self.count:
            return {"mean": float("nan"), "p95": float("nan"), "max": float("nan")}
        k = int(np.searchsorted(np.cumsum(self.hist), 0.95 * self.count))
        p95 = min((k + 1) * _BIN, self.max)  # upper edge of the bin holding the 95th percentile
        return {"mean": round(self.mean, 4), "p95": round(p95, 4), "max": round(self.max, 4)}


class QualityReport:
    """Accumulates per-frame errors of many takes in constant memory (streaming histograms);
    :meth:`to_json` summarises them."""

    def __init__(self) -> None:
        self._bones: dict[str, _Running] = {}
        self._chords: dict[str, _Running] = {}
        self._actions: dict[str, dict[str, _Running]] = {}

    def add(self, action: str, errors: dict[str, dict[str, np.ndarray]]) -> None:
        for name, err in errors["bones"].items():
            self._bones.setdefault(name, _Running()).add(err)
        per_action = self._actions.setdefault(action, {})
        for name, err in errors["chords"].items():
            self._chords.setdefault(name, _Running()).add(err)
            per_action.setdefault(name, _Running()).add(err)

    def merge_from(self, other: QualityReport) -> None:
        """Add another report's frames to this one (e.g. several sources into one)."""
        for mine, theirs in ((self._bones, other._bones), (self._chords, other._chords)):
            for name, run in theirs.items():
                mine[name] = mine[name].merge(run) if name in mine else run.merge(_Running())
        for action, chords in other._actions.items():
            per_action = self._actions.setdefault(action, {})
            for name, run in chords.items():
                per_action[name] = per_action[name].merge(run) if name in per_action \
                    else run.merge(_Running())

    @staticmethod
    def _group(table: dict[str, _Running], names: list[str]) -> _Running:
        out = _Running()
        for name in names:
            if name in table:
                out = out.merge(table[name])
        return out

    def to_json(self) -> dict:
        """Frames, bone errors per joint, chord errors per chord and group, per action means."""
        groups = {g: self._group(self._chords, names).stats() for g, names in CHORD_GROUPS.items()
                  if any(c in self._chords for c in names)}
        actions = {}
        for action, chords in sorted(self._actions.items()):
            actions[action] = {"frames": next(iter(chords.values())).count}
            actions[action].update({g: round(self._group(chords, names).mean, 4)
                                    for g, names in CHORD_GROUPS.items()})
        all_bones = self._group(self._bones, list(self._bones))
        frames = next(iter(self._chords.values())).count if self._chords else 0
        return {
            "frames": frames,
            "bone_direction_deg": {"all": all_bones.stats(),
                                   "per_joint": {k: v.stats() for k, v in self._bones.items()}},
            "chord_deg": {"groups": groups,
                          "per_chord": {k: v.stats() for k, v in self._chords.items()}},
            "per_action_chord_mean_deg": actions,
            "target_mean_deg": TARGET_MEAN_DEG,
            "target_met": bool(groups) and all(v["mean"] < TARGET_MEAN_DEG for v in groups.values()),
            "definitions": {"chords": {k: [SMPL_JOINTS[a], SMPL_JOINTS[b]]
                                       for k, (a, b) in CHORDS.items()},
                            "note": "chord ends: SMPL joints and, on the source, the joints "
                                    "driving them; p95 to 0.01 degree"},
        }


def format_quality(report: dict) -> str:
    """A plain-text summary of :meth:`QualityReport.to_json`."""
    lines = [f"retargeting quality over {report['frames']} frames (degrees)"]
    b = report["bone_direction_deg"]["all"]
    lines.append(f"  bone direction, mapped bones: mean {b['mean']:.4f}  max {b['max']:.4f}")
    for joint, s in report["bone_direction_deg"]["per_joint"].items():
        lines.append(f"    {joint:<12} mean {s['mean']:.4f}  max {s['max']:.4f}")
    lines.append(f"  chords (target: mean < {report['target_mean_deg']:g}):")
    for group, s in report["chord_deg"]["groups"].items():
        lines.append(f"    {group:<18} mean {s['mean']:6.2f}  p95 {s['p95']:6.2f}  max {s['max']:6.2f}")
    actions = report["per_action_chord_mean_deg"]
    if actions:
        groups = list(report["chord_deg"]["groups"])
        lines.append("  per action (chord means): " + " | ".join(groups))
        for action, row in actions.items():
            lines.append(f"    {action:<20} {row['frames']:>7} frames  " +
                         "  ".join(f"{row[g]:6.2f}" for g in groups))
    lines.append("  target met" if report["target_met"] else "  TARGET NOT MET")
    return "\n".join(lines)
