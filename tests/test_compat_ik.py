"""``human_body_prior.models.ik_engine``: the published IK tutorial as written, the original's
progress lines, its helpers, and the betas the tutorial passes to a narrower body."""
from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch
from torch import nn

import vposer
from vposer.body.synthetic import random_body_arrays

LINE = re.compile(r"^it \d+ -- \[total loss = \S+\] - data = \S+ \| poZ_body = \S+ \| betas = \S+$")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 10-beta SMPL-X-structured body file and a copy of the open weights."""
    root = tmp_path_factory.mktemp("ik")
    arrays = random_body_arrays("smplx", seed=7)  # 10 shape + 10 expression components
    np.savez(root / "model.npz", **arrays)
    model = vposer.load_model()
    vposer.save_model(model, root / "vposer_open")
    return root, model


def test_the_joints_tutorial_runs_as_written(scene, capsys):
    """human_body_prior's IK tutorial on 3D joints (the v2 line), as published, with only its
    paths, its CUDA device and its ``colour`` dependency replaced: IK_Engine's default
    num_betas=16 beside a BodyModel of 10 betas, verbosity=2 (the original's mesh viewers)."""
    root, model = scene
    g = torch.Generator().manual_seed(0)
    poses = model.sample(8, seed=2).axis_angle.reshape(8, 63)
    np.savez(root / "amass_sample.npz", poses=torch.cat([torch.randn(8, 3, generator=g) * 0.3, poses,
                                                         torch.zeros(8, 90)], 1).numpy(),
             trans=torch.randn(8, 3, generator=g).numpy())
    vposer_expr_dir, bm_fname = str(root / "vposer_open"), str(root / "model.npz")
    sample_amass_fname, comp_device = str(root / "amass_sample.npz"), torch.device("cpu")
    from human_body_prior.body_model.body_model import BodyModel
    from human_body_prior.models.ik_engine import IK_Engine
    from human_body_prior.tools.omni_tools import create_list_chunks

    # --- the tutorial's code from here (SourceKeyPoints, then the script) ---
    class SourceKeyPoints(nn.Module):
        def __init__(self, bm, n_joints=22, kpts_colors=None):
            super().__init__()
            self.bm = BodyModel(bm, persistant_buffer=False) if isinstance(bm, str) else bm
            self.bm_f = []
            self.n_joints = n_joints
            self.kpts_colors = kpts_colors

        def forward(self, body_parms):
            new_body = self.bm(**body_parms)
            return {'source_kpts': new_body.Jtr[:, :self.n_joints], 'body': new_body}

    sample_amass = np.load(sample_amass_fname)
    n_joints = 22
    target_bm = BodyModel(bm_fname)(**{
        'pose_body': torch.tensor(sample_amass['poses'][:, 3:66]).type(torch.float),
        'root_orient': torch.tensor(sample_amass['poses'][:, :3]).type(torch.float),
        'trans': torch.tensor(sample_amass['trans']).type(torch.float),
    })
    kpts_colors = [(1.0, 0.0, 0.0)] * n_joints
    data_loss = torch.nn.MSELoss(reduction='sum')
    stepwise_weights = [{'data': 10., 'poZ_body': .01, 'betas': .5}, ]
    optimizer_args = {'type': 'LBFGS', 'max_iter': 300, 'lr': 1, 'tolerance_change': 1e-4, 'history_size': 200}
    ik_engine = IK_Engine(vposer_expr_dir=vposer_expr_dir, verbosity=2, display_rc=(2, 2),
                          data_loss=data_loss, stepwise_weights=stepwise_weights,
                          optimizer_args=optimizer_args).to(comp_device)
    frame_ids = np.arange(len(target_bm.v))
    np.random.shuffle(frame_ids)
    batch_size = 4
    errors = []
    for rnd_frame_ids in create_list_chunks(frame_ids, batch_size, overlap_size=0, cut_smaller_batches=False):
        target_pts = target_bm.Jtr[rnd_frame_ids, :n_joints].detach().to(comp_device)
        source_pts = SourceKeyPoints(bm=bm_fname, n_joints=n_joints, kpts_colors=kpts_colors).to(comp_device)
        ik_res = ik_engine(source_pts, target_pts)
        ik_res_detached = {k: v.detach() for k, v in ik_res.items()}
        nan_mask = torch.isnan(ik_res_detached['trans']).sum(-1) != 0
        if nan_mask.sum() != 0:
            raise ValueError('Sum results were NaN!')
        # --- end of the tutorial's code ---
        fitted = source_pts(ik_res_detached)["source_kpts"]
        errors.append((fitted - target_pts).norm(dim=-1).mean().item())
        assert ik_res_detached["betas"].shape == (4, 16)
        assert (ik_res_detached["betas"][:, 10:] == 0).all()  # beyond the body's 10: unused
    assert max(errors) < 0.05  # metres, mean over the 22 joints
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) > 20 and all(LINE.match(line) for line in lines), lines[:3]
    assert lines[0].startswith("it 1 -- ")


