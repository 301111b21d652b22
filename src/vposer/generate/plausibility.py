"""Plausibility scores for ``--reject-implausible``: hooks, not a metric of their own.

A score maps body poses ``(N, 63)`` to ``(N,)``, higher = more plausible. Which one is used:

1. ``model.log_likelihood(pose_body)`` (:func:`vposer.model.likelihood.log_likelihood`, which
   every :class:`~vposer.VPoser` has; any object with that method works);
2. otherwise, with a reference pose file (``--plausibility-ref``), ``joint-range``: minus the
   largest deviation of any of the 63 axis-angle components from the reference, in reference
   standard deviations (a soft per-joint range check);
3. otherwise an :class:`InputError` says what is missing.

Other scores can be plugged in with :func:`register_score`. The rejection threshold is the
``Q`` quantile of the score over a calibration sample drawn once per dataset, so about a fraction
``Q`` of the model's samples is rejected and every shard uses the same threshold.
"""
from __future__ import annotations

import hashlib
from typing import Any, Protocol, runtime_checkable
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from ..constants import POSE_DIM
from ..errors import InputError

ScoreFn = Callable[[Tensor], Tensor]
ScoreFactory = Callable[[Any, np.ndarray | None], ScoreFn | None]
CALIBRATION_SIZE = 8192


@runtime_checkable
class ScoresPoses(Protocol):
    """What the ``log-likelihood`` score needs: :class:`~vposer.VPoser` is one."""

    def log_likelihood(self, poses: Tensor) -> Tensor:
        """``(N, 63)`` poses to ``(N,)`` log-likelihoods, higher = more plausible."""
        ...


def _log_likelihood(model: Any, reference: np.ndarray | None) -> ScoreFn | None:
    if not isinstance(model, ScoresPoses):
        return None
    scorer: ScoresPoses = model

    def score(pose_body: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.as_tensor(scorer.log_likelihood(pose_body)).reshape(pose_body.shape[0]).double().cpu()

    return score


def _joint_range(model: Any, reference: np.ndarray | None) -> ScoreFn | None:
    if reference is None:
        return None
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float64)).reshape(-1, POSE_DIM)
    if ref.shape[0] < 2:
        raise InputError(f"the plausibility reference needs at least 2 poses, got {ref.shape[0]}")
    mean, std = ref.mean(0), ref.std(0).clamp_min(1e-3)

    def score(pose_body: Tensor) -> Tensor:
        x = pose_body.detach().reshape(-1, POSE_DIM).double().cpu()
        return -((x - mean) / std).abs().amax(-1)

    return score


#: name -> factory(model, reference poses or None) -> score or None (not applicable); tried in order.
SCORES: dict[str, ScoreFactory] = {"log-likelihood": _log_likelihood, "joint-range": _joint_range}


def register_score(name: str, factory: ScoreFactory, first: bool = True) -> None:
    """Add a score; ``first`` makes it preferred over those already registered."""
    global SCORES
    items = [(k, v) for k, v in SCORES.items() if k != name]
    SCORES = dict([(name, factory)] + items if first else items + [(name, factory)])


def resolve_score(model: Any, reference: np.ndarray | None, name: str | None = None) -> tuple[str, ScoreFn]:
    """The score to use: ``name`` if given, else the first registered one that applies.

    Raises:
        InputError: no score applies (the message says what to pass).
    """
    candidates = [name] if name else list(SCORES)
    for key in candidates:
        if key not in SCORES:
            raise InputError(f"unknown plausibility score {key!r}: known are {', '.join(SCORES)}")
        fn = SCORES[key](model, reference)
        if fn is not None:
            return key, fn
    raise InputError(
        "--reject-implausible needs a plausibility score: this model has no log_likelihood "
        "method (a VPoser has one); pass --plausibility-ref POSES.npz to reject poses far "
        "outside the ranges of your own poses, or drop --reject-implausible"
    )


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str}:{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def threshold(scores: Tensor, quantile: float) -> float:
    """The ``quantile`` of ``scores`` (float64, linear interpolation)."""
    return float(torch.quantile(scores.double().flatten(), float(quantile)))
