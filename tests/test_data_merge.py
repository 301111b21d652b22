"""Several motion-capture sources as one data set: take groups and splits, de-duplication across
sources, the leakage check, recipes, strict mode, and the shared CMU files in every format."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import need_shared
from vposer.cli import main as cli_main
from vposer.data import load_prepared
from vposer.data.bvh import write_bvh
from vposer.data.dedup import dedup_against, near_any, pose_features
from vposer.data.mocap import SourceSpec, import_mocap
from vposer.data.skeleton import body_skeleton
from vposer.data.sources import SourceOptions, TakeFile
from vposer.data.splits import SplitRule, assign_splits, count_for, take_stem
from vposer.errors import ConfigError, InputError

ASSET = Path(__file__).resolve().parents[1] / "src" / "vposer" / "assets" / "open_body.npz"


@pytest.fixture(scope="module")
def smpl():
    return body_skeleton(np.load(ASSET))


def random_locals(n: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return Rotation.from_rotvec(rng.normal(scale=scale, size=(n * 22, 3))).as_matrix().reshape(
        n, 22, 3, 3)


def joint_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) largest joint angle between axis-angle poses, independently of the package."""
    ra = Rotation.from_rotvec(a.reshape(-1, 3)).as_matrix().reshape(len(a), 1, 21, 3, 3)
    rb = Rotation.from_rotvec(b.reshape(-1, 3)).as_matrix().reshape(1, len(b), 21, 3, 3)
    cos = (np.einsum("nmjab,nmjab->nmj", np.broadcast_to(ra, (len(a), len(b), 21, 3, 3)),
                     np.broadcast_to(rb, (len(a), len(b), 21, 3, 3))) - 1) / 2
    return np.arccos(np.clip(cos, -1, 1)).max(axis=2)


# -- de-duplication --------------------------------------------------------------------------

def test_dedup_matches_a_brute_force_greedy_scan():
    rng = np.random.default_rng(0)
    base = rng.normal(scale=0.6, size=(120, 63))
    # variants of earlier poses at assorted distances (every joint within ~0.002-0.06 rad) and
    # far poses, shuffled, and a reference set near a few of them
    scale = rng.uniform(0.0005, 0.015, size=(200, 1))
    near = base[rng.integers(0, 120, 200)] + rng.normal(size=(200, 63)) * scale
    poses = np.concatenate([base, near])[rng.permutation(320)]
    ref = base[:15] + rng.normal(scale=0.004, size=(15, 63))
    d_self, d_ref = joint_angles(poses, poses), joint_angles(poses, ref).min(axis=1)
    results = []
    values = np.unique(np.concatenate([d_self.ravel(), d_ref]))
    for target in (0.013, 0.031, 0.2):
        # the middle of the widest gap between pose distances near the target: no float32 ties
        candidates = np.linspace(0.8 * target, 1.2 * target, 81)
        margin = np.abs(values[None, :] - candidates[:, None]).min(axis=1)
        threshold = float(candidates[int(np.argmax(margin))])
        assert np.abs(np.concatenate([d_self.ravel(), d_ref]) - threshold).min() > 1e-4
        keep, reason = dedup_against(pose_features(poses), threshold, pose_features(ref))
        expect = np.zeros(len(poses), dtype=bool)
        for i in range(len(poses)):  # the rule, written as plainly as possible
            expect[i] = d_ref[i] > threshold and not any(
                expect[j] and d_self[i, j] <= threshold for j in range(i))
        np.testing.assert_array_equal(keep, expect)
        np.testing.assert_array_equal(reason == 1, d_ref <= threshold)
        assert not near_any(pose_features(poses[keep]), pose_features(ref), threshold).any()
        results.append(int(keep.sum()))
    assert results[0] > results[1] > results[2] > 100  # the thresholds make a difference
    assert dedup_against(pose_features(poses), 0.0)[0].all()


# -- splits ----------------------------------------------------------------------------------

def _take(source, rel, folder="", split=""):
    return TakeFile(source, Path(source), Path(source, rel), rel, "bvh", folder, split)


