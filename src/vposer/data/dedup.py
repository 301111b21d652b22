"""Near-duplicate poses across a whole data set, and the leakage check between its splits.

Two body poses are *near-duplicates* at threshold ``t`` (radians) when every one of the 21
body joints differs by at most ``t`` (the geodesic angle between the two local rotations): the
same rule as :func:`vposer.data.select.dedup_indices`, which works inside one take.

:func:`dedup_against` keeps, in order, each pose that is no near-duplicate of a reference set
(say, the test poses) or of a pose it kept before: greedy and deterministic. The search compares
blocks of poses at once: one matrix product of the flattened rotation matrices gives a bound
that rules out most pairs (for rotation matrices ``|A - B|_F^2 = 6 - 2 tr(A^T B)``, so a pair of
near-duplicates has ``sum_joints |A_j - B_j|_F^2 <= 21 * 4 (1 - cos t)``), and the remaining
candidate pairs are checked joint by joint.
"""
from __future__ import annotations


import numpy as np

from ..constants import NUM_JOINTS
from ..rotations_np import rodrigues

__all__ = ["pose_features", "dedup_against", "near_any"]

_BLOCK = 1024          # query poses per block
_PAIR_BATCH = 200_000  # candidate pairs checked joint by joint at once


def pose_features(pose_body: np.ndarray) -> np.ndarray:
    """``(n, 63)`` axis-angle body poses -> ``(n, 189)`` float32 flattened rotation matrices."""
    n = len(pose_body)
    mats = rodrigues(np.asarray(pose_body, dtype=np.float64).reshape(n, NUM_JOINTS, 3))
    return mats.reshape(n, NUM_JOINTS * 9).astype(np.float32)


def _limits(threshold: float) -> tuple[float, float]:
    """(per-joint trace lower bound, whole-pose dot-product lower bound) at ``threshold``."""
    cos = float(np.cos(min(float(threshold), np.pi)))
    per_joint = 1.0 + 2.0 * cos                       # tr(A^T B) of one joint
    # sum_j |A_j - B_j|^2 = 6 * 21 - 2 * dot  <=  21 * 4 (1 - cos)  <=>  dot >= 21 (1 + 2 cos)
    # (minus a little for float32 rounding: the features hold rotation matrices to ~1e-7, so
    # a trace to ~1e-6, and an angle t to ~1e-6 / (2 sin t) rad: 4e-5 rad at t = 0.013)
    return per_joint - 1e-6, NUM_JOINTS * per_joint - 1e-4


def _near_pairs(query: np.ndarray, ref: np.ndarray, threshold: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` with ``query[i]`` a near-duplicate of ``ref[j]``."""
    joint_limit, dot_limit = _limits(threshold)
    dots = query @ ref.T
    qi, rj = np.nonzero(dots >= dot_limit)
    if len(qi) == 0:
        return qi, rj
    keep = np.empty(len(qi), dtype=bool)
    for s in range(0, len(qi), _PAIR_BATCH):
        a = query[qi[s:s + _PAIR_BATCH]].reshape(-1, NUM_JOINTS, 9)
        b = ref[rj[s:s + _PAIR_BATCH]].reshape(-1, NUM_JOINTS, 9)
        traces = np.einsum("pjk,pjk->pj", a.astype(np.float64), b)
        keep[s:s + _PAIR_BATCH] = traces.min(axis=1) >= joint_limit
    return qi[keep], rj[keep]


def near_any(query: np.ndarray, ref: np.ndarray, threshold: float) -> np.ndarray:
    """``(n,)`` bool: which ``query`` features have a near-duplicate among ``ref`` features."""
    out = np.zeros(len(query), dtype=bool)
    if threshold <= 0 or len(query) == 0 or len(ref) == 0:
        return out
    for s in range(0, len(query), _BLOCK):
        qi, _ = _near_pairs(query[s:s + _BLOCK], ref, threshold)
        out[s + qi] = True
    return out


def dedup_against(features: np.ndarray, threshold: float, reference: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy de-duplication in order, also against a fixed reference set.

    Args:
        features: ``(n, 189)`` from :func:`pose_features`, in the order of preference (earlier
            poses are kept over later near-duplicates).
        threshold: radians; ``<= 0`` keeps everything.
        reference: ``(m, 189)`` poses that the kept ones must not be near-duplicates of.

    Returns:
        ``keep`` ``(n,)`` bool, and ``reason`` ``(n,)`` int8: 0 kept, 1 near a reference pose,
        2 near an earlier kept pose.
    """
    n = len(features)
    keep = np.ones(n, dtype=bool)
    reason = np.zeros(n, dtype=np.int8)
    if threshold <= 0 or n == 0:
        return keep, reason
    if reference is not None and len(reference):
        near_ref = near_any(features, reference, threshold)
        keep[near_ref] = False
        reason[near_ref] = 1
    kept_blocks: list[np.ndarray] = []
    for s in range(0, n, _BLOCK):
        idx = np.arange(s, min(n, s + _BLOCK))
        idx = idx[keep[idx]]
        if len(idx) == 0:
            continue
        block = features[idx]
        alive = np.ones(len(idx), dtype=bool)
        for kept in kept_blocks:  # near a pose kept in an earlier block
            qi, _ = _near_pairs(block, kept, threshold)
            alive[qi] = False
        # within the block, greedily in order: a pose removes its later near-duplicates
        qi, rj = _near_pairs(block, block, threshold)
        later = rj > qi
        qi, rj = qi[later], rj[later]
        if len(qi):
            order = np.argsort(qi, kind="stable")
            qi, rj = qi[order], rj[order]
            starts = np.searchsorted(qi, np.arange(len(idx) + 1))
            for i in range(len(idx)):
                if alive[i] and starts[i] < starts[i + 1]:
                    alive[rj[starts[i]:starts[i + 1]]] = False
        dropped = idx[~alive]
        keep[dropped] = False
        reason[dropped] = 2
        kept_blocks.append(block[alive])
    return keep, reason
