"""BVH reading/writing and retargeting onto SMPL: known answers, conventions, the CMU data."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import SHARED, need_shared
from vposer.cli import main as cli_main
from vposer.data import cmu as cmu_io
from vposer.data import load_prepared
from vposer.data.bvh import euler_to_matrix, matrix_to_euler, read_bvh, write_bvh
from vposer.data.mapping import resolve_mapping
from vposer.data.quality import QualityReport, frame_errors
from vposer.data.retarget import PARENT_ALIGNED, Retargeter
from vposer.data.skeleton import (SMPL_JOINTS, SMPL_PARENTS, Skeleton, body_skeleton,
                                  forward_kinematics)
from vposer.errors import InputError

ASSET = Path(__file__).resolve().parents[1] / "src" / "vposer" / "assets" / "open_body.npz"


@pytest.fixture(scope="module")
def smpl() -> Skeleton:
    return body_skeleton(np.load(ASSET))


def random_locals(n: int, j: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return Rotation.from_rotvec(rng.normal(scale=scale, size=(n * j, 3))).as_matrix().reshape(n, j, 3, 3)


def angle_deg(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Geodesic angle between rotation matrices, via scipy (independent of the package)."""
    rel = Rotation.from_matrix((r1 @ np.swapaxes(r2, -1, -2)).reshape(-1, 3, 3))
    return np.degrees(rel.magnitude())


