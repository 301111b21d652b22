"""``human_body_prior.data.prepare_data``: AMASS to the original's ``*.pt`` training folders.

- v2: ``prepare_vposer_datasets(vposer_dataset_dir, amass_splits, amass_dir, logger=None)``
  writes ``<dir>/<split>/pose_body.pt`` (N, 63) and ``root_orient.pt`` (N, 3) from
  ``<amass_dir>/<dataset>/*/*_poses.npz``, keeping a random 24 % of each take's frames from its
  middle 80 % (numpy's global stream), plus ``settings.ini`` and ``dataset.log``;
  ``dataset_exists(dataset_dir, split_names=None)``.
- cvpr19: ``prepare_vposer_datasets(amass_splits, amass_dir, vposer_datadir, logger=None)``
  (told apart by its first argument, a mapping) runs ``dump_amass2pytroch`` per split into
  ``stage_I/<split>/{pose,betas,trans,gender}.pt`` and writes the final
  ``stage_III/<split>/{pose,pose_matrot,betas,trans,gender}.pt`` directly (the original's
  intermediate pytables ``stage_II`` is skipped); ``AMASS_Augment``, ``remove_Zrot``.

Takes are read with ``numpy.load(allow_pickle=False)``; unreadable takes are logged and skipped.
Outputs are written atomically. For new data, ``vposer prepare`` writes memory-mapped splits
with deduplication and provenance.
"""
from __future__ import annotations

import glob
import os
from datetime import datetime
from typing import Any
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vposer.data.amass import TakeError, read_take
from vposer.fileio import atomic_path, write_text
from vposer.rotations import axis_angle_to_matrix

from ..tools.omni_tools import log2file, logger_sequencer, makepath
from ..tools.rotation_tools import remove_zrot
from .dataloader import _read_fields

__all__ = ["AMASS_Augment", "dataset_exists", "dump_amass2pytroch", "prepare_vposer_datasets",
           "remove_Zrot"]

_KEEP_RATE = 0.3
_GENDER = {"male": -1, "neutral": 0, "female": 1}


def remove_Zrot(pose: np.ndarray) -> np.ndarray:  # noqa: N802 (original name)
    """Zero the root's z Euler angle in place (:func:`~human_body_prior.tools.rotation_tools.
    remove_zrot`)."""
    return remove_zrot(pose)


def _save_pt(path: str, tensor: torch.Tensor) -> None:
    makepath(path, isfile=True)
    with atomic_path(path) as tmp:
        torch.save(tensor, tmp)


def _frame_ids(n: int) -> np.ndarray:
    """The original's choice: ``int(0.24 n)`` distinct frames of the middle 80 %."""
    return np.random.choice(list(range(int(0.1 * n), int(0.9 * n))), int(_KEEP_RATE * 0.8 * n),
                            replace=False)


def dataset_exists(dataset_dir: str | None, split_names: Sequence[str] | None = None) -> bool:
    """Whether every split has its ``root_orient.pt`` and ``pose_body.pt``."""
    if dataset_dir is None:
        return False
    splits = split_names or ["train", "vald", "test"]
    return all(os.path.exists(os.path.join(dataset_dir, s, f"{k}.pt"))
               for s in splits for k in ("root_orient", "pose_body"))


def _ini(values: Mapping[str, Any]) -> str:
    return "[All]\n" + "".join(f"{k} : {v!r}\n" for k, v in values.items())


def _prepare_v2(vposer_dataset_dir: str, amass_splits: Mapping[str, Sequence[str]],
                amass_dir: str, logger: Callable | None = None) -> None:
    if dataset_exists(vposer_dataset_dir):
        if logger is not None:
            logger(f"VPoser dataset already exists at {vposer_dataset_dir}")
        return
    ds_logger = log2file(makepath(vposer_dataset_dir, "dataset.log", isfile=True),
                         write2file_only=True)
    logger = ds_logger if logger is None else logger_sequencer([ds_logger, logger])
    logger(f"Creating pytorch dataset at {vposer_dataset_dir}")
    logger(f"Using AMASS body parameters from {amass_dir}")
    splits = dict(amass_splits)
    for split, ds_names in splits.items():
        if dataset_exists(vposer_dataset_dir, split_names=[split]):
            continue
        logger(f"Preparing VPoser data for split {split}")
        fields: dict = {"pose_body": [], "root_orient": []}
        for ds_name in ds_names:
            fnames = sorted(glob.glob(os.path.join(amass_dir, ds_name, "*", "*_poses.npz")))
            logger(f"Found {len(fnames)} sequences from {ds_name}.")
            for fname in fnames:
                try:
                    take = read_take(fname)
                except TakeError as exc:
                    logger(f"skipping {fname}: {exc.problem}")
                    continue
                ids = _frame_ids(len(take.pose_body))
                if len(ids) < 1:
                    continue
                fields["pose_body"].append(take.pose_body[ids])
                fields["root_orient"].append(take.root_orient[ids])
        if not fields["pose_body"]:
            logger(f"no frames for split {split}")
            continue
        for key, rows in fields.items():
            _save_pt(os.path.join(vposer_dataset_dir, split, f"{key}.pt"),
                     torch.from_numpy(np.concatenate(rows).astype(np.float32)))
        logger(f"{sum(len(r) for r in fields['pose_body'])} datapoints dumped for split {split}.")
    write_text(makepath(vposer_dataset_dir, "settings.ini", isfile=True),
               _ini({"amass_splits": {k: list(v) for k, v in splits.items()},
                     "amass_dir": amass_dir}))
    logger(f"Dumped final pytorch dataset at {vposer_dataset_dir}")