def test_take_stem_and_counts():
    assert take_stem("salsa/01.bvh.gz") == "salsa/01" and take_stem("02_01.json") == "02_01"
    assert take_stem("train/walking/1") == "train/walking/1"
    assert [count_for(k, 10) for k in (0, 0.15, 0.5, 1, 3, 20)] == [0, 2, 5, 1, 3, 9]
    assert count_for(0.5, 1) == 0  # one group always stays


def test_splits_keep_groups_together_and_fixed_splits():
    takes = [_take("cmu", f"train/walk/{k}", "walk", "train") for k in range(4)]
    takes += [_take("cmu", "test/walk/9", "walk", "test")]
    takes += [_take("dance", f"salsa/{k:02d}.bvh.gz", "salsa") for k in range(1, 13)]
    takes += [_take("amc", f"02/02_{k:02d}.amc", "02") for k in range(1, 7)]
    takes += [_take("dm", f"02_{k:02d}.json") for k in range(1, 7)]
    rules = {"cmu": SplitRule(val=1),
             "dance": SplitRule(test=0.25, val=0.25,
                                groups=[[f"salsa/{k:02d}", f"salsa/{k + 6:02d}"] for k in range(1, 7)]),
             "amc": SplitRule(test=2, val=1, take_id="stem"),
             "dm": SplitRule(test=0.5, take_id="stem")}
    splits, groups = assign_splits(takes, rules)
    split = {f"{t.source}/{t.rel}": s for t, s in zip(takes, splits)}
    # the CMU set keeps its test take and draws one validation take from its training takes
    assert split["cmu/test/walk/9"] == "test"
    assert sorted(split[f"cmu/train/walk/{k}"] for k in range(4)) == ["train"] * 3 + ["vald"]
    # partners share a split; 6 pairs: 0.25 -> 2 test pairs, then 1 of 4 for vald
    for k in range(1, 7):
        assert split[f"dance/salsa/{k:02d}.bvh.gz"] == split[f"dance/salsa/{k + 6:02d}.bvh.gz"]
    dance = [s for key, s in split.items() if key.startswith("dance/")]
    assert dance.count("test") == 4 and dance.count("vald") == 2
    # the same CMU take in two sources: one split; the DeepMimic source adds no test takes of
    # its own, as all its takes follow the ASF/AMC source's
    for k in range(1, 7):
        assert split[f"amc/02/02_{k:02d}.amc"] == split[f"dm/02_{k:02d}.json"]
    amc = [split[f"amc/02/02_{k:02d}.amc"] for k in range(1, 7)]
    assert amc.count("test") == 2 and amc.count("vald") == 1
    assert sum(len(g) > 1 for g in groups) == 12
    # deterministic, and independent of the other sources
    again, _ = assign_splits(takes[5:], rules)
    assert again == splits[5:]


# -- importing several sources -----------------------------------------------------------------

def _bvh_source(root: Path, smpl, takes: dict, fps: float = 60.0, gz: bool = False) -> None:
    for name, (n, seed) in takes.items():
        path = root / f"{name}.bvh"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bvh(path, smpl, random_locals(n, 0.4, seed), frame_time=1 / fps)
        if gz:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()