def test_euler_round_trip_every_order():
    rng = np.random.default_rng(0)
    for order in ("".join(p) for p in itertools.permutations("XYZ")):
        angles = rng.uniform(-1.4, 1.4, size=(20, 3))
        axes = np.array([["XYZ".index(c) for c in order]])
        mats = euler_to_matrix(angles[:, None], axes)[:, 0]
        # the BVH meaning: intrinsic rotations in channel order (scipy's upper-case convention)
        np.testing.assert_allclose(mats, Rotation.from_euler(order, angles).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(matrix_to_euler(mats, order), angles, atol=1e-10)


def test_body_skeleton_sources_agree(smpl):
    from vposer.body import load_body

    assert smpl.names == list(SMPL_JOINTS) and tuple(smpl.parents) == SMPL_PARENTS
    np.testing.assert_allclose(smpl.rest_positions(), np.load(ASSET)["J"], atol=1e-6)
    from_model = body_skeleton(load_body())
    np.testing.assert_allclose(from_model.rest_positions() - from_model.rest_positions()[0],
                               smpl.rest_positions() - smpl.rest_positions()[0], atol=1e-5)


def test_smpl_skeleton_through_bvh_comes_back(smpl, tmp_path):
    """The open body's skeleton posed by known rotations, exported as BVH, read back and
    retargeted returns the same rotations (< 0.5 degrees; in fact ~1e-4)."""
    local = random_locals(25, 22, 0.5, seed=1)
    root_pos = np.random.default_rng(2).normal(size=(25, 3))
    path = tmp_path / "smpl.bvh"
    write_bvh(path, smpl, local, root_pos, frame_time=1 / 60)
    motion = read_bvh(path)
    assert motion.fps == pytest.approx(60.0, rel=1e-6) and motion.motion.shape == (25, 6 + 21 * 3)
    assert [n for n in motion.skeleton.names if not n.endswith("_end")] != []
    mapping, profile = resolve_mapping(motion.skeleton.names)
    assert profile == "smpl"
    rt = Retargeter.build(motion.skeleton, smpl, mapping)
    np.testing.assert_allclose(rt.world, np.eye(3))
    glob, pos = motion.global_rotations()
    out = rt(glob)
    assert angle_deg(out.local_rot, local).max() < 0.5
    got = Rotation.from_rotvec(out.pose_body.reshape(-1, 3).astype(np.float64)).as_matrix()
    assert angle_deg(got, local[:, 1:].reshape(-1, 3, 3)).max() < 0.5
    # the BVH positions are those of the SMPL skeleton posed the same way
    _, ref = forward_kinematics(smpl, local, root_pos)
    np.testing.assert_allclose(pos[:, mapping], ref, atol=1e-4)


def _cmu_like_source(smpl: Skeleton):
    """A CMU-MotionBuilder-named source with a different rest pose than SMPL's: legs splayed 20
    degrees, arms in an A-pose, extra zero-length hip joints; returns (skeleton, driver index per
    SMPL joint)."""
    rename = {"pelvis": "Hips", "Spine1": "LowerBack", "Spine2": "Spine", "Spine3": "Spine1",
              "Neck": "Neck1", "Head": "Head"}
    for side, long in (("L", "Left"), ("R", "Right")):
        rename.update({f"{side}_Hip": f"{long}UpLeg", f"{side}_Knee": f"{long}Leg",
                       f"{side}_Ankle": f"{long}Foot", f"{side}_Foot": f"{long}ToeBase",
                       f"{side}_Collar": f"{long}Shoulder", f"{side}_Shoulder": f"{long}Arm",
                       f"{side}_Elbow": f"{long}ForeArm", f"{side}_Wrist": f"{long}Hand"})
    names, parents, offsets, driver = [], [], [], {}
    for j, name in enumerate(SMPL_JOINTS):
        par = SMPL_PARENTS[j]
        off = smpl.offsets[j].copy()
        if name in ("L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "L_Foot", "R_Foot"):
            sign = 1 if name.startswith("L") else -1
            off = Rotation.from_euler("z", sign * 20, degrees=True).apply(off)  # splayed legs
        if name in ("L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist"):
            sign = 1 if name.startswith("L") else -1
            off = Rotation.from_euler("z", -sign * 45, degrees=True).apply(off)  # A-pose
        if name in ("L_Hip", "R_Hip"):  # CMU's zero-length LHipJoint / RHipJoint in between
            names.append(f"{name[0]}HipJoint")
            parents.append(driver[SMPL_JOINTS[par]])
            offsets.append(np.zeros(3))
            par_index = len(names) - 1
        else:
            par_index = driver[SMPL_JOINTS[par]] if par >= 0 else -1
        names.append(rename[name])
        parents.append(par_index)
        offsets.append(off)
        driver[name] = len(names) - 1
    return Skeleton(names, parents, np.asarray(offsets)), [driver[n] for n in SMPL_JOINTS]


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    if np.linalg.norm(axis) < 1e-12:
        return np.eye(3)
    angle = np.arccos(np.clip(a @ b, -1, 1))
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def test_different_rest_pose_z_up_and_channel_orders(smpl, tmp_path):
    """A source whose rest differs (splayed legs, A-pose arms), z-up, with random channel orders,
    driven so that its bones follow a known SMPL pose: retargeting returns that pose."""
    src, driver = _cmu_like_source(smpl)
    n = 12
    local_smpl = random_locals(n, 22, 0.45, seed=3)
    glob_smpl, _ = forward_kinematics(smpl, local_smpl)
    # expected alignments, written independently: SMPL rest bone -> source rest bone
    ends = {1: 4, 2: 5, 4: 7, 5: 8, 7: 10, 8: 11, 6: 9, 9: 12, 16: 18, 17: 19, 18: 20, 19: 21}
    align = np.tile(np.eye(3), (22, 1, 1))
    for j in range(1, 22):
        if j in PARENT_ALIGNED:
            align[j] = align[SMPL_PARENTS[j]]
        else:
            align[j] = _min_rotation(smpl.offsets[ends[j]], src.offsets[driver[ends[j]]])
    glob_src = np.tile(np.eye(3), (n, len(src), 1, 1))
    for j in range(22):
        glob_src[:, driver[j]] = glob_smpl[:, j] @ align[j].T
    hip_joints = [i for i, name in enumerate(src.names) if name.endswith("HipJoint")]
    glob_src[:, hip_joints] = glob_src[:, [0]] @ random_locals(n, 1, 0.3, seed=4)  # extra joints
    # z-up world: rotate everything by Q (y -> z)
    q = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    src_z = Skeleton(src.names, src.parents, src.offsets @ q.T)
    glob_z = q @ glob_src @ q.T
    par = np.maximum(src.parents, 0)
    local_z = np.swapaxes(glob_z[:, par], -1, -2) @ glob_z
    local_z[:, 0] = glob_z[:, 0]
    rng = np.random.default_rng(5)
    orders = ["".join(rng.permutation(list("XYZ"))) for _ in src.names]
    path = tmp_path / "cmu_like.bvh"
    write_bvh(path, src_z, local_z, orders=orders, precision=8)

    motion = read_bvh(path)
    mapping, profile = resolve_mapping(motion.skeleton.names)
    assert profile == "cmu"
    assert [motion.skeleton.names[i] for i in mapping] == [src.names[i] for i in driver]
    rt = Retargeter.build(motion.skeleton, smpl, mapping)
    np.testing.assert_allclose(rt.world, q.T, atol=1e-12)
    np.testing.assert_allclose(rt.align, align, atol=1e-6)  # offsets written to 8 decimals
    out = rt(motion.global_rotations()[0])
    assert angle_deg(out.local_rot, local_smpl).max() < 0.5
    # mapped bones point exactly along the source bones
    _, smpl_pos = forward_kinematics(smpl, out.local_rot)
    errors = frame_errors(rt, smpl_pos, motion.global_rotations()[1])
    assert max(e.max() for e in errors["bones"].values()) < 1e-3


def _row_frames(skeleton: Skeleton, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, 3 + 3 * len(skeleton)))
    frames[:, :3] = rng.normal(size=(n, 3))
    frames[:, 3:] = rng.normal(scale=0.5, size=(n, 3 * len(skeleton)))
    return frames


def _cmu_skeleton_and_mapping(smpl: Skeleton):
    path = SHARED / "data" / "cmu" / "skeleton.json"
    if path.exists():
        skel = cmu_io.cmu_skeleton(json.loads(path.read_text()))
        return skel, resolve_mapping(skel.names, profile="cmu-expmap")[0]
    return smpl, list(range(22))  # the SMPL tree written in the row convention instead


def test_cmu_transpose_convention(smpl):
    """Row-vector source: the column globals are the transposes (local = rodrigues(-expmap)).
    With them, positions match the row recipe and mapped bones match exactly; forgetting the
    transpose gives errors of tens of degrees."""
    skel, mapping = _cmu_skeleton_and_mapping(smpl)
    frames = _row_frames(skel, 40, seed=6)
    row_pos = cmu_io.row_fk_positions(skel, frames)
    glob, col_pos = cmu_io.column_fk(skel, frames)
    np.testing.assert_allclose(col_pos, row_pos, atol=1e-9 * np.abs(row_pos).max())
    rt = Retargeter.build(skel, smpl, mapping)

    def bone_errors(global_rot):
        _, smpl_pos = forward_kinematics(smpl, rt(global_rot).local_rot)
        return np.concatenate(list(frame_errors(rt, smpl_pos, row_pos)["bones"].values()))

    assert bone_errors(glob).max() < 1e-4
    wrong_local = cmu_io.rodrigues(frames[:, 3:].reshape(40, -1, 3))  # no transpose
    wrong, _ = forward_kinematics(skel, wrong_local)
    bad = bone_errors(wrong)
    assert bad.mean() > 15 and bad.max() > 60


def test_cmu_chord_errors_on_real_data(smpl):
    """The CMU set retargeted onto the open body: mapped bones exact; chords (hip to ankle,
    shoulder to wrist, pelvis to head) below 5 degrees on average (every 3rd frame)."""
    data = cmu_io.load_cmu(need_shared("data", "cmu"))
    mapping, _ = resolve_mapping(data.skeleton.names, profile="cmu-expmap")
    rt = Retargeter.build(data.skeleton, smpl, mapping)
    report = QualityReport()
    poses = []
    for key in data.keys:
        frames = data.take(key)[::3]
        glob, _ = cmu_io.column_fk(data.skeleton, frames)
        out = rt(glob)
        poses.append(out.pose_body.reshape(-1, 21, 3))
        _, smpl_pos = forward_kinematics(smpl, out.local_rot)
        report.add(key.split("/")[1], frame_errors(rt, smpl_pos,
                                                   cmu_io.row_fk_positions(data.skeleton, frames)))
    result = report.to_json()
    assert result["frames"] > 20000
    assert result["bone_direction_deg"]["all"]["max"] < 1e-3
    groups = result["chord_deg"]["groups"]
    assert groups["hip to ankle"]["mean"] < 2.0
    assert groups["shoulder to wrist"]["mean"] < 5.0
    assert groups["pelvis to head"]["mean"] < 5.0
    assert result["target_met"]
    # collars stay at zero (their source never moves and they reuse Spine3's alignment)
    poses = np.concatenate(poses)
    assert np.abs(poses[:, [12, 13]]).max() < 1e-6
    # SMPL sign conventions (spec): knees flex positive about x, hips flex negative about x,
    # the left arm hangs with a negative rotation about z, the right with a positive one
    mean = np.degrees(poses.mean(axis=0))
    names = list(SMPL_JOINTS[1:])
    assert mean[names.index("L_Knee"), 0] > 10 and mean[names.index("R_Knee"), 0] > 10
    assert mean[names.index("L_Hip"), 0] < 0 and mean[names.index("R_Hip"), 0] < 0
    assert mean[names.index("L_Shoulder"), 2] < -40 < 40 < mean[names.index("R_Shoulder"), 2]


def test_import_mocap_bvh_folder_cli(smpl, tmp_path, capsys):
    src = tmp_path / "bvh"
    for action, seeds in (("walk", (1, 2, 3)), ("wave", (4, 5))):
        (src / action).mkdir(parents=True)
        for seed in seeds:
            write_bvh(src / action / f"take{seed}.bvh", smpl, random_locals(10 + seed, 22, 0.3, seed),
                      frame_time=1 / 60)
    (src / "walk" / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    out = tmp_path / "out"
    code = cli_main(["import-mocap", str(src), "-o", str(out), "--val-takes", "1",
                     "--target-fps", "30", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "broken.bvh" in captured.err and "pelvis to head" in captured.out
    train, vald = load_prepared(out, "train"), load_prepared(out, "vald")
    assert len(train.files) == 3 and len(vald.files) == 2  # one take per action to vald
    assert {f["action"] for f in vald.files} == {"walk", "wave"}
    # 60 -> 30 fps keeps every other frame; provenance points at them
    total = sum((10 + s + 1) // 2 for s in (1, 2, 3, 4, 5))
    assert len(train) + len(vald) == total
    key, frame = train.trace(len(train) - 1)
    assert frame % 2 == 0 and key.endswith(".bvh")
    seed = int(Path(key).stem[4:])
    expected = random_locals(10 + seed, 22, 0.3, seed)[frame, 1:]
    got = Rotation.from_rotvec(train.pose_body[-1].reshape(21, 3).astype(np.float64)).as_matrix()
    assert angle_deg(got, expected).max() < 0.5
    summary = json.loads((out / "summary.json").read_text())
    assert [s["path"] for s in summary["skipped"]] == ["walk/broken.bvh"]
    quality = json.loads((out / "quality.json").read_text())
    assert quality["all"]["bone_direction_deg"]["all"]["max"] < 1e-3
    assert quality["per_source"]["bvh"]["frames"] == quality["all"]["frames"]


def test_bvh_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Wrotation\n}\n"
                   "MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(InputError, match="bad.bvh.*Wrotation"):
        read_bvh(bad)
    bad.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\n"
                   "MOTION\nFrames: 2\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(InputError, match=r"1 lines of motion values for .Frames: 2"):
        read_bvh(bad)
    with pytest.raises(InputError, match="no source joint"):
        resolve_mapping(["Hips", "Foo"], where=str(bad))


def test_quality_statistics_stream_like_numpy():
    rng = np.random.default_rng(7)
    chunks = [rng.gamma(2.0, 2.0, size=n) for n in (1000, 1, 4000)]
    report = QualityReport()
    for k, chunk in enumerate(chunks):
        zeros = np.zeros_like(chunk)
        report.add("a" if k else "b", {"bones": {"L_Hip": zeros},
                                       "chords": {"pelvis-head": chunk, "L hip-ankle": zeros}})
    every = np.concatenate(chunks)
    stats = report.to_json()["chord_deg"]["per_chord"]["pelvis-head"]
    assert stats["mean"] == pytest.approx(every.mean(), abs=1e-4)
    assert stats["max"] == pytest.approx(every.max(), abs=1e-4)
    assert abs(stats["p95"] - np.percentile(every, 95)) <= 0.011
    actions = report.to_json()["per_action_chord_mean_deg"]
    assert actions["b"]["frames"] == 1000
    assert actions["a"]["pelvis to head"] == pytest.approx(np.concatenate(chunks[1:]).mean(), abs=1e-4)


def test_import_single_bvh_file(smpl, tmp_path):
    from vposer.data.mocap import import_mocap

    local = random_locals(9, 22, 0.3, seed=8)
    write_bvh(tmp_path / "jump.bvh", smpl, local, frame_time=1 / 120)
    summary = import_mocap(tmp_path / "jump.bvh", tmp_path / "out", target_fps=0, progress=False)
    assert summary["splits"]["train"]["frames"] == 9
    train = load_prepared(tmp_path / "out", "train")
    assert train.files[0]["path"] == "jump.bvh" and train.files[0]["fps"] == pytest.approx(120)
    got = Rotation.from_rotvec(np.asarray(train.pose_body, np.float64).reshape(-1, 3)).as_matrix()
    assert angle_deg(got, local[:, 1:].reshape(-1, 3, 3)).max() < 0.5
