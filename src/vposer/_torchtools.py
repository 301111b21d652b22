"""Small torch helpers every module uses the same way: where random draws come from, and
switching a model to evaluation (or frozen) mode for a while.

The ``seed`` rule, the same for every public function that takes ``seed`` and ``generator``:

- ``generator`` given: draws come from it (``seed`` must then be None);
- ``seed`` an int: a fresh CPU ``torch.Generator`` seeded with it, so the same seed gives the
  same numbers on every run and device;
- both None: torch's global generator (``torch.manual_seed`` governs it): fresh randomness.

A function whose *default* is reproducible says so with ``seed: int | None = 0``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

import torch
from torch import nn

from .errors import InputError

__all__ = ["eval_mode", "frozen", "make_generator"]

_M = TypeVar("_M", bound=nn.Module)


def make_generator(seed: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Generator | None:
    """The generator to draw from under the package's ``seed`` rule (module docstring).

    Returns:
        ``generator``; a new CPU generator seeded with ``seed``; or None (torch's global one,
        which every ``torch.randn(..., generator=None)`` uses).

    Raises:
        InputError: both ``seed`` and ``generator`` were given.
    """
    if seed is not None and generator is not None:
        raise InputError("give either seed or generator, not both")
    if generator is not None:
        return generator
    return None if seed is None else torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def eval_mode(model: _M) -> Iterator[_M]:
    """Put ``model`` in evaluation mode (no dropout) for a ``with`` block, then back in the
    mode it had (``model.train(was_training)``, even when the block raises). ``eval()`` walks
    every submodule (~100 us for VPoser): hot paths test ``model.training`` first."""
    training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(training)


@contextlib.contextmanager
def frozen(model: _M) -> Iterator[_M]:
    """:func:`eval_mode`, and the model's parameters stop requiring gradients, for a ``with``
    block (fitting inputs through a fixed network); both are restored after it."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with eval_mode(model):
            yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
