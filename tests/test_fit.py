"""Fitting with the prior (IK), plausibility scores, pose completion, `vposer fit` / `vposer score`,
and the compat IK_Engine.

Fitting tests use a VPoser built here with a fixed seed (no ../shared needed): default-initialised
decoders produce near-uniform random rotations (mean joint angle ~2.2 rad), so the output layer is
scaled down and biased to the identity, which gives poses of a realistic amplitude (mean joint
angle ~0.25 rad) on the same network. Likelihood and completion tests need a prior trained on
real poses: the shipped default weights (trained on the CMU train takes) with the retargeted CMU
poses of ../shared (skipped when either is absent).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import vposer
from vposer.errors import InputError
from vposer.fit import (
    BodyPoints,
    calibrate_threshold,
    complete,
    elbo,
    fit,
    joint_targets,
    keypoint_targets,
    load_targets,
    log_likelihood,
    marker_targets,
)
from vposer.fit.init import kabsch
from vposer.fit.robust import penalty
from vposer.model import VPoserConfig, build_model
from vposer.rotations import axis_angle_to_matrix, matrix_to_axis_angle

from conftest import SHARED


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small batches: a second thread only adds synchronisation stalls on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def body():
    return vposer.load_body()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model(VPoserConfig("v2", num_neurons=256))
    with torch.no_grad():
        m.decoder_net[5].weight.mul_(1.5)
        m.decoder_net[5].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(21))
    return m.eval()


def _scene(model, body, n, seed=1):
    """Prior samples posed with random root orientations and translations: (params, joints)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        dec = model.decode(model.sample_latent(n, generator=g))
        root, trans = torch.randn(n, 3, generator=g) * 0.5, torch.randn(n, 3, generator=g)
        out = body(pose_body=dec.pose_body, root_orient=root, trans=trans)
    return (dec.pose_body, root, trans), out


def _joints_of(body, result):
    with torch.no_grad():
        return body(pose_body=result.pose_body, root_orient=result.root_orient,
                    trans=result.trans).joints


# -- building blocks ----------------------------------------------------------------------------
def test_body_points_match_the_full_forward_pass(body, tmp_path):
    from vposer.body.synthetic import random_body_arrays

    np.savez(tmp_path / "smplx.npz", **random_body_arrays("smplx", seed=3))
    g = torch.Generator().manual_seed(0)
    for model_body, betas in ((body, None), (vposer.load_body(tmp_path / "smplx.npz"), 10)):
        idx = torch.tensor([0, 17, 400, model_body.num_vertices - 1])
        points = BodyPoints(model_body, idx)
        assert points.fast
        pose = torch.randn(3, 21, 3, generator=g) * 0.5
        root, trans = torch.randn(3, 3, generator=g), torch.randn(3, 3, generator=g)
        b = None if betas is None else torch.randn(3, betas, generator=g)
        ref = model_body(pose_body=pose, root_orient=root, trans=trans, betas=b)
        joints, verts = points(axis_angle_to_matrix(pose), root, trans, b)
        assert torch.allclose(joints, ref.joints, atol=1e-5)
        assert torch.allclose(verts, ref.vertices[:, idx], atol=1e-5)


def test_robust_penalties_match_d2_near_zero_and_bound_outliers():
    d2 = torch.tensor([0.0, 1e-4, 0.01, 1.0, 100.0], dtype=torch.float64, requires_grad=True)
    for name in ("l2", "gmof", "smooth_l1"):
        rho = penalty(name, 0.1)
        value = rho(d2)
        assert torch.allclose(value[:2], d2[:2], rtol=1e-2)
        grad, = torch.autograd.grad(value.sum(), d2)
        assert torch.allclose(grad, rho.weight(d2.detach()), rtol=1e-6)  # IRLS weight = d rho/d d2
    assert penalty("gmof", 0.1)(d2)[-1] < 0.01 + 1e-12  # saturates at scale^2
    assert penalty("smooth_l1", 0.1)(d2)[-1].item() == pytest.approx(2 * 0.1 * 10 - 0.01)
    with pytest.raises(InputError):
        penalty("gmof", 0.0)
    with pytest.raises(InputError):
        penalty("cauchy", 1.0)


