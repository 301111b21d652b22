"""Caching of constant tensors built on first use."""
from __future__ import annotations

import functools
from typing import TypeVar
from collections.abc import Callable

import torch

T = TypeVar("T")

__all__ = ["constant_cache"]


def constant_cache(build: Callable[..., T]) -> Callable[..., T]:
    """``functools.lru_cache`` for functions that build constant tensors (keyed on dtype,
    device, ...), which builds them outside inference mode: a first call made inside
    ``torch.inference_mode()`` would otherwise cache inference tensors, which autograd refuses
    to save later (a small-batch decode after sampling in inference mode, for example)."""

    @functools.cache
    @functools.wraps(build)
    def cached(*args):
        with torch.inference_mode(False):
            return build(*args)

    return cached