def _read_full_take(fname: str) -> dict:
    with np.load(fname, allow_pickle=False) as data:
        out = {k: np.asarray(data[k]) for k in ("poses", "trans", "betas") if k in data.files}
        out["gender"] = str(np.asarray(data["gender"])) if "gender" in data.files else "neutral"
    if "poses" not in out or out["poses"].ndim != 2:
        raise ValueError("no (T, D) 'poses' array")
    return out


def dump_amass2pytroch(datasets: Sequence[str], amass_dir: str, out_dir: str, split_name: str,
                       logger: Callable | None = None, rnd_seed: int = 100) -> None:
    """cvpr19 stage I: ``pose`` (full poses), ``betas`` (16), ``trans``, ``gender`` (-1 male,
    0 neutral, 1 female) of a random 24 % of the middle 80 % of each take, seeded."""
    _dump_takes(datasets, amass_dir, out_dir, split_name, logger, rnd_seed, prefix="")


def _dump_takes(datasets: Sequence[str], amass_dir: str, out_dir: str, split_name: str,
                logger: Callable | None, rnd_seed: int, prefix: str) -> None:
    if split_name not in ("train", "vald", "test"):
        raise ValueError(f"split_name must be train, vald or test, got {split_name!r}")
    np.random.seed(rnd_seed)
    makepath(out_dir)
    if logger is None:
        stamp = datetime.strftime(datetime.now().replace(microsecond=0), "%Y%m%d_%H%M")
        logger = log2file(os.path.join(out_dir, f"{stamp}.log"))
        logger(f"Creating pytorch dataset at {out_dir}")
    rows: dict = {"pose": [], "betas": [], "trans": [], "gender": []}
    for ds_name in datasets:
        fnames = sorted(glob.glob(os.path.join(amass_dir, ds_name, "*", "*.npz")))
        logger(f"randomly selecting data points from {ds_name}.")
        for fname in fnames:
            try:
                take = _read_full_take(fname)
            except (OSError, ValueError, KeyError) as exc:
                logger(f"skipping {fname}: {exc}")
                continue
            ids = _frame_ids(len(take["poses"]))
            if len(ids) < 1:
                continue
            rows["pose"].append(take["poses"][ids].astype(np.float32))
            rows["trans"].append(take.get("trans", np.zeros((len(take["poses"]), 3)))[ids])
            betas = np.zeros(16, np.float32)
            given = np.asarray(take.get("betas", betas), np.float32).reshape(-1)[:16]
            betas[:len(given)] = given
            rows["betas"].append(np.repeat(betas[np.newaxis], len(ids), axis=0))
            rows["gender"].append(np.full(len(ids), _GENDER.get(take["gender"], 0), np.int32))
    if not rows["pose"]:
        raise ValueError(f"no frames found for split {split_name} in {amass_dir}")
    out = makepath(out_dir, split_name)
    for key, values in rows.items():
        dtype = np.int32 if key == "gender" else np.float32
        _save_pt(os.path.join(out, f"{prefix}{key}.pt"),
                 torch.from_numpy(np.concatenate(values).astype(dtype)))
    logger(f"Len. split {split_name} {sum(len(p) for p in rows['pose'])}")


class AMASS_Augment(Dataset):  # noqa: N801 (original name)
    """The stage-I rows with ``pose_matrot`` (``1 x 9 J``) added."""

    def __init__(self, dataset_dir: str, dtype: torch.dtype = torch.float32):
        self.ds = _read_fields(dataset_dir)
        self.dtype = dtype

    def __len__(self) -> int:
        return len(self.ds["trans"])

    def __getitem__(self, idx: int) -> dict:
        return self.fetch_data(idx)

    def fetch_data(self, idx: int) -> dict:
        sample = {k: v[idx] for k, v in self.ds.items()}
        pose = sample["pose"].to(torch.float64).reshape(-1, 3)
        sample["pose_matrot"] = axis_angle_to_matrix(pose).reshape(1, -1).to(sample["pose"].dtype)
        return sample


def _prepare_cvpr19(amass_splits: Mapping[str, Sequence[str]], amass_dir: str,
                    vposer_datadir: str, logger: Callable | None = None) -> None:
    if logger is None:
        stamp = datetime.strftime(datetime.now().replace(microsecond=0), "%Y%m%d_%H%M")
        logger = log2file(makepath(vposer_datadir, f"{stamp}.log", isfile=True))
        logger(f"Creating pytorch dataset at {vposer_datadir}")
    stage1 = os.path.join(vposer_datadir, "stage_I")
    stage3 = os.path.join(vposer_datadir, "stage_III")
    logger("Stage I: Fetch data from AMASS npz files")
    for split, datasets in amass_splits.items():
        if not os.path.exists(os.path.join(stage1, split, "pose.pt")):
            dump_amass2pytroch(datasets, amass_dir, stage1, split_name=split, logger=logger)
    logger("Stage III: pose_matrot added, final pt files")
    for split in amass_splits:
        ds = AMASS_Augment(os.path.join(stage1, split))
        data = dict(ds.ds)
        pose = data["pose"].to(torch.float64).reshape(len(data["pose"]), -1, 3)
        data["pose_matrot"] = axis_angle_to_matrix(pose).reshape(len(pose), -1).to(torch.float32)
        for key, value in data.items():
            target = os.path.join(stage3, split, f"{key}.pt")
            if not os.path.exists(target):
                _save_pt(target, value)
    logger(f"Dumped final pytorch dataset at {stage3}")


def prepare_vposer_datasets(*args: Any, **kwargs: Any) -> None:
    """Either generation's call (see the module docstring)."""
    first = args[0] if args else kwargs.get("vposer_dataset_dir", kwargs.get("amass_splits"))
    if isinstance(first, Mapping) or "vposer_datadir" in kwargs:
        return _prepare_cvpr19(*args, **kwargs)
    return _prepare_v2(*args, **kwargs)
