"""DeepMimic reader: known answers against scipy, bad input, and the shared CMU clips."""
from __future__ import annotations

import copy
import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import need_shared
from mocap_samples import DEEPMIMIC_CHARACTER
from vposer.data.deepmimic import (DeepMimicMotion, is_character, is_motion, read_character,
                                   read_deepmimic)
from vposer.errors import InputError


CHAR = DEEPMIMIC_CHARACTER
WIDTH = 13


def _frames(n=5, seed=0):
    """Random frames: durations 1/50 (last 0), random unnormalised quaternions and angles."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        root_q = rng.normal(size=4) * rng.uniform(0.5, 3)
        spine_q = rng.normal(size=4) * rng.uniform(0.5, 3)
        row = [0.02 if t < n - 1 else 0.0, *rng.normal(size=3), *root_q, *spine_q,
               rng.uniform(-3, 3)]
        out.append([float(v) for v in row])
    return out


def _write(path: Path, obj, raw: bool = False) -> Path:
    path.write_text(obj if raw else json.dumps(obj))
    return path


@pytest.fixture
def files(tmp_path):
    char = _write(tmp_path / "char.json", CHAR)
    motion = _write(tmp_path / "clip.json", {"Loop": "none", "Frames": _frames()})
    return char, motion


def _expected(frames):
    """Globals and positions computed independently with scipy (quaternions as x, y, z, w)."""
    offsets = [np.array(v) for v in ([0, 0, 0], [0, .3, 0], [.1, .2, .05], [0, -.25, .1])]
    glob, pos = [], []
    for f in frames:
        f = np.asarray(f)
        root = Rotation.from_quat(f[[5, 6, 7, 4]])
        spine = root * Rotation.from_quat(f[[9, 10, 11, 8]])
        hinge = spine * Rotation.from_rotvec([0, 0, f[12]])
        rots = [root, spine, hinge, hinge]
        p0 = f[1:4]
        p1 = p0 + root.apply(offsets[1])
        p2 = p1 + spine.apply(offsets[2])
        p3 = p2 + hinge.apply(offsets[3])
        glob.append([r.as_matrix() for r in rots])
        pos.append([p0, p1, p2, p3])
    return np.array(glob), np.array(pos)


def test_known_answer_against_scipy(files):
    char, clip = files
    character = read_character(char)
    assert character.width == WIDTH and character.types == ["none", "spherical", "revolute",
                                                             "fixed"]
    motion = read_deepmimic(clip, character)
    assert isinstance(motion, DeepMimicMotion) and motion.path == str(clip)
    assert motion.skeleton.names == ["root", "spine", "hinge", "tip"]
    assert motion.fps == pytest.approx(50.0) and len(motion) == 5 and motion.loop == "none"
    glob, pos = motion.global_rotations()
    want_glob, want_pos = _expected(_frames())
    assert glob.shape == (5, 4, 3, 3) and pos.shape == (5, 4, 3)
    assert glob.dtype == np.float64 and pos.dtype == np.float64
    np.testing.assert_allclose(glob, want_glob, atol=1e-12)
    np.testing.assert_allclose(pos, want_pos, atol=1e-12)
    local = motion.local_rotations()
    np.testing.assert_allclose(local[:, 3], np.broadcast_to(np.eye(3), (5, 3, 3)))
    np.testing.assert_allclose(motion.root_position(), np.asarray(_frames())[:, 1:4])


def test_joint_list_order_gz_and_classification(tmp_path, files):
    char, clip = files
    shuffled = copy.deepcopy(CHAR)
    shuffled["Skeleton"]["Joints"].reverse()  # IDs decide the order, not the list position
    char2 = _write(tmp_path / "shuffled.json", shuffled)
    gz = tmp_path / "clip.json.gz"
    gz.write_bytes(gzip.compress(clip.read_bytes()))
    a = read_deepmimic(clip, read_character(char)).global_rotations()
    b = read_deepmimic(gz, read_character(char2)).global_rotations()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    motion = json.loads(clip.read_text())
    assert is_character(CHAR) and not is_motion(CHAR)
    assert is_motion(motion) and not is_character(motion)
    assert not is_motion([1]) and not is_character({"Skeleton": 3})


def _motion_with(frames):
    return {"Loop": "none", "Frames": frames}


def _bad_frame(t, col, value):
    frames = _frames()
    frames[t][col] = value
    return frames


def _char_with(**changes):
    char = copy.deepcopy(CHAR)
    for key, (jid, value) in changes.items():
        char["Skeleton"]["Joints"][jid][key] = value
    return char


MOTION_ERRORS = {
    "not_json": ("hello", "not valid JSON: Expecting value at line 1, column 1"),
    "truncated": (json.dumps(_motion_with(_frames()), indent=1)[:-40], "truncated"),
    "no_frames": ({"Loop": "none"}, "no 'Frames'"),
    "top_level_list": ([[1, 2]], "no 'Frames'"),
    "empty_frames": (_motion_with([]), "'Frames' is empty"),
    "frame_not_list": (_motion_with(_frames()[:2] + [5]), "frame 2: expected a list"),
    "short_frame": (_motion_with(_frames()[:3] + [_frames()[3][:-1]]),
                    "frame 3: expected 13 values, found 12"),
    "string": (_motion_with(_bad_frame(1, 3, "1.5")), "frame 1, value 3: not a finite number"),
    "null": (_motion_with(_bad_frame(2, 5, None)), "frame 2, value 5"),
    "bool": (_motion_with(_bad_frame(0, 9, True)), "frame 0, value 9"),
    "nan": (_motion_with(_bad_frame(4, 12, float("nan"))), "frame 4, value 12: not a finite"),
    "inf": (_motion_with(_bad_frame(1, 2, float("inf"))), "frame 1, value 2: not a finite"),
    "huge_int": (json.dumps(_motion_with(_frames())).replace("0.02", "1" + "0" * 400, 1),
                 "frame 0, value 0: not a finite"),
    "zero_quaternion": (_motion_with([f[:8] + [0.0, 0, 0, 0] + f[12:] for f in _frames()]),
                        "frame 0: zero quaternion for joint 'spine'"),
    "zero_duration": (_motion_with(_bad_frame(2, 0, 0.0)),
                      "frame 2: frame duration must be positive"),
    "negative_last_duration": (_motion_with(_bad_frame(4, 0, -0.02)), "frame 4: frame duration"),
    "single_zero_frame": (_motion_with(_frames(1)), "no frame rate"),
    "empty_file": ("  \n", "empty file"),
    "tiny_durations": (_motion_with([[1e-320] + f[1:] for f in _frames()]), "no frame rate"),
    "character_as_motion": (CHAR, "character file (it has 'Skeleton'), not a motion"),
}


@pytest.mark.parametrize("case", sorted(MOTION_ERRORS))
def test_motion_errors(tmp_path, files, case):
    content, message = MOTION_ERRORS[case]
    bad = _write(tmp_path / "bad.json", content, raw=isinstance(content, str))
    with pytest.raises(InputError) as info:
        read_deepmimic(bad, read_character(files[0]))
    assert str(bad) in str(info.value)
    assert message in str(info.value), str(info.value)


CHARACTER_ERRORS = {
    "not_json": ('{"Skeleton": {"Joints": [}', "not valid JSON"),
    "no_joints": ({"Skeleton": {}}, "no 'Skeleton.Joints'"),
    "joints_not_list": ({"Skeleton": {"Joints": {"a": 1}}}, "no 'Skeleton.Joints'"),
    "empty_joints": ({"Skeleton": {"Joints": []}}, "'Skeleton.Joints' is empty"),
    "joint_not_object": ({"Skeleton": {"Joints": [3]}}, "Skeleton.Joints[0] is not an object"),
    "unknown_type": (_char_with(Type=(2, "prismatic")), "unknown joint type 'prismatic'"),
    "missing_parent": (_char_with(Parent=(2, 7)), "parent 7 does not exist"),
    "second_root": (_char_with(Parent=(3, -1)), "parent -1 does not exist"),
    "forward_parent": (_char_with(Parent=(1, 2)), "parent 2 comes after it"),
    "cycle": (_char_with(Parent=(2, 2)), "its own parent (a cycle)"),
    "root_not_none": (_char_with(Type=(0, "spherical")), "must be the root"),
    "none_not_root": (_char_with(Type=(2, "none")), "only for the root"),
    "duplicate_id": (_char_with(ID=(3, 2)), "joint IDs must be 0..3"),
    "missing_id": (_char_with(ID=(1, None)), "ID: expected an integer"),
    "duplicate_name": (_char_with(Name=(3, "spine")), "duplicate joint names ['spine']"),
    "bad_offset": (_char_with(AttachY=(1, "up")), "AttachY: expected a number"),
    "rotated_attach": (_char_with(AttachThetaZ=(2, 0.5)), "AttachTheta"),
    "motion_as_character": (_motion_with(_frames()), "motion file (it has 'Frames'), not a"),
}


@pytest.mark.parametrize("case", sorted(CHARACTER_ERRORS))
def test_character_errors(tmp_path, case):
    content, message = CHARACTER_ERRORS[case]
    bad = _write(tmp_path / "char.json", content, raw=isinstance(content, str))
    with pytest.raises(InputError) as info:
        read_character(bad)
    assert str(bad) in str(info.value)
    assert message in str(info.value), str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_character(tmp_path / "absent.json")


_TOKENS = ["NaN", "-1", "0", "-0.0", "1e400", "1" + "0" * 30, '"x"', "null", "true", "[]", "{}",
           "[0, 0, 0, 0]", "-5", "99", ""]


def _mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # truncate
        return text[:rng.randrange(len(text))]
    if kind == 1:  # replace one number or word token
        i, j = rng.choice(_token_spans(text))
        return text[:i] + rng.choice(_TOKENS) + text[j:]
    if kind == 2:  # delete a slice
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randrange(1, 20):]
    i = rng.randrange(len(text))  # insert punctuation
    return text[:i] + rng.choice("[]{},:\"-0e") + text[i:]


def _token_spans(text: str):
    import re

    return [m.span() for m in re.finditer(r"-?[\w.+-]+|\"[^\"]*\"", text)]


def test_fuzz_only_input_errors(tmp_path):
    rng = random.Random(1234)
    char_text = json.dumps(CHAR)
    motion_text = json.dumps(_motion_with(_frames(3)))
    char_path, motion_path = tmp_path / "c.json", tmp_path / "m.json"
    good = read_character(_write(char_path, char_text, raw=True))
    outcomes = {"ok": 0, "error": 0}
    for case in range(400):
        target_char = case % 2 == 0
        text = _mutate(char_text if target_char else motion_text, rng)
        try:
            if target_char:
                character = read_character(_write(char_path, text, raw=True))
                _write(motion_path, motion_text, raw=True)
            else:
                character = good
                _write(motion_path, text, raw=True)
            with np.errstate(all="ignore"):
                read_deepmimic(motion_path, character).global_rotations()
            outcomes["ok"] += 1
        except InputError as exc:
            assert str(tmp_path) in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 100 and outcomes["ok"] > 10, outcomes


# ---------------------------------------------------------------- the shared CMU clips

@pytest.fixture(scope="module")
def cmu():
    folder = need_shared("data", "mocap", "cmu_deepmimic")
    character = read_character(folder / "humanoid3d.json")
    clips = sorted(p for p in folder.glob("*.json") if p.name != "humanoid3d.json")
    return character, [read_deepmimic(p, character) for p in clips]


def test_shared_clips_parse(cmu):
    character, motions = cmu
    assert character.width == 44 and len(character.skeleton) == 15
    assert len(motions) == 84
    assert sum(len(m) for m in motions) == 9068
    assert all(m.fps == pytest.approx(30.0, rel=1e-6) for m in motions)


def _in_frame(glob: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Vectors ``(T, 3)`` expressed in the frames ``glob`` ``(T, 3, 3)``: ``C^T v``."""
    return np.einsum("tba,tb->ta", glob, vec)


