"""``human_body_prior.body_model``: lbs functions against the ``smplx`` oracle, the lazy outputs,
betas wider than the body's, the open body under the SMPL-family types, rigid objects."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from human_body_prior.body_model.body_model import BodyModel, BodyModelWithPoser
from vposer.body import load_body, open_body_path
from vposer.body.synthetic import random_body_arrays
from vposer.errors import InputError


@pytest.fixture(scope="module")
def smplx_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("body") / "smplx.npz"
    np.savez(path, **random_body_arrays("smplx", seed=4, num_shape_components=400))
    return path


def test_lbs_functions_match_smplx(smplx_file):
    from smplx import lbs as oracle

    from human_body_prior.body_model import lbs

    a = {k: torch.as_tensor(v.astype(np.float64) if v.dtype.kind == "f" else v.astype(np.int64))
         for k, v in np.load(smplx_file).items()}
    parents = a["kintree_table"][0].clone()
    parents[0] = -1
    g = torch.Generator().manual_seed(0)
    betas = torch.randn(3, 10, generator=g, dtype=torch.float64)
    pose = torch.randn(3, 165, generator=g, dtype=torch.float64) * 0.3
    shapedirs = a["shapedirs"][:, :, :10]
    posedirs = a["posedirs"].reshape(-1, 486).t().contiguous()
    args = (betas, pose, a["v_template"], shapedirs, posedirs, a["J_regressor"], parents, a["weights"])
    verts, joints = lbs.lbs(*args, dtype=torch.float64)
    ref_verts, ref_joints = oracle.lbs(*args, pose2rot=True)
    # smplx's Rodrigues adds 1e-8 to every angle: agreement to ~1e-8 in float64
    assert (verts - ref_verts).abs().max() < 1e-7 and (joints - ref_joints).abs().max() < 1e-7
    rot = lbs.batch_rodrigues(pose.reshape(-1, 3)).reshape(3, -1, 3, 3)
    by_matrix, _ = lbs.lbs(betas, rot, a["v_template"], shapedirs, posedirs, a["J_regressor"], parents,
                           a["weights"], pose2rot=False)
    assert (by_matrix - verts).abs().max() < 1e-10
    rest = lbs.vertices2joints(a["J_regressor"], a["v_template"].expand(3, -1, -1))
    posed, transforms = lbs.batch_rigid_transform(rot, rest, parents)
    ref_posed, ref_transforms = oracle.batch_rigid_transform(rot, rest, parents, dtype=torch.float64)
    assert (posed - ref_posed).abs().max() < 1e-10 and (transforms - ref_transforms).abs().max() < 1e-10
    assert torch.allclose(lbs.blend_shapes(betas, shapedirs), oracle.blend_shapes(betas, shapedirs))
    tm = lbs.transform_mat(rot[:, 0], torch.ones(3, 3, 1, dtype=torch.float64))
    assert torch.allclose(tm, oracle.transform_mat(rot[:, 0], torch.ones(3, 3, 1, dtype=torch.float64)))
    faces = a["f"].long()
    idx = torch.tensor([0, 5, 9])
    bary = torch.full((3, 3), 1 / 3, dtype=torch.float64)
    landmarks = lbs.vertices2landmarks(verts, faces, idx, bary)
    assert torch.allclose(landmarks, oracle.vertices2landmarks(verts, faces, idx.repeat(3, 1),
                                                               bary.repeat(3, 1, 1)))
    lut_faces, lut_bary = torch.arange(79), torch.rand(79, 17, 3, dtype=torch.float64)
    chain = torch.tensor([15, 12, 9, 6, 3, 0])
    for turn in (-1.2, -0.3, 0.0, 0.4, 1.0):  # head turned about y, both signs and beyond 39 deg
        p = torch.zeros(3, 165, dtype=torch.float64)
        p[:, 15 * 3 + 1] = turn
        ours = lbs.find_dynamic_lmk_idx_and_bcoords(verts, p, lut_faces, lut_bary, chain)
        theirs = oracle.find_dynamic_lmk_idx_and_bcoords(verts, p, lut_faces, lut_bary, chain,
                                                         pose2rot=True)
        assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert lbs.to_np([[1, 2]]).dtype == np.float32 and lbs.to_tensor([1.0]).dtype == torch.float32
    assert lbs.Struct(a=1).a == 1 and lbs.rot_mat_to_euler(rot[:, 1]).shape == (3,)


def test_outputs_skin_the_mesh_only_when_read(smplx_file, monkeypatch):
    bm = BodyModel(str(smplx_file), num_betas=16)
    core = load_body(smplx_file, num_betas=16, num_expressions=0)
    g = torch.Generator().manual_seed(1)
    params = {"pose_body": torch.randn(4, 63, generator=g) * 0.4, "betas": torch.randn(4, 16, generator=g),
              "root_orient": torch.randn(4, 3, generator=g), "trans": torch.randn(4, 3, generator=g)}
    ref = core(**params)
    calls = []
    forward = type(bm.core).forward

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("vertices", True))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(bm.core), "forward", counting)
    out = bm(**params)
    assert calls == [False]  # the joints alone so far
    assert torch.allclose(out.Jtr, ref.joints, atol=1e-5) and out.full_pose.shape == (4, 165)
    assert torch.allclose(out.v, ref.vertices, atol=1e-5) and calls == [False, True]
    assert out["v"] is out.v and calls == [False, True]  # computed once
    assert set(out) >= {"v", "Jtr", "f", "full_pose", "pose_body", "betas"}
    monkeypatch.undo()
    plain = bm(**params, return_dict=True)
    assert isinstance(plain, dict) and torch.allclose(plain["v"], ref.vertices, atol=1e-5)
    out.extra = 1  # the original's results took new attributes
    assert out.extra == 1
    with pytest.raises(InputError, match="pose_body has 60 values"):  # still checked at once
        bm(pose_body=torch.zeros(2, 60))


def test_gradients_reach_the_parameters_through_the_joints(smplx_file):
    bm = BodyModel(str(smplx_file), num_betas=16)
    params = {k: torch.zeros(2, w, requires_grad=True) for k, w in
              (("pose_body", 63), ("betas", 16), ("root_orient", 3), ("trans", 3))}
    params["pose_body"].data.normal_(0, 0.3)
    bm(**params).Jtr.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())


def test_betas_wider_than_the_body(smplx_file):
    """The IK tutorials pass 16 betas to a 10-beta body: zero extras are dropped, others
    refused; narrower betas are zero-padded."""
    bm = BodyModel(str(smplx_file))  # num_betas=10
    wide = torch.zeros(2, 16)
    wide[:, :10] = torch.randn(2, 10)
    assert torch.allclose(bm(betas=wide).Jtr, bm(betas=wide[:, :10]).Jtr)
    assert torch.allclose(bm(betas=wide[:, :4]).Jtr, bm(betas=torch.cat([wide[:, :4], torch.zeros(2, 6)], 1)).Jtr)
    wide[1, 12] = 0.5
    with pytest.raises(InputError, match="betas has 16 values per row, this body model uses 10"):
        bm(betas=wide)
    with pytest.raises(InputError, match="expression"):
        BodyModel(str(smplx_file), num_expressions=10)(expression=torch.ones(1, 20))


@pytest.mark.parametrize("kind, hands", [("smplx", 90), ("smplh", 90), ("smpl", 6)])
def test_open_body_under_smpl_family_types(kind, hands):
    """``BodyModel(<open body>, 'smplx')``: hands, face and expression accepted and ignored."""
    open_core = load_body()
    bm = BodyModel(open_body_path(), kind)
    assert bm.model_type == kind and bm.pose_hand.shape == (1, hands) and bm.betas.shape == (1, 10)
    pose = torch.randn(2, 63) * 0.3
    extra = {"pose_hand": torch.ones(2, hands)}
    if kind == "smplx":
        extra.update(pose_jaw=torch.ones(2, 3), pose_eye=torch.ones(2, 6), expression=torch.ones(2, 10))
    out = bm(pose_body=pose, **extra)
    assert torch.allclose(out.v, open_core(pose_body=pose).vertices, atol=1e-6)
    assert out.Jtr.shape == (2, 22, 3)
    if kind == "smpl":
        full = torch.cat([pose, torch.ones(2, 6)], 1)  # SMPL's 69-wide body pose
        assert torch.allclose(bm(pose_body=full).Jtr, out.Jtr, atol=1e-6)
    v2 = BodyModel(open_body_path(), model_type=kind)  # the v2 keyword
    assert list(v2.parameters()) == [] and v2(pose_body=pose).v.shape == (2, 13380, 3)
    with pytest.raises(InputError, match="betas"):
        bm(betas=torch.ones(1, 10))


def test_v2_positional_orders(smplx_file):
    later = BodyModel(str(smplx_file), 12, None, None, 5, True, None, torch.float64)
    assert (later.num_betas, later.num_expressions, later.dtype) == (12, 5, torch.float64)
    first = BodyModel(str(smplx_file), 12, None, None, 5, True, torch.float64)
    assert first.dtype == torch.float64 and first.num_expressions == 5
    assert BodyModel(str(smplx_file), num_betas=0).num_betas == 300  # < 1: every component
    assert BodyModel(str(smplx_file)).r().shape == (1, 10475, 3)


def test_rigid_object_model(tmp_path):
    import trimesh

    from human_body_prior.body_model.rigid_object_model import RigidObjectModel

    box = trimesh.creation.box()
    box.export(tmp_path / "box.ply")
    obj = RigidObjectModel(str(tmp_path / "box.ply"), batch_size=2)
    root, trans = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 0.0]]), torch.ones(2, 3)
    out = obj(root, trans)
    from vposer.rotations import axis_angle_to_matrix

    expected = torch.as_tensor(box.vertices, dtype=torch.float32) @ axis_angle_to_matrix(root[0]) + 1
    assert out.v.shape == (2, 8, 3) and torch.allclose(out.v[0], expected, atol=1e-6)
    assert out.f.shape == (12, 3) and obj(None, None).v.shape == (2, 8, 3)


def test_body_model_with_poser(v1_dir):
    bm = BodyModelWithPoser(poser_type="vposer", smpl_exp_dir=str(v1_dir), bm_path=open_body_path(),
                            model_type="smplh", batch_size=2)
    assert bm.poZ_body.shape == (2, 32) and not bm.pose_body.requires_grad
    out = bm()
    assert out.v.shape == (2, 13380, 3) and out.poZ_body is bm.poZ_body
    out.Jtr.sum().backward()
    assert bm.poZ_body.grad is not None
    bm.randomize_pose()
    assert bm.poZ_body.abs().sum() > 0
    with pytest.raises(InputError, match="hand pose priors"):
        BodyModelWithPoser("vposer", str(v1_dir), mano_exp_dir="x", bm_path=open_body_path(),
                           model_type="smplh")
