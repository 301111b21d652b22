"""``human_body_prior.tools``: called as the original's tests, tutorials and clients call them."""
from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from conftest import aa_close


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    """The reference conversion (OpenCV's Rodrigues in the original's tests)."""
    return Rotation.from_rotvec(aa).as_matrix()


# -- the original's own test files, with OpenCV replaced by scipy -------------------------------
def test_original_test_import():
    mod = importlib.import_module("human_body_prior")
    assert mod is not None


def test_original_test_angle_continuous_repres():
    from human_body_prior.tools.angle_continuous_repres import bgs

    d6 = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]], dtype=torch.float32)
    out = bgs(d6)
    assert out.shape == (1, 3, 3)


def test_original_test_rotations():
    """tests/test_rotations.py of the cvpr19 line (``from tools.omni_tools import copy2cpu as
    c2c``, ``VPoser.aa2matrot`` / ``matrot2aa`` against Rodrigues)."""
    from human_body_prior.models.vposer_smpl_pt import VPoser
    from human_body_prior.tools.omni_tools import copy2cpu as c2c

    aa = np.random.randn(10, 3)
    vposer_matrot = c2c(VPoser.aa2matrot(torch.tensor(aa).reshape(10, 1, 1, 3))).reshape(-1, 9)
    assert np.square(vposer_matrot - _rodrigues(aa).reshape(-1, 9)).sum() == pytest.approx(0, abs=1e-20)
    np.random.seed(100)
    aa = np.random.randn(10, 3)
    matrot = c2c(VPoser.aa2matrot(torch.tensor(aa).reshape(10, 1, 1, 3))).reshape(-1, 9)
    vposer_aa = c2c(VPoser.matrot2aa(torch.tensor(matrot).reshape(10, 1, 1, 9))).reshape(-1, 3)
    expected = Rotation.from_matrix(matrot.reshape(-1, 3, 3)).as_rotvec()
    assert np.square(vposer_aa - expected).sum() == pytest.approx(0, abs=1e-20)


# -- omni_tools -----------------------------------------------------------------------------------
def test_omni_tools(tmp_path, monkeypatch, capsys):
    from human_body_prior.tools import omni_tools as ot

    t = torch.ones(2, 3, requires_grad=True)
    assert isinstance(ot.copy2cpu(t), np.ndarray) and ot.copy2cpu(np.zeros(2)).shape == (2,)
    # the IK tutorial's batching and MDM-to-SMPL's single chunk
    frames = np.arange(10)
    assert [list(c) for c in ot.create_list_chunks(frames, 4, overlap_size=0, cut_smaller_batches=False)] \
        == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(ot.create_list_chunks(frames, 4, 0)) == 2
    assert [list(c) for c in ot.create_list_chunks(list(range(5)), 3, 1)] == [[0, 1, 2], [2, 3, 4]]
    assert [list(c) for c in ot.create_list_chunks(frames, 10, overlap_size=0, cut_smaller_batches=False)] \
        == [list(range(10))]
    assert ot.flatten_list([[1], [2, 3]]) == [1, 2, 3]
    assert ot.trainable_params_count(torch.nn.Linear(3, 2).parameters()) == 8
    assert len(ot.id_generator()) == 13 and ot.id_generator(5).isalnum()
    assert ot.rm_spaces("a b") == "a_b" and set(ot.colors) >= {"grey", "white", "red", "brown"}
    deep = ot.makepath(str(tmp_path), "a", "b")
    assert os.path.isdir(deep)
    fname = ot.makepath(str(tmp_path / "c" / "d.log"), isfile=True)  # the cvpr19 signature
    assert os.path.isdir(tmp_path / "c") and not os.path.exists(fname)
    log = ot.log2file(fname, prefix="[x]")
    log("hello")
    log(None)
    ot.log2file(fname, True)("plain")  # cvpr19: log2file(logpath, auto_newline)
    assert (tmp_path / "c" / "d.log").read_text() == "[x] -- hello\nplain\n"
    assert "[x] -- hello" in capsys.readouterr().err
    both = []
    ot.logger_sequencer([both.append, both.append], prefix="p")("t")
    assert both == ["p -- t", "p -- t"]
    monkeypatch.setenv("HUMAN_BODY_PRIOR_SUPPORT_DATA", str(tmp_path))
    assert ot.get_support_data_dir() == str(tmp_path)
    monkeypatch.delenv("HUMAN_BODY_PRIOR_SUPPORT_DATA")
    (tmp_path / "repo" / "support_data").mkdir(parents=True)
    (tmp_path / "repo" / "src" / "pkg").mkdir(parents=True)
    assert ot.get_support_data_dir(str(tmp_path / "repo" / "src" / "pkg" / "x.py")) == \
        str(tmp_path / "repo" / "support_data")
    with pytest.raises(FileNotFoundError, match="vposer paths"):
        ot.get_support_data_dir("/nonexistent/x.py")
    ot.make_deterministic(3)
    a = np.random.rand()
    ot.make_deterministic(3)
    assert np.random.rand() == a
    aa = np.random.randn(2, 1, 4, 3) * 0.5
    mats = ot.axisangle2matrots(aa)
    assert mats.shape == (2, 1, 4, 9)
    assert np.allclose(mats.reshape(-1, 3, 3), _rodrigues(aa.reshape(-1, 3)), atol=1e-12)
    assert np.allclose(ot.matrot2axisangle(mats), aa, atol=1e-10)
    meshes = [np.zeros((3, 3))]
    ot.apply_mesh_tranfsormations_(meshes, np.diag([1.0, 1.0, 1.0, 1.0]) + np.eye(4, k=3) * 0)
    shift = np.eye(4)
    shift[:3, 3] = [1, 2, 3]
    ot.apply_mesh_tranfsormations_(meshes, shift)
    assert np.allclose(meshes[0], [[1, 2, 3]] * 3)


