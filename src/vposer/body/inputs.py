"""Checking and batching the parameters given to a body model's forward pass."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError

__all__ = ["as_rows", "common_batch", "fit_width", "raise_non_finite"]


def as_rows(name: str, value: Any, dtype: torch.dtype, device: torch.device) -> Tensor | None:
    """A parameter as a ``(N, W)`` tensor of the model's dtype and device (no value check).

    Accepts tensors, numpy arrays and nested lists; ``(W,)`` is one row, ``(N, ...)`` is
    flattened after the batch dimension (so ``(N, 21, 3)`` and ``(N, 1, 21, 3)`` become
    ``(N, 63)``).

    Raises:
        InputError: not numeric.
    """
    if value is None:
        return None
    if isinstance(value, Tensor) and value.dtype == dtype and value.device == device \
            and value.dim() == 2:
        return value  # the common case, in a few attribute reads
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} is not a numeric array ({exc})") from None
    if value.dtype == torch.bool or value.is_complex():
        raise InputError(f"{name} has dtype {value.dtype}; expected real numbers")
    value = value.to(device=device, dtype=dtype)
    return value.reshape(1, -1) if value.dim() <= 1 else value.reshape(value.shape[0], -1)


def raise_non_finite(rows: dict[str, Tensor | None]) -> None:
    """Raise :class:`InputError` naming the first parameter of ``rows`` that holds NaN or Inf
    (called once a cheap check over all of them has failed; None entries are absent ones)."""
    for name, r in rows.items():
        if r is not None and not bool(torch.isfinite(r).all()):
            raise InputError(f"{name} contains NaN or Inf values")
    raise InputError("the parameters contain NaN or Inf values")


def common_batch(params: dict[str, Tensor | None]) -> int:
    """The batch size shared by the given parameters; rows of 1 broadcast.

    Raises:
        InputError: two parameters have different batch sizes, neither 1.
    """
    sizes = {name: t.shape[0] for name, t in params.items() if t is not None}
    batch = {n for n in sizes.values() if n != 1}
    if len(batch) > 1:
        listing = ", ".join(f"{name}: {n}" for name, n in sizes.items())
        raise InputError(f"mismatched batch sizes ({listing}); all must be equal, or 1")
    return batch.pop() if batch else 1


def fit_width(name: str, rows: Tensor | None, width: int, n: int, pad: bool = False,
              expected: str = "") -> Tensor | None:
    """Check the width of ``(N, W)`` rows and broadcast them to ``n`` rows.

    Args:
        pad: accept fewer than ``width`` columns and pad them with zeros (shape coefficients).
        expected: how to describe the accepted shapes in the error message.

    Raises:
        InputError: wrong width.
    """
    if rows is None:
        return None
    w = rows.shape[1]
    if w != width and not (pad and w < width):
        if width == 0:
            raise InputError(f"{name} given, but this body model has no such parameters")
        hint = expected or (f"at most {width}" if pad else f"{width}")
        raise InputError(f"{name} has {w} values per row; expected {hint}")
    if w < width:
        rows = torch.nn.functional.pad(rows, (0, width - w))
    if rows.shape[0] != n:
        rows = rows.expand(n, width)
    return rows
