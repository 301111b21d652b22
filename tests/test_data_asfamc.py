"""The ASF/AMC reader: format quirks, known answers from scipy, bad input, the CMU files."""
from __future__ import annotations

import gzip
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation as R

from conftest import SHARED, need_shared
from mocap_samples import ASF
from vposer.data.amc import pair_asf, read_amc
from vposer.data.asf import read_asf
from vposer.errors import InputError

SCALE = 0.0254 / 0.5  # metres per file unit
BONES = {"hipjoint": (1, 0, 0), "thigh": (0, -4, 0), "shin": (3, -4, 0), "spine": (0, 1.8, 2.4)}
PARENT = {"hipjoint": "root", "spine": "root", "thigh": "hipjoint", "shin": "thigh"}
RNG = np.random.default_rng(7)
FRAMES = [{"root": RNG.uniform(-1, 1, 6), "thigh": RNG.uniform(-1, 1, 2),
           "shin": RNG.uniform(-1, 1, 5), "spine": RNG.uniform(-1, 1, 3)} for _ in range(3)]


def amc_text(frames=FRAMES, header=":FULLY-SPECIFIED\n:RADIANS\n", degrees=False, skip=()):
    """AMC text of ``frames`` (radians; written in degrees when asked), omitting ``skip``."""
    lines = ["# made by the test", header.rstrip("\n")] if header else ["# made by the test"]
    for k, frame in enumerate(frames):
        lines.append(str(k + 1))
        for bone, vals in frame.items():
            if (k, bone) in skip:
                continue
            vals = np.array(vals, dtype=float)
            if degrees:
                vals = vals.copy()
                rot = slice(0, 3) if bone == "root" else slice(0, len(vals))
                vals[rot] = np.degrees(vals[rot])
                if bone == "shin":
                    vals[3:] = np.radians(vals[3:])  # tx and l are not angles
            lines.append(bone + " " + " ".join(repr(float(v)) for v in vals))
    return "\n".join(lines) + "\n"


def expected(frame):
    """Independent known answer: (globals, positions) by joint name, via scipy."""
    def ex(order, angles):  # lower case: extrinsic, applied in the listed order
        return R.from_euler(order, angles).as_matrix()

    a_root = ex("zyx", [0.3, -0.2, 0.1])  # axis ZYX: z first; orientation lists x y z
    a_thigh = ex("zxy", [0.5, 0.3, -0.2])  # axis 0.3 -0.2 0.5 ZXY
    a_shin = ex("xyz", [0, 0, 0.2])
    r = frame["root"]
    local = {
        "root": a_root @ ex("xyz", r[:3]) @ a_root.T,
        "hipjoint": np.eye(3),
        "thigh": a_thigh @ ex("zx", frame["thigh"]) @ a_thigh.T,  # dof rz rx
        "shin": a_shin @ ex("yxz", frame["shin"][:3]) @ a_shin.T,  # dof ry rx rz
        "spine": ex("xyz", frame["spine"]),
    }
    glob = {"root": local["root"]}
    pos = {"root": (np.array([1.0, 2, 3]) + r[3:]) * SCALE}
    for bone in ("hipjoint", "spine", "thigh", "shin"):
        par = PARENT[bone]
        glob[bone] = glob[par] @ local[bone]
        start = np.zeros(3) if par == "root" else glob[par] @ np.array(BONES[par]) * SCALE
        pos[bone] = pos[par] + start
    for bone in ("shin", "spine"):
        glob[bone + "_end"] = glob[bone]
        pos[bone + "_end"] = pos[bone] + glob[bone] @ np.array(BONES[bone]) * SCALE
    return glob, pos


def write(path: Path, text: str, crlf=False) -> Path:
    data = (text.replace("\n", "\r\n") if crlf else text).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def load(tmp_path, asf=ASF, amc=None, asf_name="s.asf", amc_name="s_01.amc", crlf=False):
    sk = read_asf(write(tmp_path / asf_name, asf, crlf))
    return read_amc(write(tmp_path / amc_name, amc_text() if amc is None else amc, crlf), sk)


def check_known(motion, frames=FRAMES):
    glob, pos = motion.global_rotations()
    names = motion.skeleton.names
    assert glob.shape == (len(frames), len(names), 3, 3) and pos.shape == glob.shape[:3]
    for t, frame in enumerate(frames):
        want_g, want_p = expected(frame)
        for name in want_g:
            j = names.index(name)
            np.testing.assert_allclose(glob[t, j], want_g[name], atol=1e-12, err_msg=name)
            np.testing.assert_allclose(pos[t, j], want_p[name], atol=1e-12, err_msg=name)


