"""``human_body_prior.data.dataloader``: the datasets of prepared ``*.pt`` folders.

``VPoserDS(dataset_dir, data_fields=[])`` (v2) and ``AMASSDataset(dataset_dir)`` (cvpr19) hold
one tensor per ``<field>.pt`` of the folder and return ``{field: row}`` per index. The files are
read by vposer's restricted reader of torch's formats (:func:`vposer.checkpoints.unpickler.
load_torch_file`), never ``torch.load``: a tensor is all they may hold.
"""
from __future__ import annotations

import glob
import os
from typing import Any
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from vposer.checkpoints.release import read_ini
from vposer.checkpoints import ReleaseSettings as Settings
from vposer.checkpoints.unpickler import load_torch_file
from vposer.errors import CheckpointError

__all__ = ["AMASSDataset", "VPoserDS", "load_pt_tensor"]


def load_pt_tensor(path: str) -> torch.Tensor:
    """The tensor saved in a ``.pt`` file (refused unless the file holds one tensor)."""
    value = load_torch_file(path)
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"holds a {type(value).__name__}, not a tensor", path)
    return value


def _read_fields(dataset_dir: str, data_fields: Sequence[str] | None = None) -> dict:
    if not os.path.isdir(dataset_dir):
        raise CheckpointError("no such dataset folder", dataset_dir)
    out = {}
    for fname in sorted(glob.glob(os.path.join(dataset_dir, "*.pt"))):
        key = os.path.basename(fname)[:-3]
        if data_fields and key not in data_fields:
            continue
        out[key] = load_pt_tensor(fname)
    return out


class VPoserDS(Dataset):
    """The v2 dataset: ``<dataset_dir>/<field>.pt`` as float32, ``data_fields`` to select some;
    ``ds.ps`` holds the ``settings.ini`` one level up when there is one."""

    def __init__(self, dataset_dir: str, data_fields: Sequence[str] = ()):
        self.ds = {k: v.to(torch.float32) for k, v in _read_fields(dataset_dir, data_fields).items()}
        inis = sorted(glob.glob(os.path.join(dataset_dir, "..", "*.ini")))
        if inis:
            from pathlib import Path

            self.ps = Settings(dict(read_ini(Path(inis[0])), dataset_dir=dataset_dir))

    def __len__(self) -> int:
        return len(next(iter(self.ds.values()))) if self.ds else 0

    def __getitem__(self, idx: int) -> dict:
        return self.fetch_data(idx)

    def fetch_data(self, idx: int) -> dict:
        return {k: v[idx] for k, v in self.ds.items()}


class AMASSDataset(Dataset):
    """The cvpr19 dataset: every ``<field>.pt`` of the folder; ``pose_aa`` (52 joints) and
    ``pose_matrot`` rows are returned as their 21 body joints, ``1 x 21 x 3`` / ``1 x 21 x 9``."""

    def __init__(self, dataset_dir: str):
        self.ds = _read_fields(dataset_dir)

    def __len__(self) -> int:
        key = "trans" if "trans" in self.ds else next(iter(self.ds))
        return len(self.ds[key])

    def __getitem__(self, idx: int) -> dict:
        return self.fetch_data(idx)

    def fetch_data(self, idx: int) -> Any:
        data = {k: v[idx] for k, v in self.ds.items()}
        if "pose_aa" in data:
            data["pose_aa"] = data["pose_aa"].reshape(1, -1, 3)[:, 1:22]
        if "pose_matrot" in data:
            data["pose_matrot"] = data["pose_matrot"].reshape(1, -1, 9)[:, 1:22]
        return data