# -- rotation_tools, tgm_conversion, angle_continuous_repres -----------------------------------
def test_rotation_tools():
    from human_body_prior.tools import rotation_tools as rt
    from human_body_prior.tools.rotation_tools_pt import local2global_pose

    aa = torch.randn(20, 3, dtype=torch.float64)
    mats = rt.aa2matrot(aa)
    assert mats.shape == (20, 3, 3) and np.allclose(mats.numpy(), _rodrigues(aa.numpy()))
    assert aa_close(rt.matrot2aa(mats), aa) < 1e-9
    for ea in (np.array([0.3, -0.2, 1.1]), np.array([1.0, 0.5, -2.0])):
        em = rt.euler2em(ea)  # transforms3d's default: static 'sxyz'
        assert np.allclose(_rodrigues(em), Rotation.from_euler("xyz", ea).as_matrix())
        assert np.allclose(rt.em2euler(em), ea)
    pose = np.concatenate([rt.euler2em([0.2, 0.1, 0.9]), np.ones(3)])
    out = rt.remove_zrot(pose.copy())
    assert np.allclose(rt.em2euler(out[:3]), [0.2, 0.1, 0.0]) and np.allclose(out[3:], 1)
    np.random.seed(0)
    rots = np.random.randn(4, 3) * 0.3
    turned = rt.noisy_zrot(rots)
    shifts = [rt.em2euler(b)[2] - rt.em2euler(a)[2] for a, b in zip(rots, turned)]
    assert turned.shape == (4, 3) and np.allclose(np.cos(shifts), np.cos(shifts[0]))
    pts = np.random.randn(2, 5, 3)
    rotated = rt.rotate_points_xyz(pts, [90, 0, 0])  # one angle triple for every frame
    assert np.allclose(rotated, pts @ Rotation.from_euler("x", 90, degrees=True).as_matrix().T)
    per = rt.rotate_points_xyz(pts, np.array([[0, 0, 90], [0, 90, 0]]))
    assert np.allclose(per[1], pts[1] @ Rotation.from_euler("y", 90, degrees=True).as_matrix().T)
    parents = [-1, 0, 1, 1]
    local = torch.as_tensor(Rotation.random(8, random_state=1).as_matrix()).reshape(2, 4, 3, 3)
    glob = local2global_pose(local, parents)
    assert torch.allclose(glob[:, 2], local[:, 0] @ local[:, 1] @ local[:, 2])
    assert torch.allclose(rt.local2global_pose(local.reshape(2, 36), parents), glob)
    t = rt.tmat(local, torch.ones(2, 4, 3, 1, dtype=torch.float64))
    assert t.shape == (2, 4, 4, 4) and torch.all(t[..., 3, :] == torch.tensor([0, 0, 0, 1.0]))
    rest = torch.randn(2, 4, 3, dtype=torch.float64)
    posed = rt.batch_rigid_transform(local, rest, torch.tensor(parents))
    expected = glob[:, 1] @ (rest[:, 2] - rest[:, 1]).unsqueeze(-1)
    assert torch.allclose(posed[:, 2] - posed[:, 1], expected.squeeze(-1))