def test_skeleton_structure(tmp_path):
    sk = read_asf(write(tmp_path / "s.asf", ASF))
    assert sk.skeleton.names == ["root", "hipjoint", "thigh", "shin", "shin_end", "spine",
                                 "spine_end"]
    assert sk.skeleton.parents.tolist() == [-1, 0, 1, 2, 3, 0, 5]
    assert sk.dof["shin"] == ["ry", "rx", "rz", "tx", "l"] and sk.dof["hipjoint"] == []
    assert sk.dof["root"] == ["rx", "ry", "rz", "tx", "ty", "tz"]
    assert sk.root_order == ["RX", "RY", "RZ", "TX", "TY", "TZ"] and sk.root_axis == "ZYX"
    assert sk.angle == "rad" and sk.length_unit == 0.5 and sk.metres_per_unit == SCALE
    assert sk.bones["thigh"].limits == [(-3.0, 3.0), (-1.0, 1.0)]
    assert sk.bones["spine"].limits[0] == (-np.inf, np.inf) and len(sk.bones["spine"].limits) == 3
    np.testing.assert_allclose(sk.axes[2], R.from_euler("zxy", [0.5, 0.3, -0.2]).as_matrix())


def test_rest_pose(tmp_path):
    zero = [{k: np.zeros_like(v) for k, v in FRAMES[0].items()}]
    motion = load(tmp_path, amc=amc_text(zero))
    glob, pos = motion.global_rotations()
    np.testing.assert_allclose(glob[0], np.broadcast_to(np.eye(3), glob[0].shape), atol=1e-15)
    at = dict(zip(motion.skeleton.names, pos[0]))
    root = np.array([1.0, 2, 3]) * SCALE
    np.testing.assert_allclose(at["root"], root)
    np.testing.assert_allclose(at["thigh"], root + np.array(BONES["hipjoint"]) * SCALE)
    np.testing.assert_allclose(at["shin_end"], at["thigh"] + np.array([3.0, -8, 0]) * SCALE)
    np.testing.assert_allclose(at["spine_end"], root + np.array(BONES["spine"]) * SCALE)
    np.testing.assert_allclose(motion.skeleton.rest_positions(), pos[0], atol=1e-15)


def test_known_answers_radians(tmp_path):
    motion = load(tmp_path)
    assert motion.fps == 120.0 and motion.fully_specified and motion.angle == "rad"
    assert motion.path.endswith("s_01.amc") and len(motion.motion) == 3 and motion.first_frame == 1
    check_known(motion)
    assert motion.local_rotations().shape == (3, 7, 3, 3)
    np.testing.assert_allclose(motion.root_position()[1], FRAMES[1]["root"][3:] * SCALE)


def test_degrees_header_overrides_asf_radians(tmp_path):
    check_known(load(tmp_path, amc=amc_text(header=":DEGREES\n", degrees=True)))


def test_asf_degrees_without_units(tmp_path):
    asf = ASF.replace("angle rad", "").replace("length 0.5", "")
    deg = lambda *a: " ".join(repr(float(np.degrees(v))) for v in a)  # noqa: E731
    asf = asf.replace("0.1 -0.2 0.3", deg(0.1, -0.2, 0.3))
    asf = asf.replace("0.3 -0.2 0.5 ZXY", deg(0.3, -0.2, 0.5) + " ZXY")
    asf = asf.replace("0 0 0.2 XYZ", deg(0, 0, 0.2) + " XYZ")
    asf = asf.replace("position 1 2 3", "position 2 4 6")  # in inches now
    frames = [{**f, "root": np.r_[f["root"][:3], f["root"][3:] * 2]} for f in FRAMES]
    motion = load(tmp_path, asf=asf, amc=amc_text(frames, header="", degrees=True))
    assert motion.asf.angle == "deg" and motion.asf.metres_per_unit == 0.0254
    assert not motion.fully_specified
    glob, pos = motion.global_rotations()
    want_g, want_p = expected(FRAMES[2])
    np.testing.assert_allclose(glob[2, 3], want_g["shin"], atol=1e-12)
    np.testing.assert_allclose(pos[2, 0], want_p["root"], atol=1e-12)
    np.testing.assert_allclose(pos[2, 3], pos[2, 2] + glob[2, 2] @ np.array([0, -4, 0]) * 0.0254)


