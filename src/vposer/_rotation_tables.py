"""Constant tables of the decoder's 6D -> matrix -> axis-angle conversion, in numpy (no torch).

Shared by the torch decoder (:mod:`vposer.model.fast_rotations`), its numpy path for a few poses
at a time, and the ONNX export (:mod:`vposer.export.onnx_graphs`), so all three compute the same
arithmetic from the same constants.

- :func:`frame_terms`: the unnormalised rotation frame as sums of 3-factor products of the 6D
  components (a cross product is a difference of two products);
- :func:`candidate_map`: the four candidate quaternions ``c q_i q`` of a rotation matrix, linear
  in its entries, one per pivot ``i`` (the matrix-to-quaternion step picks the pivot with the
  largest ``q_i^2``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PIVOT_ROWS", "candidate_map", "frame_terms"]

#: ``4 q_i q_k`` for pivot ``i`` (x, y, z, w) and component ``k``: linear in R's entries
#: (row-major ``m00 .. m22``) plus a constant 1 on the pivot's own square.
#: ``{i: [(k, {entry: coefficient}, constant), ...]}``
PIVOT_ROWS = {
    0: [(0, {0: 1, 4: -1, 8: -1}, 1), (1, {3: 1, 1: 1}, 0), (2, {2: 1, 6: 1}, 0), (3, {7: 1, 5: -1}, 0)],
    1: [(0, {3: 1, 1: 1}, 0), (1, {0: -1, 4: 1, 8: -1}, 1), (2, {7: 1, 5: 1}, 0), (3, {2: 1, 6: -1}, 0)],
    2: [(0, {2: 1, 6: 1}, 0), (1, {7: 1, 5: 1}, 0), (2, {0: -1, 4: -1, 8: 1}, 1), (3, {3: 1, 1: -1}, 0)],
    3: [(0, {7: 1, 5: -1}, 0), (1, {2: 1, 6: -1}, 0), (2, {3: 1, 1: -1}, 0), (3, {0: 1, 4: 1, 8: 1}, 1)],
}


def candidate_map(factors: Sequence[float] = (0.5,), transposed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(weight (9, 16 F), bias (16 F,))``, float64, for ``F = len(factors)``.

    The flattened matrix (row-major ``R``, or ``R^T`` when ``transposed``) times ``weight`` plus
    ``bias`` is, in columns ``4 F i + 4 f + k``, ``4 factors[f] q_i q_k``: for each pivot ``i``
    (x, y, z, w), one copy of the candidate quaternion per factor (``(1, 0.5)``: ``4 q_i q`` and
    ``2 q_i q``; ``(0.5,)``: ``2 q_i q`` alone).
    """
    width = 4 * len(factors)
    weight = np.zeros((9, 4 * width))
    bias = np.zeros(4 * width)
    for i, rows in PIVOT_ROWS.items():
        for k, coefficients, constant in rows:
            for f, factor in enumerate(factors):
                column = width * i + 4 * f + k
                for entry, c in coefficients.items():
                    row, col = divmod(entry, 3)
                    weight[3 * col + row if transposed else entry, column] = c * factor
                bias[column] = constant * factor
    return weight, bias


def frame_terms() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unnormalised Gram-Schmidt frame as signed sums of products of the 6D components.

    Per joint the decoder gives ``x1 x2 y1 y2 z1 z2`` (the columns ``a1``, ``a2`` of a 3 x 2
    matrix). The columns of ``R`` before normalisation are ``a1``, ``e2 = (a1 x a2) x a1`` and
    ``c = a1 x a2``; every entry is a signed sum of products of three factors, a factor being a
    component or 1: ``a1_i = a1_i 1 1``, ``c_k = a1_{k+1} a2_{k+2} 1 - a1_{k+2} a2_{k+1} 1`` and
    ``e2_k = sum_{m != k} (a2_k a1_m a1_m - a1_k a1_m a2_m)`` (the double cross product expanded;
    its ``m = k`` terms cancel and are left out). 21 terms in all.

    Returns:
        ``(select (6, 63), ones (63,), combine (21, 9))``, float64: ``d @ select + ones`` holds
        the three factors of every term (factor ``f`` of term ``t`` in column ``3 t + f``), and
        the products of each term's factors times ``combine`` are the flattened ``R`` (row-major).
    """
    one = 6
    terms = []  # (factor indices, entry of R, sign)
    for i in range(3):
        terms.append(((2 * i, one, one), 3 * i, 1))
    for k in range(3):
        k1, k2 = (k + 1) % 3, (k + 2) % 3
        terms.append(((2 * k1, 2 * k2 + 1, one), 3 * k + 2, 1))
        terms.append(((2 * k2, 2 * k1 + 1, one), 3 * k + 2, -1))
    for k in range(3):
        for m in range(3):
            if m != k:
                terms.append(((2 * k + 1, 2 * m, 2 * m), 3 * k + 1, 1))
                terms.append(((2 * k, 2 * m, 2 * m + 1), 3 * k + 1, -1))
    n = len(terms)
    select = np.zeros((6, 3 * n))
    ones = np.zeros(3 * n)
    combine = np.zeros((n, 9))
    for t, (factors, entry, sign) in enumerate(terms):
        for f, index in enumerate(factors):
            if index == one:
                ones[3 * t + f] = 1
            else:
                select[index, 3 * t + f] = 1
        combine[t, entry] = sign
    return select, ones, combine
