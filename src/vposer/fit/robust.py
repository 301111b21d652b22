"""Robust penalties of a residual's squared length.

Every penalty is a function of ``d^2`` (the squared Euclidean length of one target's residual,
in metres^2 for 3D targets and pixels^2 for 2D keypoints), equals ``d^2`` for small residuals and
grows more slowly beyond its scale ``s``:

- ``'l2'``: ``d^2`` (no scale);
- ``'gmof'``: Geman-McClure, ``s^2 d^2 / (s^2 + d^2)``; saturates at ``s^2``: a target off by
  far more than ``s`` stops pulling (outliers, mislabelled markers);
- ``'smooth_l1'``: ``d^2`` below ``s``, ``2 s d - s^2`` above (a Huber penalty scaled to match
  ``d^2`` near zero): linear growth, keeps pulling at a constant force.

They act on the length, not per coordinate, so they do not depend on the axes. Working on ``d^2``
keeps gradients finite at a zero residual. :meth:`Penalty.weight` is ``d rho / d(d^2)``, the
weight of iteratively reweighted least squares (Levenberg-Marquardt uses it).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import InputError

__all__ = ["PENALTIES", "Penalty", "penalty"]


def _l2(d2: Tensor, scale: float) -> Tensor:
    return d2


def _gmof(d2: Tensor, scale: float) -> Tensor:
    s2 = scale * scale
    return s2 * d2 / (s2 + d2)


def _smooth_l1(d2: Tensor, scale: float) -> Tensor:
    s2 = scale * scale
    far = d2 > s2
    d = torch.where(far, d2, torch.full_like(d2, s2)).sqrt()  # sqrt of safe values only
    return torch.where(far, 2 * scale * d - s2, d2)


def _l2_weight(d2: Tensor, scale: float) -> Tensor:
    return torch.ones_like(d2)


def _gmof_weight(d2: Tensor, scale: float) -> Tensor:
    s2 = scale * scale
    return (s2 / (s2 + d2)) ** 2


def _smooth_l1_weight(d2: Tensor, scale: float) -> Tensor:
    s2 = scale * scale
    far = d2 > s2
    return torch.where(far, scale / torch.where(far, d2, torch.full_like(d2, s2)).sqrt(),
                       torch.ones_like(d2))


PENALTIES: dict[str, tuple[Callable[[Tensor, float], Tensor], Callable[[Tensor, float], Tensor]]] = {
    "l2": (_l2, _l2_weight), "gmof": (_gmof, _gmof_weight),
    "smooth_l1": (_smooth_l1, _smooth_l1_weight),
}


class Penalty:
    """A penalty at a scale: ``rho = Penalty(...)(d2)``; ``weight(d2) = d rho / d(d2)``."""

    def __init__(self, name: str, scale: float | None):
        if name not in PENALTIES:
            raise InputError(f"unknown robust penalty {name!r}: use one of {', '.join(PENALTIES)}")
        if name != "l2" and (scale is None or not scale > 0):
            raise InputError(f"the {name} penalty needs a scale > 0, got {scale}")
        self.name = name
        self.scale = float(scale) if scale is not None else 0.0
        self._rho, self._weight = PENALTIES[name]

    def __call__(self, d2: Tensor) -> Tensor:
        return self._rho(d2, self.scale)

    def weight(self, d2: Tensor) -> Tensor:
        return self._weight(d2, self.scale)

    def __repr__(self) -> str:
        return f"Penalty({self.name!r}, scale={self.scale})"


def penalty(name: str, scale: float | None) -> Penalty:
    """The penalty ``name`` (``'l2'``, ``'gmof'``, ``'smooth_l1'``) at ``scale``.

    Raises:
        InputError: unknown name, or a non-positive scale for a robust penalty.
    """
    return Penalty(name, scale)