def test_not_fully_specified_missing_bone_is_zero(tmp_path):
    motion = load(tmp_path, amc=amc_text(header=":RADIANS\n", skip={(1, "spine"), (2, "thigh")}))
    frames = [dict(f) for f in FRAMES]
    frames[1]["spine"] = np.zeros(3)
    frames[2]["thigh"] = np.zeros(2)
    check_known(motion, frames)


def test_crlf_and_gzip(tmp_path):
    motion = load(tmp_path, asf_name="s.asf.gz", amc_name="s_01.amc.gz", crlf=True)
    check_known(motion)
    old_mac = write(tmp_path / "m.amc", amc_text().replace("\n", "\r"))
    check_known(read_amc(old_mac, motion.asf))


def test_units_in_any_order_frames_from_zero_comments(tmp_path):
    asf = ASF.replace("  angle rad\n  mass 1.0\n  length 0.5\n",
                      "  length 0.5\n  angle rad\n")
    amc = amc_text().replace("\n1\n", "\n0\n").replace("\n2\n", "\n1\n").replace("\n3\n", "\n2\n")
    amc = amc.replace("\n1\n", "\n# a comment between frames\n1\n")
    motion = load(tmp_path, asf=asf, amc=amc)
    assert motion.first_frame == 0
    check_known(motion)