def test_kabsch_recovers_a_rotation_and_ignores_masked_points():
    g = torch.Generator().manual_seed(0)
    src = torch.randn(4, 10, 3, generator=g, dtype=torch.float64)
    rot = axis_angle_to_matrix(torch.randn(4, 3, generator=g, dtype=torch.float64))
    dst = src @ rot.transpose(1, 2) + 2.0
    w = torch.ones(4, 10, dtype=torch.float64)
    w[:, :3] = 0
    dst[:, :3] += 5.0  # outliers with zero weight
    assert torch.allclose(kabsch(src, dst, w), rot, atol=1e-9)


def test_targets_validate_and_mark_missing(tmp_path):
    joints = np.zeros((2, 22, 3))
    joints[0, 5] = np.nan
    t = joint_targets(joints)
    assert t.confidence[0, 5] == 0 and t.confidence.sum() == 43 and torch.isfinite(t.points).all()
    with pytest.raises(InputError, match="confidence"):
        joint_targets(joints, confidence=np.ones(5))
    with pytest.raises(InputError, match="marker_vertices"):
        marker_targets(joints, None)
    np.savez(tmp_path / "t.npz", keypoints2d=np.zeros((2, 5, 2)))
    with pytest.raises(InputError, match="t.npz.*'K'"):
        load_targets(tmp_path / "t.npz")


# -- fitting ------------------------------------------------------------------------------------
def test_recovers_a_prior_sample_from_its_joints(model, body):
    _, out = _scene(model, body, 6)
    result = fit(model, body, joint_targets(out.joints))
    assert result.mean_error.mean() < 5e-3  # metres, on the open body
    assert torch.allclose(_joints_of(body, result), out.joints, atol=0.03)
    assert result.pose_body.shape == (6, 63) and result.z.shape == (6, 32)
    assert result.residuals.shape == (6, 22) and result.converged.dtype == torch.bool


def test_recovers_from_60_percent_of_the_joints(model, body):
    _, out = _scene(model, body, 6, seed=2)
    conf = torch.ones(6, 22)
    g = torch.Generator().manual_seed(5)
    for i in range(6):
        conf[i, torch.randperm(22, generator=g)[:9]] = 0  # 13 of 22 joints seen
    result = fit(model, body, joint_targets(out.joints, confidence=conf))
    assert torch.isnan(result.residuals[conf == 0]).all()
    assert result.mean_error.mean() < 5e-3  # the visible joints
    everywhere = (_joints_of(body, result) - out.joints).norm(dim=-1)
    assert everywhere.mean() < 0.02  # hidden joints follow from the prior


def test_noisy_joints_fit_to_the_noise_level(model, body):
    _, out = _scene(model, body, 6, seed=3)
    noisy = out.joints + 0.01 * torch.randn(out.joints.shape, generator=torch.Generator().manual_seed(4))
    noise = (noisy - out.joints).norm(dim=-1).mean()
    result = fit(model, body, joint_targets(noisy))
    to_clean = (_joints_of(body, result) - out.joints).norm(dim=-1).mean()
    assert to_clean < noise  # the fit removes part of the noise
    assert 0.5 * noise < result.mean_error.mean() < 1.1 * noise  # and does not chase it


