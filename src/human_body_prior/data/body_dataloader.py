"""``human_body_prior.data.body_dataloader`` (2018): ``AMASSDataset(dataset_dir,
output_type='matrot', dtype=torch.float32)`` over ``data_pose.pt`` and ``data_shape.pt`` (or
``data_betas.pt``), read without ``torch.load``; a row's ``pose`` is ``1 x J x 9`` matrices or
``1 x J x 3`` axis-angle."""
from __future__ import annotations

import os

import torch
from torch.utils.data import Dataset

from vposer.rotations import axis_angle_to_matrix

from .dataloader import load_pt_tensor

__all__ = ["AMASSDataset"]


class AMASSDataset(Dataset):
    def __init__(self, dataset_dir: str, output_type: str = "matrot", dtype: torch.dtype = torch.float32):
        shape = os.path.join(dataset_dir, "data_shape.pt")
        if not os.path.exists(shape):
            shape = os.path.join(dataset_dir, "data_betas.pt")
        self.ds = {"pose": load_pt_tensor(os.path.join(dataset_dir, "data_pose.pt")),
                   "shape": load_pt_tensor(shape)}
        self.dtype = dtype
        self.output_type = output_type

    def __len__(self) -> int:
        return len(self.ds["pose"])

    def __getitem__(self, idx: int) -> dict:
        return self.fetch_data(idx, self.output_type)

    def fetch_data(self, idx: int, output_type: str = "matrot") -> dict:
        pose = self.ds["pose"][idx].reshape(-1, 3)
        pose = axis_angle_to_matrix(pose).reshape(1, -1, 9) if output_type == "matrot" else pose.reshape(1, -1, 3)
        return {"pose": pose.to(self.dtype), "shape": self.ds["shape"][idx].to(self.dtype)}