def test_tgm_conversion():
    from human_body_prior.tools import tgm_conversion as tgm

    aa = torch.randn(6, 3, dtype=torch.float64)
    m4 = tgm.angle_axis_to_rotation_matrix(aa)
    assert m4.shape == (6, 4, 4) and torch.equal(m4[:, 3], torch.tensor([0, 0, 0, 1.0]).expand(6, 4).double())
    assert np.allclose(m4[:, :3, :3].numpy(), _rodrigues(aa.numpy()))
    assert aa_close(tgm.rotation_matrix_to_angle_axis(m4[:, :3, :]), aa) < 1e-9
    q = tgm.rotation_matrix_to_quaternion(m4[:, :3, :])
    scipy_q = Rotation.from_rotvec(aa.numpy()).as_quat()  # (x, y, z, w)
    same = np.where(scipy_q[:, 3:] < 0, -scipy_q, scipy_q)
    assert np.allclose(q.numpy(), np.concatenate([same[:, 3:], same[:, :3]], 1))
    assert aa_close(tgm.quaternion_to_angle_axis(q), aa) < 1e-9
    assert torch.allclose(tgm.angle_axis_to_quaternion(aa), q)
    pose = tgm.rtvec_to_pose(torch.cat([aa, torch.ones(6, 3, dtype=torch.float64)], 1))
    assert torch.all(pose[:, :3, 3] == 1)
    assert torch.allclose(tgm.rad2deg(tgm.pi), torch.tensor([180.0]))
    assert torch.allclose(tgm.DegToRad()(torch.tensor([180.0])), tgm.pi)
    pts = torch.randn(2, 4, 3)
    assert torch.allclose(tgm.ConvertPointsFromHomogeneous()(tgm.ConvertPointsToHomogeneous()(pts)), pts)
    with pytest.raises(TypeError):
        tgm.rad2deg([1.0])


def test_angle_continuous_repres():
    from human_body_prior.tools.angle_continuous_repres import bgs, geodesic_loss_R, gs, norm

    rot = torch.as_tensor(Rotation.random(5, random_state=2).as_matrix())
    d6 = rot[:, :, :2] * torch.tensor([2.0, 0.5], dtype=torch.float64)  # unnormalised columns
    assert torch.allclose(bgs(d6), rot)
    assert np.allclose(gs(d6[0].numpy()), rot[0].numpy()) and np.isclose(np.linalg.norm(norm([3, 4])), 1)
    turned = rot @ torch.as_tensor(Rotation.from_rotvec([0, 0, 0.3]).as_matrix())
    loss = geodesic_loss_R(reduction="mean")
    assert torch.isclose(loss(turned, rot), torch.tensor(0.3, dtype=torch.float64))
    assert geodesic_loss_R(reduction="none")(turned, rot).shape == (5,)
    assert torch.isclose(geodesic_loss_R()(turned, rot), torch.tensor(0.3, dtype=torch.float64))


# -- configurations, training_tools -----------------------------------------------------------------
def test_configurations(tmp_path, v2_dir):
    from human_body_prior.tools.configurations import dump_config, load_config
    from vposer.errors import ConfigError

    yaml_file = next(p for p in v2_dir.glob("*.yaml"))
    ps = load_config(str(yaml_file), general={"expr_id": "mine"})
    assert ps.model_params.latentD == 32 and ps.general.expr_id == "mine"
    ps.logging.best_model_fname = "x.ckpt"  # the trainer's assignments to new levels
    ps.new_level.value = 3
    out = dump_config(ps, str(tmp_path / "out.yaml"))
    again = load_config(out)
    assert again.logging.best_model_fname == "x.ckpt" and again.new_level.value == 3
    assert "never_set" not in again.toDict() and again.toDict()["model_params"]["latentD"] == 32
    assert load_config(latentD=3).latentD == 3
    with pytest.raises(FileNotFoundError):
        load_config(str(tmp_path / "missing.yaml"))
    (tmp_path / "x.ini").write_text("[All]\n")
    with pytest.raises(ConfigError, match="yaml"):
        load_config(str(tmp_path / "x.ini"))