def test_pair_asf(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write(tmp_path / "a" / "skel.asf", ASF)
    amc = write(tmp_path / "a" / "walk_01.amc.gz", "")
    assert pair_asf(amc) == one
    assert pair_asf(amc, [one, tmp_path / "b" / "walk.asf"]) == one  # the only one in its folder
    subj = [tmp_path / "b" / n for n in ("subj.asf", "subj_a.asf", "subj_ab.asf", "01.asf.gz")]
    assert pair_asf(tmp_path / "b" / "subj_a_walk_01.amc", subj) == subj[1]
    assert pair_asf(tmp_path / "c" / "01_01.amc.gz", subj) == subj[3]
    with pytest.raises(InputError, match="no ASF") as info:
        pair_asf(tmp_path / "c" / "zz_01.amc", subj)
    assert "zz_01.amc" in str(info.value)


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("old,new,message,line", [
    (":bonedata", ":bones", "no :bonedata", None),
    (":root", ":rot", "no :root", None),
    ("     length 4\n", "", "without 'length'", 24),
    ("     direction 0 -1 0\n", "", "without 'direction'", 24),
    ("dof rz rx", "dof rz rw", "dof must list", 30),
    ("thigh shin", "thigh shinbone", "unknown bone 'shinbone'", 54),
    ("    hipjoint thigh\n", "    shin thigh\n", "shin -> thigh form a cycle", 16),
    ("    root spine\n", "", "'spine' has no parent", 40),
    ("length 0.5", "length 0", "positive", 7),
    ("length 4", "length four", "not a number", 28),
    ("length 4", "length nan", "non-finite or out-of-range", 28),
    ("direction 0 -1 0", "direction 0 -1", "expected 3 number", 27),
    ("axis 0 0 0.2 XYZ", "axis 0 0 0.2 XYW", "permutation of XYZ", 21),
    ("angle rad", "angle grad", "deg or rad", 5),
    ("order RX RY RZ TX TY TZ", "order RX RY RQ", "root order", 11),
    ("  end\n  begin\n     name hipjoint", "  begin\n     name hipjoint", "inside a bone", 33),
    ("name spine", "name shin", "used twice", 40),
    ("root hipjoint\n", "root hipjoint\n thigh hipjoint\n", "second parent", 52),
    ("# a comment", "junk", "before the first :section", 1),
    ("limits (-3.0 3.0)", "limits (-3.0 x)", "limits must be", 31),
])
def test_bad_asf(tmp_path, old, new, message, line):
    assert old in ASF
    path = write(tmp_path / "bad.asf", ASF.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        read_asf(path)
    text = str(info.value)
    assert str(path) in text and message in text, text
    if line:
        assert f"line {line}:" in text, text


def test_truncated_asf(tmp_path):
    cut = ASF[: ASF.index("  end\n  begin\n     name hipjoint")]
    with pytest.raises(InputError, match=r"line 24: bone block without 'end'") as info:
        read_asf(write(tmp_path / "bad.asf", cut))
    assert "bad.asf" in str(info.value)


def test_orphan_and_no_hierarchy(tmp_path):
    with pytest.raises(InputError, match=r"line 16: bone 'shin' has no path") as info:
        read_asf(write(tmp_path / "bad.asf", ASF[: ASF.index(":hierarchy")]))
    assert "bad.asf" in str(info.value)


def _line(frame: int, bone: str) -> str:
    """The text of a bone's line in frame ``frame`` (0-based) of :func:`amc_text`."""
    return bone + " " + " ".join(repr(float(v)) for v in FRAMES[frame][bone])


def _sub(old: str, new: str):
    return lambda t: t.replace(old, new, 1)


@pytest.mark.parametrize("edit,message,line", [
    (_sub(_line(0, "thigh"), _line(0, "thigh").rsplit(" ", 1)[0]),
     "expected 2 values for bone thigh (dof rz rx), found 1", 6),
    (_sub("\nspine ", "\nneck "), "bone not in the ASF 'neck'", 8),
    (_sub("\nspine ", "\nspine x"), "not a number: 'x", 8),
    (_sub(_line(0, "spine"), "spine nan 0 0"), "non-finite value 'nan'", 8),
    (_sub(_line(1, "spine"), "spine 0 -inf 0"), "non-finite value '-inf'", 13),
    (_sub(_line(1, "spine"), "spine 0 1e999 0"), "non-finite value '1e999'", 13),
    (_sub("\n3\n", "\n4\n"), "frame 4 follows frame 2", 14),
    (lambda t: "# nothing\n:FULLY-SPECIFIED\n", "no frames", None),
    (lambda t: "", "no frames", None),
    (lambda t: t[: t.rindex("\nspine")], "frame 3 has no line for bone spine", 14),
    (lambda t: t[: t.rindex(" ")], "expected 3 values for bone spine", 18),
    (_sub("\nroot ", "\nshin 1 2 3 4 5\nroot "), "appears twice", 8),
    (_sub(":RADIANS", "root 1 2 3 4 5 6"), "before the first frame", 3),
    (_sub("\nspine ", "\n:DEGREES\nspine "), "unexpected keyword ':DEGREES'", 8),
])
def test_bad_amc(tmp_path, edit, message, line):
    sk = read_asf(write(tmp_path / "s.asf", ASF))
    path = write(tmp_path / "bad.amc", edit(amc_text()))
    with pytest.raises(InputError) as info:
        read_amc(path, sk)
    text = str(info.value)
    assert str(path) in text and message in text, text
    if line:
        assert f"line {line}:" in text, text


def test_missing_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_asf(tmp_path / "none.asf")
    sk = read_asf(write(tmp_path / "s.asf", ASF))
    with pytest.raises(InputError, match="no such file"):
        read_amc(tmp_path / "none.amc", sk)


_JUNK = ["nan", "inf", "x", "", "1e999", "-", "(", ")", "(1", ":bonedata", ":hierarchy", "begin",
         "end", "root", "99999999999999999999", "0", "-1", "rx", "l", "\n", "\n7\n", "XYZ", "#",
         "\u00e9", "1e308", "thigh", "spine spine", "limits", "length", "order", ":units"]


def _mutate(text: str, rnd: random.Random) -> str:
    op = rnd.randrange(5)
    if op == 0:
        return text[: rnd.randrange(len(text) + 1)]
    lines = text.split("\n")
    k = rnd.randrange(len(lines))
    if op == 1:
        del lines[k]
    elif op == 2:
        lines.insert(k, lines[rnd.randrange(len(lines))])
    elif op == 3:
        toks = lines[k].split(" ")
        toks[rnd.randrange(len(toks))] = rnd.choice(_JUNK)
        lines[k] = " ".join(toks)
    else:
        j = rnd.randrange(len(lines))
        lines[k], lines[j] = lines[j], lines[k]
    return "\n".join(lines)


def test_fuzz_only_input_errors(tmp_path):
    rnd = random.Random(1234)
    good_amc = amc_text()
    outcomes = {"ok": 0, "error": 0}
    for case in range(400):
        asf, amc = ASF, good_amc
        for _ in range(rnd.randint(1, 3)):
            if case % 2:
                asf = _mutate(asf, rnd)
            else:
                amc = _mutate(amc, rnd)
        try:
            motion = load(tmp_path, asf, amc, f"f{case}.asf", f"f{case}.amc")  # new files:
            motion.global_rotations()  # rewriting one file is slow on some file systems
            outcomes["ok"] += 1
        except InputError as exc:
            assert exc.path is not None
            outcomes["error"] += 1
    assert outcomes["ok"] > 20 and outcomes["error"] > 100, outcomes


# ------------------------------------------------------------------------------- CMU files
CMU = SHARED / "data" / "mocap" / "cmu_asfamc"


def _takes():
    root = need_shared("data", "mocap", "cmu_asfamc")
    return sorted(root.glob("*/*.amc.gz"))


def test_cmu_all_takes_parse():
    takes = _takes()
    assert len(takes) == 28
    skeletons = {}
    frames, slowest = 0, 0.0
    for amc in takes:
        asf = pair_asf(amc, sorted(CMU.glob("*/*.asf")))
        assert asf.name == amc.name[:2] + ".asf"
        sk = skeletons.setdefault(asf, read_asf(asf))
        start = time.perf_counter()
        motion = read_amc(amc, sk)
        slowest = max(slowest, time.perf_counter() - start)
        assert motion.fully_specified and motion.first_frame == 1 and motion.fps == 120.0
        assert motion.motion.shape[1] == 62 and np.isfinite(motion.motion).all()
        frames += len(motion.motion)
        _, pos = replace(motion, motion=motion.motion[:1]).global_rotations()  # frame 0 only
        names = motion.skeleton.names
        feet = max(pos[0, names.index(f), 1] for f in ("lfoot", "rfoot", "ltoes", "rtoes"))
        assert pos[0, names.index("head"), 1] > feet + 0.5, amc  # y up, metres
    assert frames == 77754
    assert slowest < 2.0
    for sk in skeletons.values():
        assert sk.length_unit == 0.45 and sk.angle == "deg" and len(sk.skeleton) == 38
        rest = sk.skeleton.rest_positions()
        assert 1.4 < np.ptp(rest[:, 1]) < 2.0  # standing height, metres (y up)


@pytest.mark.parametrize("take", ["02/02_01.amc.gz", "01/01_14.amc.gz"])
def test_cmu_retarget_to_smpl(take):
    from vposer.data.mapping import resolve_mapping
    from vposer.data.quality import CHORD_GROUPS, frame_errors
    from vposer.data.retarget import Retargeter
    from vposer.data.skeleton import body_skeleton, forward_kinematics

    amc = need_shared("data", "mocap", "cmu_asfamc", take)
    motion = read_amc(amc, read_asf(pair_asf(amc)))
    glob, pos = motion.global_rotations()
    names = motion.skeleton.names
    head = pos[0, names.index("head"), 1]
    assert head > pos[0, names.index("lfoot"), 1] and head > pos[0, names.index("rtoes"), 1]
    mapping, profile = resolve_mapping(names)
    assert profile == "cmu-asf"
    rt = Retargeter.build(motion.skeleton, body_skeleton(None), mapping)
    res = rt(glob)
    _, smpl_pos = forward_kinematics(rt.target, res.local_rot)
    errs = frame_errors(rt, smpl_pos, pos)
    assert max(float(e.max()) for e in errs["bones"].values()) < 1e-3
    for group, chords in CHORD_GROUPS.items():
        mean = float(np.mean([errs["chords"][c].mean() for c in chords]))
        assert mean < 8.0, (group, mean)


def test_cmu_feet_stay_planted_while_walking():
    """The convention check on real data. Chord and bone errors cannot see a wrong convention
    (the retargeter copies whatever global rotations it gets, and both skeletons then agree);
    foot skating can: the root translation is measured, the feet come from the joint angles. On
    this walk the slowest 20 % of frames have feet at 0.06-0.09 m/s; with ``A^-1 M A`` or reversed
    Euler orders they slide at 0.2-0.5 m/s."""
    amc = need_shared("data", "mocap", "cmu_asfamc", "02", "02_01.amc.gz")
    motion = read_amc(amc, read_asf(pair_asf(amc)))
    _, pos = motion.global_rotations()
    for foot in ("lfoot", "rfoot", "ltoes", "rtoes"):
        p = pos[:, motion.skeleton.names.index(foot)]
        speed = np.linalg.norm(np.diff(p[:, [0, 2]], axis=0), axis=1) * motion.fps  # y is up
        assert np.percentile(speed, 20) < 0.15, (foot, np.percentile(speed, 20))