def test_import_several_sources_dedup_and_leakage(smpl, tmp_path):
    a, b = tmp_path / "studio_a", tmp_path / "studio_b"
    _bvh_source(a, smpl, {f"walk/t{k}": (30 + k, k) for k in range(6)})
    _bvh_source(b, smpl, {f"jump/j{k}": (20, 10 + k) for k in range(4)}, fps=120, gz=True)
    # studio B also holds a copy of one of A's takes under another name (a leak, if that take is
    # in A's test set) and a held pose (the same frame over and over)
    shutil.copy(a / "walk" / "t0.bvh", b / "jump" / "copy_of_t0.bvh")
    write_bvh(b / "jump" / "held.bvh", smpl, np.repeat(random_locals(1, 0.4, 99), 40, axis=0),
              frame_time=1 / 120)
    (b / "jump" / "broken.bvh.gz").write_bytes(gzip.compress(b"HIERARCHY\nROOT Hips\n{\n"))
    specs = [SourceSpec(a, rule=SplitRule(test=2, val=1)), SourceSpec(b, rule=SplitRule(val=1))]
    out = tmp_path / "out"
    summary = import_mocap(specs, out, target_fps=30, dedup_threshold=0.02, progress=False,
                           log=lambda m: None)
    test, train = load_prepared(out, "test"), load_prepared(out, "train")
    vald = load_prepared(out, "vald")
    assert {f["dataset"] for f in train.files} == {"studio_a", "studio_b"}
    assert [s["path"] for s in summary["skipped"]] == ["jump/broken.bvh.gz"]
    assert summary["splits"]["test"]["per_source"].keys() == {"studio_a"}
    assert sum(r["takes"] for r in summary["splits"]["test"]["per_source"]["studio_a"].values()) == 2
    # no kept training or validation pose lies within the threshold of a test pose
    for split in (train, vald):
        assert joint_angles(np.asarray(split.pose_body, np.float64),
                            np.asarray(test.pose_body, np.float64)).min() > 0.02
    assert summary["dedup"]["leakage_check"] == {"train_poses_within_threshold_of_a_test_pose": 0}
    # the held pose keeps one frame; 120 -> 30 fps keeps every 4th source frame
    held = [k for k, f in enumerate(train.files + vald.files) if f["path"] == "jump/held.bvh"]
    assert held
    rows = [i for i in range(len(train)) if train.files[train.provenance[i, 0]]["path"]
            == "jump/held.bvh"]
    assert len(rows) <= 1
    copy_in_test = any(f["path"] == "walk/t0.bvh" for f in test.files)
    copy_rows = sum(train.files[i]["path"] == "jump/copy_of_t0.bvh" and
                    (train.provenance[:, 0] == i).sum() > 0 for i in range(len(train.files)))
    if copy_in_test:
        assert copy_rows == 0
    key, frame = train.trace(0)
    assert frame % 2 == 0 and key.endswith(".bvh")
    dedup = summary["dedup"]
    assert dedup["train"]["kept"] == len(train) and dedup["vald"]["kept"] == len(vald)


def test_strict_stops_and_leaves_nothing(smpl, tmp_path):
    src = tmp_path / "src"
    _bvh_source(src, smpl, {"a/t1": (10, 1)})
    (src / "a" / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 x\n}\nMOTION\n")
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"bad\.bvh: line 4: expected 3 numbers"):
        import_mocap(src, out, strict=True, progress=False, log=lambda m: None)
    assert not out.exists() and list(tmp_path.iterdir()) == [src]
    assert cli_main(["import-mocap", str(src), "-o", str(out), "--strict", "--no-progress"]) != 0
    assert not out.exists()


def test_recipe_file(smpl, tmp_path, capsys):
    _bvh_source(tmp_path / "data" / "dance", smpl,
                {f"salsa/{k:02d}": (12, k) for k in range(1, 7)}, fps=120)
    recipe = tmp_path / "recipes" / "mine.yaml"
    recipe.parent.mkdir()
    recipe.write_text("target_fps: 30\ndedup_threshold: 0.01\nsources:\n"
                      "  - path: ../data/dance\n    name: dance\n    fps: {salsa: 60}\n"
                      "    test_takes: 1\n    groups: [[salsa/01, salsa/04], [salsa/02, salsa/05]]\n")
    out = tmp_path / "out"
    assert cli_main(["import-mocap", "--recipe", str(recipe), "-o", str(out), "--no-progress"]) == 0
    assert "near-duplicates (threshold 0.01 rad)" in capsys.readouterr().out
    test = load_prepared(out, "test")
    names = sorted(f["path"] for f in test.files)
    assert names in (["salsa/01.bvh", "salsa/04.bvh"], ["salsa/02.bvh", "salsa/05.bvh"],
                     ["salsa/03.bvh"], ["salsa/06.bvh"])
    # the true rate (60) overrides the header's 120: 30 fps keeps every other frame
    assert test.files[0]["fps"] == 60 and len(test) == 6 * len(test.files)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sources"][0]["name"] == "dance"
    for bad, message in (("sources: []\n", "non-empty 'sources'"),
                         ("sources:\n  - path: x\n    colour: red\n", "unknown key"),
                         ("sources:\n  - path: x\n    fps: fast\n", "must be a number"),
                         ("sources:\n  - path: x\n    take_id: name\n", "take_id"),
                         ("bogus: 1\nsources:\n  - path: x\n", "unknown key")):
        recipe.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            from vposer.data.import_recipe import read_recipe

            read_recipe(recipe)
    assert cli_main(["import-mocap", "x", "--recipe", str(recipe), "-o", str(out)]) != 0
    assert "not both" in capsys.readouterr().err