def test_shared_revolute_signs(cmu):
    """+x is forward (locomotion travels along the root's x); a bent knee (angle < 0) puts the
    shin behind the thigh, a bent elbow (angle > 0) brings the hand forward, then up."""
    character, motions = cmu
    names = character.skeleton.names
    heading, shin_x, forearm_x, forearm_up = [], [], [], []
    for m in motions:
        glob, pos = m.global_rotations()
        if Path(m.path).name[:2] in ("02", "07", "08", "09"):  # walks and runs
            vel = np.gradient(pos[:, 0], axis=0) * m.fps
            vel[:, 1] = 0
            fwd = glob[:, 0, :, 0].copy()
            fwd[:, 1] = 0
            moving = np.linalg.norm(vel, axis=1) > 0.5
            heading.append((vel * fwd).sum(1)[moving] / np.linalg.norm(vel[moving], axis=1)
                           / np.linalg.norm(fwd[moving], axis=1))
        for side in ("left", "right"):
            hip, knee, ankle = (names.index(f"{side}_{j}") for j in ("hip", "knee", "ankle"))
            thigh = _in_frame(glob[:, 0], pos[:, knee] - pos[:, hip])
            shin = _in_frame(glob[:, 0], pos[:, ankle] - pos[:, knee])
            angle = m.frames[:, character.starts[knee]]
            down = thigh[:, 1] < -0.8 * np.linalg.norm(thigh, axis=1)
            shin_x.append(shin[(angle < -1.0) & down, 0])
            sho, elb, wri = (names.index(f"{side}_{j}") for j in ("shoulder", "elbow", "wrist"))
            upper = _in_frame(glob[:, 1], pos[:, elb] - pos[:, sho])
            fore = _in_frame(glob[:, 1], pos[:, wri] - pos[:, elb])
            angle = m.frames[:, character.starts[elb]]
            down = upper[:, 1] < -0.8 * np.linalg.norm(upper, axis=1)
            forearm_x.append(fore[(angle > 1.0) & down, 0])
            forearm_up.append(fore[(angle > 2.0) & down, 1])
    heading, shin_x = np.concatenate(heading), np.concatenate(shin_x)
    forearm_x, forearm_up = np.concatenate(forearm_x), np.concatenate(forearm_up)
    assert len(heading) > 500 and heading.min() > 0.8
    assert len(shin_x) > 1000 and (shin_x < 0).mean() > 0.99
    assert len(forearm_x) > 1000 and (forearm_x > 0).mean() > 0.98
    assert len(forearm_up) > 20 and (forearm_up > 0).mean() > 0.9
    knees = np.concatenate([m.frames[:, character.starts[names.index(f"{s}_knee")]]
                            for m in motions for s in ("left", "right")])
    elbows = np.concatenate([m.frames[:, character.starts[names.index(f"{s}_elbow")]]
                             for m in motions for s in ("left", "right")])
    assert knees.max() <= 0 and knees.min() >= -np.pi
    assert elbows.min() >= 0 and elbows.max() <= np.pi


