"""``human_body_prior.data``: both generations' AMASS preparation and the ``*.pt`` datasets."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch


@pytest.fixture
def amass(tmp_path):
    """A tiny AMASS tree: two datasets, SMPL+H takes (156-wide poses), and a stagei file."""
    rng = np.random.default_rng(0)
    for ds, subject, takes in (("CMU", "01", 2), ("BMLrub", "s2", 1)):
        folder = tmp_path / "amass" / ds / subject
        folder.mkdir(parents=True)
        for t in range(takes):
            np.savez(folder / f"take{t}_poses.npz", poses=rng.normal(0, 0.3, (50, 156)),
                     trans=rng.normal(0, 1, (50, 3)), betas=rng.normal(0, 1, 16),
                     gender=np.array("female"), mocap_framerate=np.array(120.0))
        np.savez(folder / "shape.npz", betas=np.zeros(16))
    return tmp_path / "amass"


def test_v2_prepare_and_vposer_ds(amass, tmp_path):
    from human_body_prior.data.dataloader import VPoserDS
    from human_body_prior.data.prepare_data import dataset_exists, prepare_vposer_datasets
    from vposer.checkpoints.release import read_ini

    out = str(tmp_path / "ds")
    splits = {"train": ["CMU"], "vald": ["BMLrub"], "test": ["BMLrub"]}
    assert not dataset_exists(out) and not dataset_exists(None)
    np.random.seed(1)
    messages = []
    prepare_vposer_datasets(out, splits, str(amass), logger=messages.append)
    assert dataset_exists(out) and any("datapoints dumped for split train" in m for m in messages)
    ds = VPoserDS(os.path.join(out, "train"))
    assert len(ds) == 2 * int(0.24 * 50) and set(ds[0]) == {"pose_body", "root_orient"}
    assert ds[0]["pose_body"].shape == (63,) and ds.ds["pose_body"].dtype == torch.float32
    only = VPoserDS(os.path.join(out, "vald"), data_fields=["pose_body"])
    assert set(only[0]) == {"pose_body"} and only.ps.amass_dir == str(amass)
    assert read_ini(tmp_path / "ds" / "settings.ini")["amass_splits"] == splits
    assert "Creating pytorch dataset" in (tmp_path / "ds" / "dataset.log").read_text()
    prepare_vposer_datasets(out, splits, str(amass), logger=messages.append)  # exists: no-op
    assert messages[-1].startswith("VPoser dataset already exists")
    # every row is a frame of the middle 80 % of a take
    takes = [np.load(p)["poses"] for p in sorted((amass / "CMU" / "01").glob("*_poses.npz"))]
    middle = np.concatenate([t[5:45, 3:66] for t in takes]).astype(np.float32)
    rows = ds.ds["pose_body"].numpy()
    assert all(np.any(np.all(middle == r, axis=1)) for r in rows)


def test_cvpr19_prepare_and_datasets(amass, tmp_path):
    from human_body_prior.data.dataloader import AMASSDataset
    from human_body_prior.data.prepare_data import AMASS_Augment, prepare_vposer_datasets, remove_Zrot

    out = tmp_path / "v1data"
    out.mkdir()
    prepare_vposer_datasets({"train": ["CMU"], "vald": ["BMLrub"]}, str(amass), str(out),
                            logger=lambda text: None)
    stage1 = AMASS_Augment(str(out / "stage_I" / "train"))
    sample = stage1[0]
    assert sample["pose"].shape == (156,) and sample["pose_matrot"].shape == (1, 52 * 9)
    assert int(sample["gender"]) == 1 and sample["betas"].shape == (16,)
    final = {p.stem for p in (out / "stage_III" / "vald").iterdir()}
    assert final == {"pose", "pose_matrot", "betas", "trans", "gender"}
    folder = tmp_path / "aa"
    folder.mkdir()
    torch.save(torch.zeros(3, 156), folder / "pose_aa.pt")
    torch.save(torch.zeros(3, 52 * 9), folder / "pose_matrot.pt")
    torch.save(torch.zeros(3, 3), folder / "trans.pt")
    row = AMASSDataset(str(folder))[1]
    assert row["pose_aa"].shape == (1, 21, 3) and row["pose_matrot"].shape == (1, 21, 9)
    pose = np.array([0.1, 0.2, 0.3, 1.0])
    assert remove_Zrot(pose.copy())[3] == 1.0


def test_pt_files_are_read_without_torch_load(tmp_path):
    from human_body_prior.data.dataloader import VPoserDS
    from vposer.errors import CheckpointError

    torch.save({"not": "a tensor"}, tmp_path / "pose_body.pt")
    with pytest.raises(CheckpointError, match="not a tensor"):
        VPoserDS(str(tmp_path))
    with pytest.raises(CheckpointError, match="no such dataset folder"):
        VPoserDS(str(tmp_path / "missing"))


def test_2018_dataset_modules(amass, tmp_path):
    from human_body_prior._refused import NotProvidedError
    from human_body_prior.data.body_dataloader import AMASSDataset
    from human_body_prior.data.create_body_datasets import (create_dataset_records_V1,
                                                            create_dataset_records_V2)

    out = tmp_path / "v2018"
    create_dataset_records_V2(["CMU"], str(amass), str(out), "vald", logger=lambda text: None)
    assert {p.name for p in (out / "vald").iterdir()} == {"data_pose.pt", "data_betas.pt",
                                                          "data_trans.pt", "data_gender.pt"}
    ds = AMASSDataset(str(out / "vald"))
    assert len(ds) == 24 and ds[0]["pose"].shape == (1, 52, 9) and ds[0]["shape"].shape == (16,)
    assert AMASSDataset(str(out / "vald"), output_type="aa")[0]["pose"].shape == (1, 52, 3)
    with pytest.raises(NotProvidedError, match="h5"):
        create_dataset_records_V1(["CMU"], str(amass), str(out), "vald")