# -- the shared CMU files, one or two takes of each format -----------------------------------

def test_every_format_of_the_shared_data(tmp_path):
    mocap = need_shared("data", "mocap")
    src = tmp_path / "mix"
    (src / "amc" / "02").mkdir(parents=True)
    (src / "dance" / "salsa").mkdir(parents=True)
    (src / "dm").mkdir(parents=True)
    shutil.copy(mocap / "cmu_asfamc" / "02" / "02.asf", src / "amc" / "02")
    for take in ("02_01", "02_02"):
        shutil.copy(mocap / "cmu_asfamc" / "02" / f"{take}.amc.gz", src / "amc" / "02")
        shutil.copy(mocap / "cmu_deepmimic" / f"{take}.json", src / "dm")
    shutil.copy(mocap / "cmu_deepmimic" / "humanoid3d.json", src / "dm")
    for take in ("01", "16"):
        shutil.copy(mocap / "cmu_bvh_dance" / "salsa" / f"{take}.bvh.gz", src / "dance" / "salsa")
    specs = [SourceSpec(src / "amc", SourceOptions("asfamc"), SplitRule(test=1, take_id="stem")),
             SourceSpec(src / "dance", SourceOptions("dance", fps={"salsa": 60}),
                        SplitRule(groups=[["salsa/01", "salsa/16"]])),
             SourceSpec(src / "dm", SourceOptions("dm"), SplitRule(take_id="stem"))]
    out = tmp_path / "out"
    summary = import_mocap(specs, out, target_fps=30, dedup_threshold=0.05, progress=False)
    quality = json.loads((out / "quality.json").read_text())["per_source"]
    assert set(quality) == {"asfamc", "dance", "dm"}
    for name, q in quality.items():
        assert q["bone_direction_deg"]["all"]["max"] < 1e-3, name
        assert q["chord_deg"]["groups"]["hip to ankle"]["mean"] < 5, name
    profiles = {label.split(" ")[1] for label in summary["retarget"]}
    assert profiles == {"(cmu-asf)", "(daz)", "(deepmimic)"}
    test = load_prepared(out, "test")
    # the AMC test take and its DeepMimic twin are both test takes, nothing else
    assert sorted(f["dataset"] for f in test.files) == ["asfamc", "dm"]
    assert Path(test.files[0]["path"]).name.split(".")[0] == Path(test.files[1]["path"]).stem
    train = load_prepared(out, "train")
    assert {f["fps"] for f in train.files if f["dataset"] == "dance"} == {60}
    dm_still = summary["retarget"]["dm (deepmimic)"]["never_moved"]
    assert set(dm_still) == {"Spine1", "Spine2", "L_Foot", "R_Foot", "L_Collar", "R_Collar",
                             "Head", "L_Wrist", "R_Wrist"}