def test_training_tools():
    from human_body_prior.tools.training_tools import EarlyStopping

    es = EarlyStopping(patience=2)
    assert [es(v) for v in (1.0, 0.9, 0.95, 0.96)] == [False, False, False, True]
    es.reset(1)
    assert es.counter == 0 and not es.early_stop


# -- visualization_tools and the names refused -----------------------------------------------------
def test_visualization_tools_write_files(tmp_path):
    from PIL import Image

    from human_body_prior.body_model.body_model import BodyModel
    from human_body_prior.tools.visualization_tools import imagearray2file, smpl_params2ply
    from vposer.body import open_body_path

    frames = np.random.randint(0, 255, (2, 3, 4, 8, 10, 3)).astype(np.uint8)
    tiles = imagearray2file(frames, str(tmp_path / "grid.png"))
    assert len(tiles) == 4 and tiles[0].shape == (16, 30, 3)
    assert Image.open(tmp_path / "grid_003.png").size == (30, 16)
    imagearray2file(frames, str(tmp_path / "anim.gif"), fps=10)
    assert Image.open(tmp_path / "anim.gif").n_frames == 4
    from human_body_prior.tools import viz_tools  # 2018: a 5-D array is one column

    assert viz_tools.imagearray2file(frames[:, 0])[0].shape == (16, 10, 3)
    bm = BodyModel(open_body_path(), "smplh", batch_size=1)
    smpl_params2ply(bm, str(tmp_path / "ply"), np.zeros((2, 63)), trans=np.ones((2, 3)))
    assert sorted(os.listdir(tmp_path / "ply")) == ["000.ply", "001.ply"]


@pytest.mark.parametrize("module, name", [
    ("human_body_prior.tools.visualization_tools", "render_smpl_params"),
    ("human_body_prior.mesh.mesh_viewer", "MeshViewer"),
    ("human_body_prior.visualizations.training_visualization", "vposer_trainer_renderer"),
    ("human_body_prior.train.vposer_trainer", "VPoserTrainer"),
    ("human_body_prior.train.vposer_trainer", "train_vposer_once"),
    ("human_body_prior.train.vposer_smpl", "run_vposer_trainer"),
    ("human_body_prior.tools.viz_tools", "vis_smpl_params"),
    ("human_body_prior.body_model.body_model_vposer", "BodyInterpenetration"),
])
def test_refused_names_import_and_say_why(module, name):
    from human_body_prior._refused import NotProvidedError
    from vposer.errors import VPoserError

    thing = getattr(importlib.import_module(module), name)  # importing works
    with pytest.raises(NotProvidedError, match="not provided by vposer") as err:
        thing(None)
    assert isinstance(err.value, VPoserError) and "\n" not in str(err.value)
    assert "vposer" in str(err.value).split("not provided by vposer")[1]


def test_create_expr_message():
    from human_body_prior.tools.configurations import DotMap
    from human_body_prior.train.vposer_trainer import create_expr_message

    ps = DotMap(general={"expr_id": "V02"}, train_parms={"batch_size": 128})
    assert create_expr_message(ps) == "[V02] batch_size = 128."


def test_sphere_geometry_and_meshes():
    from human_body_prior.mesh.sphere import Sphere, points_to_spheres

    a, b = Sphere(np.zeros(3), 1.0), Sphere(np.array([[1.5, 0, 0]]), 1.0)
    assert a.has_inside([0.5, 0, 0]) and not a.has_inside([1.5, 0, 0]) and a.intersects(b)
    cap = np.pi * (2 - 0.75) ** 2 * (3 * 1 - (2 - 0.75)) / 3  # two caps of height 0.25 each
    assert np.isclose(a.intersection_vol(b), 2 * np.pi * 0.25 ** 2 * (3 - 0.25) / 3)
    assert cap > 0 and Sphere(np.zeros(3), 0.1).intersection_vol(a) == pytest.approx(4 * np.pi * 1e-3 / 3)
    assert Sphere(np.array([5.0, 0, 0]), 1).intersection_vol(a) == 0
    meshes = points_to_spheres(np.random.randn(3, 3), radius=0.02, vc=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert len(meshes) == 3 and len(meshes[0].vertices) == 42
    assert np.allclose(np.linalg.norm(meshes[0].vertices - meshes[0].vertices.mean(0), axis=1), 0.02)