def test_shared_retarget_onto_smpl(cmu):
    from vposer.data.mapping import resolve_mapping
    from vposer.data.quality import CHORD_GROUPS, frame_errors
    from vposer.data.retarget import Retargeter
    from vposer.data.skeleton import SMPL_JOINTS, body_skeleton, forward_kinematics

    character, motions = cmu
    mapping, profile = resolve_mapping(character.skeleton.names)
    assert profile == "deepmimic"
    rt = Retargeter.build(character.skeleton, body_skeleton(None), mapping)
    np.testing.assert_array_equal(rt.world, [[0, 0, -1], [0, 1, 0], [1, 0, 0]])
    still = set(rt.at_rest()) | {"L_Wrist", "R_Wrist"}  # the wrists are fixed joints
    assert {"Spine1", "Spine2", "L_Collar", "R_Collar", "Head", "L_Foot", "R_Foot"} <= still
    still_idx = [SMPL_JOINTS.index(j) - 1 for j in still]
    bones, chords = [], {}
    for m in motions:
        glob, pos = m.global_rotations()
        res = rt(glob)
        assert np.all(res.pose_body.reshape(-1, 21, 3)[:, still_idx] == 0)
        _, smpl_pos = forward_kinematics(rt.target, res.local_rot)
        errs = frame_errors(rt, smpl_pos, pos)
        bones.extend(errs["bones"].values())
        for name, err in errs["chords"].items():
            chords.setdefault(name, []).append(err)
    assert np.concatenate(bones).max() < 1e-3
    means = {g: float(np.concatenate([np.concatenate(chords[c]) for c in names]).mean())
             for g, names in CHORD_GROUPS.items()}
    print("DeepMimic -> SMPL mean chord errors (deg):", {g: round(v, 2) for g, v in means.items()})
    assert all(v < 10.0 for v in means.values()), means
