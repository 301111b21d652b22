"""Deterministic, resumable mini-batches of body poses held in memory.

Pose data sets are small next to the network's work (a million poses x 63 floats is 250 MB), so
batches are sliced from one tensor instead of going through worker processes. The order of an
epoch is a permutation drawn from ``(seed, epoch)`` alone; under DDP each rank takes every
``world_size``-th batch of it (evaluation: every ``world_size``-th row). The object is *stateful*
in Lightning's sense (``state_dict`` / ``load_state_dict``): a checkpoint written in the middle of
an epoch records how many batches were consumed, and a resumed run continues with the next batch
of the same permutation, so an interrupted deterministic run ends with the same weights as an
uninterrupted one.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable, Iterator

import torch
from torch import Tensor


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class PoseBatches:
    """Shuffled batches of rows of ``poses``.

    Args:
        poses: ``(N, 63)`` body poses (any tensor; batches are slices of it).
        batch_size: rows per batch; the last partial batch is dropped when ``drop_last``.
        seed: seed of the per-epoch permutations.
        epoch_fn: returns the current epoch (the trainer's); the permutation depends on it.
        shuffle: False for validation (fixed order, never resumed mid-way).
    """

    def __init__(self, poses: Tensor, batch_size: int, seed: int, epoch_fn: Callable[[], int],
                 shuffle: bool = True, drop_last: bool = True):
        self.poses = poses
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.epoch_fn = epoch_fn
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.consumed = 0  # batches of the current epoch finished by the training step
        self._resume: dict[str, int] | None = None

    def _num_global_batches(self) -> int:
        n = self.poses.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        rank, world = _rank_and_world()
        if not self.shuffle:  # evaluation: each rank takes every world-th row, in batches
            rows = len(range(rank, self.poses.shape[0], world))
            return -(-rows // self.batch_size)
        # training: the same number of steps on every rank (DDP synchronises them)
        return self._num_global_batches() // world

    def _order(self, epoch: int) -> Tensor:
        n = self.poses.shape[0]
        if not self.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g)

    def __iter__(self) -> Iterator[Tensor]:
        epoch = int(self.epoch_fn())
        start = 0
        if self._resume is not None and self._resume.get("epoch") == epoch:
            start = int(self._resume.get("consumed", 0))
        self._resume = None
        self.consumed = start
        rank, world = _rank_and_world()
        if not self.shuffle:
            rows = torch.arange(rank, self.poses.shape[0], world)
            for idx in rows.split(self.batch_size):
                yield self.poses.index_select(0, idx)
            return
        order = self._order(epoch)
        for local in range(start, len(self)):
            b = local * world + rank
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.poses.index_select(0, idx)

    # Lightning's stateful-loader protocol
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": int(self.epoch_fn()), "consumed": int(self.consumed)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = {"epoch": int(state["epoch"]), "consumed": int(state["consumed"])}