def test_markers_and_robust_outliers(model, body):
    _, out = _scene(model, body, 4, seed=6)
    idx = torch.arange(0, body.num_vertices, body.num_vertices // 40)[:40]
    markers = out.vertices[:, idx].clone()
    markers[:, 0] += 0.5  # one mislabelled marker, half a metre off
    robust = fit(model, body, marker_targets(markers, idx))
    plain = fit(model, body, marker_targets(markers, idx), robust="l2")
    good_robust = robust.residuals[:, 1:].mean()
    assert good_robust < 0.01
    assert good_robust < 0.5 * plain.residuals[:, 1:].mean()
    assert (robust.residuals[:, 0] > 0.4).all()  # the outlier is left alone


def test_fits_2d_keypoints_with_a_known_camera(model, body):
    (_, _, trans), out = _scene(model, body, 4, seed=7)
    K = torch.tensor([[800.0, 0, 400], [0, 800.0, 300], [0, 0, 1]])
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # camera on +z looking at the body
    t = torch.tensor([0.0, 0.0, 6.0])
    cam = out.joints @ R.T + t
    kp = cam[..., :2] / cam[..., 2:] @ K[:2, :2].T + K[:2, 2]
    result = fit(model, body, keypoint_targets(kp, K, R, t))
    assert result.mean_error.mean() < 2.0  # pixels
    depth = (result.trans - trans)[:, 2].abs()  # camera axis = world z
    assert depth.max() < 0.5


def test_lbfgs_and_adam_also_fit(model, body):
    _, out = _scene(model, body, 3, seed=8)
    targets = joint_targets(out.joints)
    lbfgs = fit(model, body, targets, optimizer="lbfgs")
    adam = fit(model, body, targets, optimizer="adam", max_iters=150)
    assert lbfgs.mean_error.mean() < 0.015 and adam.mean_error.mean() < 0.03
    assert fit(model, body, targets, restarts=2, max_iters=20).mean_error.shape == (3,)


def test_fit_cli_writes_parameters_and_overlay(model, body, tmp_path):
    from vposer.cli import main

    vposer.save_model(model, tmp_path / "model")
    _, out = _scene(model, body, 2, seed=9)
    np.savez(tmp_path / "targets.npz", joints=out.joints.numpy())
    assert main(["fit", str(tmp_path / "targets.npz"), "-m", str(tmp_path / "model"), "-o",
                 str(tmp_path / "fitted.npz"), "--max-iters", "20"]) == 0
    with np.load(tmp_path / "fitted.npz") as d:
        assert d["pose_body"].shape == (2, 63) and d["residuals"].shape == (2, 22)
        assert np.nanmean(d["mean_error"]) < 0.01
    assert main(["fit", str(tmp_path / "missing.npz"), "-m", str(tmp_path / "model")]) == 1


@pytest.mark.render
def test_overlay_picture_shows_targets_on_the_body(model, body, tmp_path):
    from vposer.fit.overlay import TARGET_COLOR, render_overlay
    from vposer.render import gl_available

    if not gl_available()[0]:
        pytest.skip("no headless OpenGL context")
    _, out = _scene(model, body, 1, seed=10)
    image = render_overlay(out.vertices, out.faces, out.joints, out.joints + 0.05, size=200,
                           path=tmp_path / "o.png")
    assert image.shape == (200, 400, 3) and (tmp_path / "o.png").is_file()
    red = (np.abs(image.astype(int) - TARGET_COLOR).sum(-1) < 60).sum()
    grey = (image.std(-1) < 8) & (image.mean(-1) < 230)
    assert red > 20 and grey.sum() > 2000  # dots drawn over a rendered body


# -- compat IK engine ---------------------------------------------------------------------------
class _SourceJoints(torch.nn.Module):
    """The tutorials' source-keypoint module: the body's joints from the body parameters."""

    def __init__(self, body):
        super().__init__()
        self.body, self.kpts_colors, self.bm_f = body, None, body.faces

    def forward(self, body_params):
        out = self.body(pose_body=body_params["pose_body"], root_orient=body_params["root_orient"],
                        trans=body_params["trans"])
        return {"source_kpts": out.joints, "body": out}


def test_ik_engine_compat(model, body, tmp_path):
    from human_body_prior.models.ik_engine import IK_Engine

    vposer.save_model(model, tmp_path / "model")
    (pose, _, _), _ = _scene(model, body, 2, seed=11)
    with torch.no_grad():
        target = body(pose_body=pose).joints
    source = _SourceJoints(body)
    loss = torch.nn.MSELoss(reduction="sum")
    ik = IK_Engine(str(tmp_path / "model"), loss, optimizer_args={"type": "LBFGS", "max_iter": 50},
                   stepwise_weights=[{"data": 10.0, "poZ_body": 1e-3}], verbosity=0)
    out = ik(source, target, {})
    assert set(out) == {"poZ_body", "root_orient", "trans", "betas", "pose_body"}
    assert out["pose_body"].shape == (2, 63) and out["betas"].shape == (2, 16)
    assert (out["betas"] == 0).all()  # betas absent from the source's parameters: no gradient
    with torch.no_grad():
        fitted = body(pose_body=out["pose_body"], root_orient=out["root_orient"],
                      trans=out["trans"]).joints
    assert (fitted - target).norm(dim=-1).mean() < 0.02
    adam = IK_Engine(str(tmp_path / "model"), loss, verbosity=0)
    before = loss(source({"pose_body": torch.zeros(2, 63), "root_orient": torch.zeros(2, 3),
                          "trans": torch.zeros(2, 3)})["source_kpts"], target)
    out = adam(source, target, {"pose_body": pose})  # starts at the encoder mean of the pose
    after = loss(source(out)["source_kpts"], target)
    assert after < before


def test_ik_engine_takes_the_original_options_and_starting_point(model, body, tmp_path):
    """ADAM with the original's option names, betas narrower than ``num_betas``, no data loss
    (SmoothL1), and the default start: the encoder mean of the zero pose, not z = 0."""
    from human_body_prior.models.ik_engine import IK_Engine

    vposer.save_model(model, tmp_path / "model")
    (pose, _, _), _ = _scene(model, body, 2, seed=12)
    with torch.no_grad():
        target = body(pose_body=pose).joints
    source = _SourceJoints(body)
    still = IK_Engine(str(tmp_path / "model"), None, verbosity=0,
                      optimizer_args={"type": "ADAM", "max_iter": 0, "tolerance_change": 1e-5})
    out = still(source, target, {"betas": torch.zeros(2, 10)})
    with torch.no_grad():
        start = model.encode(torch.zeros(2, 63)).mean
    assert torch.equal(out["poZ_body"], start) and start.abs().max() > 0
    assert out["betas"].shape == (2, 10)
    adam = IK_Engine(str(tmp_path / "model"), torch.nn.MSELoss(reduction="sum"), verbosity=0,
                     optimizer_args={"type": "ADAM", "max_iter": 30, "lr": 0.05,
                                     "tolerance_change": 1e-5})
    moved = adam(source, target, {})
    assert not torch.equal(moved["poZ_body"], start)


# -- likelihood ---------------------------------------------------------------------------------
def test_likelihood_is_seeded_and_bounded_by_the_elbo(model):
    poses = model.sample(8, seed=3).axis_angle
    a = log_likelihood(model, poses, samples=8)
    assert torch.equal(a, log_likelihood(model, poses, samples=8, seed=0))
    assert not torch.equal(a, log_likelihood(model, poses, samples=8, seed=1))
    assert torch.equal(a, model.log_likelihood(poses, samples=8))
    many = log_likelihood(model, poses, samples=256)
    assert (elbo(model, poses, samples=64) <= many + 0.5).all()  # IWAE bound >= ELBO
    assert a.dtype == torch.float64 and a.shape == (8,)
    assert torch.isfinite(log_likelihood(model, torch.full((2, 63), 3.0))).all()  # odd inputs


def test_score_cli_ranks_least_plausible_first(model, tmp_path, capsys):
    from vposer.cli import main

    vposer.save_model(model, tmp_path / "model")
    poses = model.sample(6, seed=1).pose_body.numpy()
    poses[2] = _turn_three_joints(torch.from_numpy(poses[2:3]), torch.Generator().manual_seed(0))[0]
    np.savez(tmp_path / "poses.npz", pose_body=poses)
    args = ["score", str(tmp_path / "poses.npz"), "-m", str(tmp_path / "model"), "--samples", "4",
            "-o", str(tmp_path / "scores.npz")]
    assert main(args + ["--calibrate", str(tmp_path / "poses.npz"), "--quantile", "0.3",
                        "--write-calibration", str(tmp_path / "model")]) == 0
    with np.load(tmp_path / "scores.npz") as d:
        scores, order = d["scores"], d["order"]
        assert np.all(np.diff(scores[order]) >= 0) and order[0] == 2  # the broken pose first
        assert d["implausible"].sum() == 2 and d["implausible"][2]
    assert (tmp_path / "model" / "plausibility.json").is_file()
    capsys.readouterr()
    assert main(args[:-2]) == 0  # the stored calibration is found beside the model
    assert "plausibility.json" in capsys.readouterr().out


# -- trained prior: plausibility and completion --------------------------------------------------
def _cmu_poses(step: int = 4):
    from vposer.data.retarget import Retargeter
    from vposer.data.skeleton import body_skeleton
    from vposer.data.sources import find_takes, read_take

    target, cache, files, out = body_skeleton(None), {}, {}, {"train": [], "test": []}
    for found in find_takes(SHARED / "data" / "cmu"):
        take = read_take(found, cache=files)
        key = (tuple(take.skeleton.names), tuple(int(i) for i in take.mapping))
        if key not in cache:
            cache[key] = Retargeter.build(take.skeleton, target, take.mapping)
        out[found.source_split].append(cache[key](take.global_rot[::step]).pose_body)
    return {k: torch.as_tensor(np.concatenate(v)) for k, v in out.items()}


@pytest.fixture(scope="module")
def trained():
    """(model, train poses, held-out poses): the shipped default weights (trained on all of
    ../shared's motion capture, the CMU train takes among it) and the retargeted CMU poses of
    ../shared; held-out = that source's test takes (test takes of the weights too)."""
    if not (SHARED / "data" / "cmu").exists():
        pytest.skip("../shared/data/cmu is absent (only in the project's workplace)")
    try:
        model = vposer.load_model()
    except vposer.CheckpointError:
        pytest.skip("no shipped default weights: these tests need a prior trained on real poses")
    poses = _cmu_poses()
    g = torch.Generator().manual_seed(0)
    heldout = poses["test"][torch.randperm(len(poses["test"]), generator=g)[:400]]
    return model, poses["train"], heldout


def _turn_three_joints(poses, g):
    n = len(poses)
    x = poses.reshape(n, 21, 3).clone()
    joints = torch.stack([torch.randperm(21, generator=g)[:3] for _ in range(n)])
    axis = torch.nn.functional.normalize(torch.randn(n, 3, 3, generator=g), dim=-1)
    angle = torch.deg2rad(60 + 60 * torch.rand(n, 3, generator=g))
    rows = torch.arange(n)[:, None]
    turned = axis_angle_to_matrix(axis * angle[..., None]) @ axis_angle_to_matrix(x[rows, joints])
    x[rows, joints] = matrix_to_axis_angle(turned)
    return x.reshape(n, 63)


def test_likelihood_separates_real_from_broken_poses(trained):
    model, _, heldout = trained
    broken = _turn_three_joints(heldout, torch.Generator().manual_seed(1))
    good, bad = log_likelihood(model, heldout), log_likelihood(model, broken)
    auc = (good[:, None] > bad[None, :]).double().mean()
    assert auc > 0.95
    threshold = calibrate_threshold(model, heldout, quantile=0.05)
    assert (good < threshold).double().mean() == pytest.approx(0.05, abs=0.01)
    assert (bad < threshold).double().mean() > 0.9


def test_completions_are_plausible_and_diverse(trained):
    from vposer.evaluate import RotationRanges

    model, train, heldout = trained
    # the CMU source's ranges, widened by the observation model's scale (0.1 rad): decoders
    # reproduce joints the data never moves (CMU's collars are always 0) to a few degrees
    ranges = RotationRanges.fit(train, margin=0.1)
    threshold = calibrate_threshold(model, heldout, quantile=0.05)
    legs = torch.zeros(21, dtype=torch.bool)
    legs[[0, 1, 3, 4, 6, 7, 9, 10]] = True  # hips, knees, ankles, feet known
    outside = []
    for i in range(3):
        out = complete(model, heldout[i], legs, k=4, seed=i)
        assert out.poses.shape == (4, 21, 3)
        assert torch.equal(out.poses[:, legs], heldout[i].reshape(21, 3)[legs].expand(4, -1, -1))
        outside.append(ranges.outside(out.poses.reshape(4, 63))[:, ~legs])
        assert (out.scores > threshold).all()
        assert out.known_error.max() < 0.25  # radians, mean over the known joints
        spread = out.poses[:, ~legs].std(0).norm(dim=-1).mean()
        assert spread > math.radians(2)  # the completions differ
    # the prior spans more than CMU (its free samples leave the CMU ranges at ~6 % of these
    # joints); completing CMU legs keeps the rest of the body CMU-like: the held-out poses leave
    # those ranges at 1 % of the joints, the completions at no more than 5 % and less than the
    # free samples do
    completed = torch.cat(outside).double().mean()
    free = ranges.outside(model.sample(2000, seed=0).pose_body.reshape(-1, 63))[:, ~legs]
    assert completed <= 0.05
    assert completed < 0.5 * free.double().mean()


def test_singular_camera_is_refused():
    from vposer.errors import InputError
    from vposer.fit.targets import keypoint_targets

    with pytest.raises(InputError, match="singular"):
        keypoint_targets(np.zeros((1, 22, 2)), np.diag([0.0, 500.0, 1.0]))


def test_fit_in_inference_mode_is_refused_and_dtypes_follow_the_body(model):
    from vposer.errors import InputError
    from vposer.fit.targets import joint_targets

    body64 = vposer.load_body(dtype=torch.float64)
    with torch.no_grad():
        target = body64(pose_body=model.sample(2, seed=4).pose_body.double()).joints
    targets = joint_targets(target)
    with torch.inference_mode(), pytest.raises(InputError, match="inference_mode"):
        fit(model, body64, targets, max_iters=2)
    result = fit(model, body64, targets, max_iters=2)
    assert result.pose_body.dtype == result.z.dtype == result.trans.dtype == torch.float64