def test_progress_goes_to_the_logger_and_verbosity_0_is_silent(scene, capsys):
    from human_body_prior.models.ik_engine import IK_Engine
    from human_body_prior.tools.omni_tools import log2file

    root, model = scene
    body = vposer.load_body()
    target = body(pose_body=model.sample(2, seed=3).axis_angle).joints

    def source(params):
        out = body(pose_body=params["pose_body"], root_orient=params["root_orient"],
                   trans=params["trans"], vertices=False)
        return {"source_kpts": out.joints, "body": out}

    args = {"type": "LBFGS", "max_iter": 5}
    lines = []
    IK_Engine(str(root / "vposer_open"), optimizer_args=args, logger=lines.append,
              stepwise_weights=[{"data": 1.0, "poZ_body": 0.1}, {"data": 1.0}])(source, target)
    assert lines and lines[0].startswith("it 1 -- [total loss = ") and "betas" not in lines[0]
    assert re.match(r"it \d+ -- \[total loss = \S+\] - data = \S+$", lines[-1])  # stage 2: data only
    assert int(lines[-1].split()[1]) == len(lines)  # the count runs on across stages
    logged = []

    class Handler(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())

    log = logging.getLogger("ik-test")
    log.addHandler(Handler())
    log.setLevel(logging.INFO)
    IK_Engine(str(root / "vposer_open"), optimizer_args=args, logger=log)(source, target)
    assert logged and logged[0].startswith("it 1")
    capsys.readouterr()
    IK_Engine(str(root / "vposer_open"), optimizer_args=args, verbosity=0)(source, target)
    IK_Engine(str(root / "vposer_open"), optimizer_args=args, verbosity=1,
              logger=log2file(str(root / "ik.log"), write2file_only=True))(source, target)
    assert capsys.readouterr().err == ""
    assert (root / "ik.log").read_text().startswith("it 1 -- ")


def test_original_helpers_and_options(scene):
    from human_body_prior.models.ik_engine import AdamInClosure, IK_Engine, ik_fit, visualize
    from human_body_prior.models.vposer_model import VPoser
    from human_body_prior.tools.model_loader import load_model

    root, model = scene
    body = vposer.load_body()
    target = body(pose_body=model.sample(2, seed=4).axis_angle).joints

    def source(params):
        out = body(pose_body=params["pose_body"], root_orient=params["root_orient"],
                   trans=params["trans"])
        return {"source_kpts": out.joints, "body": out}

    vp, _ = load_model(str(root / "vposer_open"), model_code=VPoser)
    free = {"poZ_body": torch.zeros(2, 32, requires_grad=True), "betas": torch.zeros(2, 16, requires_grad=True),
            "trans": torch.zeros(2, 3, requires_grad=True), "root_orient": torch.zeros(2, 3, requires_grad=True)}
    seen = []
    optimizer = AdamInClosure(list(free.values()), lr=0.05, max_iter=20)
    closure = ik_fit(optimizer, source, {"target_kpts": target}, vp,
                     extra_params={"data_loss": torch.nn.MSELoss(reduction="sum")},
                     on_step=visualize(target, None, None, None, verbosity=1, logger=seen.append))
    first = float(closure({"data": 1.0, "poZ_body": 0.01}, free).detach())
    optimizer.step(lambda: closure({"data": 1.0, "poZ_body": 0.01}, free))
    assert closure.gstep == 21 and closure.final_loss < first and len(seen) == 21
    assert closure.free_vars["pose_body"].shape == (2, 63)
    with pytest.raises(ValueError, match="data"):
        IK_Engine(str(root / "vposer_open"), None, stepwise_weights=[{"poZ_body": 1.0}])
    with pytest.raises(ValueError, match="LBFGS"):
        IK_Engine(str(root / "vposer_open"), None, optimizer_args={"type": "SGD"})
    ik = IK_Engine(str(root / "vposer_open"), None, verbosity=0)  # ADAM, SmoothL1, the defaults
    assert ik.optimizer_args["tolerance_change"] == 1e-5 and ik.optimizer_args["max_iter"] == 100
    z0 = torch.randn(2, 32) * 0.1
    still = IK_Engine(str(root / "vposer_open"), None, verbosity=0,
                      optimizer_args={"type": "ADAM", "max_iter": 0})
    assert torch.equal(still(source, target, {"poZ_body": z0})["poZ_body"], z0)  # a given code