def test_damaged_files_of_every_format_are_named_and_skipped(tmp_path, capsys):
    mocap = need_shared("data", "mocap")
    src = tmp_path / "mix"
    for folder in ("a", "b", "dm"):
        (src / folder).mkdir(parents=True)
    shutil.copy(mocap / "cmu_asfamc" / "02" / "02.asf", src / "a")
    shutil.copy(mocap / "cmu_asfamc" / "02" / "02_01.amc.gz", src / "a")
    text = gzip.decompress((mocap / "cmu_asfamc" / "02" / "02_02.amc.gz").read_bytes()).decode()
    lines = text.splitlines()
    lines[400] = lines[400].rsplit(" ", 1)[0]  # one value short on line 401
    (src / "a" / "02_02.amc").write_text("\n".join(lines) + "\n")
    # a second subject whose skeleton lost its bone data
    asf = (src / "a" / "02.asf").read_text()
    (src / "b" / "07.asf").write_text(asf[:asf.index(":bonedata")])
    shutil.copy(src / "a" / "02_01.amc.gz", src / "b" / "07_01.amc.gz")
    shutil.copy(mocap / "cmu_deepmimic" / "humanoid3d.json", src / "dm")
    shutil.copy(mocap / "cmu_deepmimic" / "02_01.json", src / "dm")
    clip = json.loads((mocap / "cmu_deepmimic" / "02_02.json").read_text())
    clip["Frames"][5][9] = float("nan")
    (src / "dm" / "02_02.json").write_text(json.dumps(clip))
    bvh = gzip.decompress((mocap / "cmu_bvh_dance" / "salsa" / "01.bvh.gz").read_bytes())
    (src / "dm" / "cut.bvh").write_bytes(bvh[:len(bvh) // 2])  # truncated mid-motion
    (src / "dm" / "notes.json").write_text('{"note": "not motion capture"}')
    out = tmp_path / "out"
    assert cli_main(["import-mocap", str(src), "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    reasons = {s["path"]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {"a/02_02.amc", "b/07_01.amc.gz", "dm/02_02.json", "dm/cut.bvh",
                            "dm/notes.json"}
    assert reasons["a/02_02.amc"].startswith("line 401:")
    assert "07.asf" in reasons["b/07_01.amc.gz"] and "bonedata" in reasons["b/07_01.amc.gz"]
    assert "frame 5" in reasons["dm/02_02.json"]
    assert "truncated" in reasons["dm/cut.bvh"] and "neither" in reasons["dm/notes.json"]
    assert "skipped 5 file(s)" in captured.out
    for name in reasons:
        assert name in captured.err  # named as it happens
    train = load_prepared(out, "train")
    assert sorted(f["path"] for f in train.files) == ["a/02_01.amc.gz", "dm/02_01.json"]
    # --strict stops at the first and leaves the previous output as it was
    before = (out / "summary.json").read_bytes()
    assert cli_main(["import-mocap", str(src), "-o", str(out), "--strict", "--no-progress"]) == 1
    assert "notes.json: a JSON file that is neither" in capsys.readouterr().err
    (src / "dm" / "notes.json").unlink()
    assert cli_main(["import-mocap", str(src), "-o", str(out), "--strict", "--no-progress"]) == 1
    assert "02_02.amc: line 401: " in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix", "out"]


def test_asf_with_other_bone_names_takes_a_mapping_file(tmp_path):
    mocap = need_shared("data", "mocap")
    src = tmp_path / "lab"
    src.mkdir()
    rename = {"lfemur": "thigh_l", "rfemur": "thigh_r", "lowerback": "spine_a",
              "upperback": "spine_b", "thorax": "chest"}
    asf = (mocap / "cmu_asfamc" / "02" / "02.asf").read_text()
    amc = gzip.decompress((mocap / "cmu_asfamc" / "02" / "02_01.amc.gz").read_bytes()).decode()
    for old, new in rename.items():
        asf = asf.replace(f" {old}", f" {new}").replace(f"{old} ", f"{new} ")
        amc = amc.replace(f"\n{old} ", f"\n{new} ")
    (src / "lab.asf").write_text(asf)
    (src / "lab_walk.amc").write_text(amc)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="no source joint for SMPL joint"):
        import_mocap(src, out, strict=True, progress=False)
    from vposer.data.mapping import PROFILES

    mapping = {joint: rename.get(names[0], names[0])
               for joint, names in PROFILES["cmu-asf"].items()}
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(json.dumps(mapping))
    assert cli_main(["import-mocap", str(src), "-o", str(out), "--mapping", str(mapping_file),
                     "--no-progress"]) == 0
    quality = json.loads((out / "quality.json").read_text())["all"]
    assert quality["bone_direction_deg"]["all"]["max"] < 1e-3
    assert quality["chord_deg"]["groups"]["hip to ankle"]["mean"] < 3
    assert len(load_prepared(out, "train")) == (343 + 3) // 4  # 120 -> 30 fps
