"""``human_body_prior.body_model.body_model.BodyModel``: the original v1 and v2 signatures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from human_body_prior.body_model.body_model import BodyModel
from vposer.body import load_body
from vposer.body.synthetic import random_body_arrays
from vposer.errors import BodyModelError, InputError


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("compat")
    out = {}
    for kind, shapes in (("smpl", 10), ("smplh", 16), ("smplx", 20), ("mano", 10)):
        out[kind] = root / f"{kind}.npz"
        np.savez(out[kind], **random_body_arrays(kind, seed=len(kind), num_shape_components=shapes))
    return out


def test_v1_signature_parameters_and_override(paths):
    bm = BodyModel(paths["smplx"], "smplx", batch_size=2)  # the seed's BodyModel(bm_path, 'smplx')
    names = dict(bm.named_parameters())
    assert set(names) == {"root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye",
                          "betas", "trans", "expression"}
    assert names["pose_body"].shape == (2, 63) and names["pose_hand"].shape == (2, 90)
    assert names["betas"].shape == (2, 10) and names["expression"].shape == (2, 10)
    out = bm()
    assert out.v.shape == (2, 10475, 3) and out.Jtr.shape == (2, 55, 3)
    assert out.f.shape == (20908, 3) and out.full_pose.shape == (2, 165)
    assert torch.equal(out.f, bm.f)
    core = load_body(paths["smplx"])
    with torch.no_grad():
        bm.pose_body[:] = torch.randn(2, 63) * 0.4
        bm.betas[:] = torch.randn(2, 10)
    expected = core(pose_body=bm.pose_body, betas=bm.betas)
    assert torch.allclose(bm().v, expected.vertices, atol=1e-6)
    override = torch.randn(2, 63) * 0.4  # a keyword overrides the parameter
    assert torch.allclose(bm(pose_body=override).v, core(pose_body=override, betas=bm.betas)
                          .vertices, atol=1e-6)
    # the parameters are trainable: gradients reach them
    bm().v.sum().backward()
    assert bm.root_orient.grad is not None and bm.root_orient.grad.abs().sum() > 0


def test_v1_params_dict_dtype_and_return_dict(paths):
    init = {"pose_body": np.full((1, 63), 0.1), "trans": np.array([[0.0, 1.0, 0.0]])}
    bm = BodyModel(paths["smplh"], "smplh", params=init, num_betas=16, dtype=torch.float64)
    assert bm.pose_body.dtype == torch.float64 and bm.betas.shape == (1, 16)
    res = bm(return_dict=True)
    assert isinstance(res, dict) and set(res) >= {"v", "Jtr", "f", "full_pose"}
    assert res["Jtr"].shape == (1, 52, 3)
    core = load_body(paths["smplh"], num_betas=16, dtype=torch.float64)
    expected = core(pose_body=init["pose_body"], trans=init["trans"])
    assert torch.allclose(res["v"], expected.vertices)


def test_v1_smpl_and_mano_widths(paths):
    smpl = BodyModel(paths["smpl"], "smpl")
    assert smpl.pose_hand.shape == (1, 6) and smpl().Jtr.shape == (1, 24, 3)
    wide = smpl(pose_body=torch.full((1, 69), 0.1))  # body and hands at once
    assert torch.allclose(wide.full_pose[0, 3:], torch.full((69,), 0.1))
    mano = BodyModel(paths["mano"], "mano")
    assert not hasattr(mano, "pose_body") or "pose_body" not in dict(mano.named_parameters())
    assert mano.pose_hand.shape == (1, 45) and mano().v.shape == (1, 778, 3)


def test_v2_signature_autodetects(paths):
    bm = BodyModel(paths["smplx"], num_betas=16)  # v2: no model type, nothing trainable
    assert bm.model_type == "smplx" and list(bm.parameters()) == []
    # the file holds 10 + 10; as the original v2, no expression components unless asked for
    assert (bm.num_betas, bm.num_expressions) == (10, 0)
    assert BodyModel(paths["smplx"], num_expressions=10).num_expressions == 10
    poses = torch.randn(3, 63) * 0.3
    out = bm(pose_body=poses, betas=torch.zeros(3, 10))
    assert out.v.shape == (3, 10475, 3) and not out.v.requires_grad
    core = load_body(paths["smplx"])
    assert torch.allclose(out.v, core(pose_body=poses).vertices, atol=1e-6)
    positional = BodyModel(paths["smplh"], 16)  # v2 positional num_betas
    assert positional.num_betas == 16 and positional.model_type == "smplh"


def test_errors_pass_through(paths, tmp_path):
    with pytest.raises(BodyModelError, match="a smplx model has 55"):
        BodyModel(paths["smplh"], "smplx")
    bm = BodyModel(paths["smpl"], "smpl", batch_size=2)
    with pytest.raises(InputError, match="pose_body has 60 values"):
        bm(pose_body=torch.zeros(2, 60))
    with pytest.raises(InputError, match="mismatched batch sizes"):
        bm(pose_body=torch.zeros(3, 63))
    with pytest.raises(TypeError):
        BodyModel()


def test_original_buffers_type_names_and_params_width(paths):
    """The arrays read as the original's buffers; v1 names ``mano_left`` / ``mano_right``;
    ``params['betas']`` sets ``num_betas``; a personalised rest shape is refused, not ignored."""
    arrays = random_body_arrays("smplh", seed=len("smplh"), num_shape_components=16)
    bm = BodyModel(paths["smplh"], "smplh", params={"betas": np.zeros((1, 16))})
    assert bm.num_betas == 16 and bm.betas.shape == (1, 16) and bm.dtype == torch.float32
    parents = torch.as_tensor(arrays["kintree_table"][0].astype(np.int32).astype(np.int64))
    assert torch.equal(bm.kintree_table, torch.stack([parents, torch.arange(52)]))
    assert bm.kintree_table[0, 0] == -1
    for name, value in [("v_template", arrays["v_template"]), ("weights", arrays["weights"]),
                        ("shapedirs", arrays["shapedirs"]), ("J_regressor", arrays["J_regressor"]),
                        ("posedirs", arrays["posedirs"].reshape(-1, 459).T)]:
        assert torch.equal(getattr(bm, name), torch.as_tensor(value)), name
    for side in ("mano_left", "mano_right"):
        assert BodyModel(paths["mano"], side).model_type == "mano"
    with pytest.raises(InputError, match="v_template"):
        bm(v_template=torch.zeros(6890, 3))
    assert bm(unknown_key=1).v.shape == (1, 6890, 3)  # other extra keywords: ignored, as before
