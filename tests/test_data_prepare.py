"""AMASS preparation on a small synthetic tree: layouts, splits, subsampling, dedup, provenance."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vposer.cli import main as cli_main
from vposer.data import amass, load_prepared, prepare_amass
from vposer.data.pipeline import process_take
from vposer.data.prepared import NpyAppender
from vposer.data.select import dedup_indices, subsample_indices
from vposer.errors import ConfigError, InputError


def _take(path: Path, frames: int, fps: float, width: int = 156, rate_key: str = "mocap_framerate",
          seed: int = 0, poses: np.ndarray = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if poses is None:
        poses = rng.normal(scale=0.3, size=(frames, width)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, poses=poses, trans=np.zeros((len(poses), 3)), betas=np.zeros(16),
             gender=np.array("neutral"), **{rate_key: np.array(fps)})
    return poses


def _subjects(part: str, count: int) -> list:
    """BMLrub subject names that the documented hash rule puts in ``part``."""
    out = []
    i = 0
    while len(out) < count:
        name = f"rub{i:03d}"
        if amass.subject_part("BMLrub", name, amass.DEFAULT_SUBJECT_SPLIT) == part:
            out.append(name)
        i += 1
    return out


@pytest.fixture
def tree(tmp_path: Path) -> dict:
    """A miniature AMASS tree with both naming variants, both rate keys and bad files."""
    root = tmp_path / "amass"
    files = {}
    # CMU: SMPL+H, old key, 120 Hz -> 30 Hz keeps every 4th frame
    files["CMU/01/01_01_poses.npz"] = _take(root / "CMU/01/01_01_poses.npz", 100, 120.0, seed=1)
    files["CMU/01/01_02_poses.npz"] = _take(root / "CMU/01/01_02_poses.npz", 37, 120.0, seed=2)
    _take(root / "CMU/01/shape.npz", 1, 1.0)  # not a take, skipped silently
    # BMLrub under its old folder name, SMPL-X stageii naming, the new rate key, 60 Hz
    for part, seed in (("train", 10), ("vald", 20), ("test", 30)):
        for k, subject in enumerate(_subjects(part, 2)):
            rel = f"BioMotionLab_NTroje/{subject}/take{k}_stageii.npz"
            files[rel] = _take(root / rel, 50, 60.0, width=165, rate_key="mocap_frame_rate",
                               seed=seed + k)
            _take(root / f"BioMotionLab_NTroje/{subject}/take{k}_stagei.npz", 1, 1.0)
    # HumanEva and MPI_HDM05 (alias of HDM05): only in v1
    files["HumanEva/S1/walk_poses.npz"] = _take(root / "HumanEva/S1/walk_poses.npz", 40, 100.0)
    files["MPI_HDM05/bd/01_poses.npz"] = _take(root / "MPI_HDM05/bd/01_poses.npz", 30, 120.0)
    # a corrupt file and a foreign one, both reported
    (root / "CMU/02").mkdir(parents=True)
    (root / "CMU/02/02_01_poses.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    np.savez(root / "CMU/02/notes.npz", text=np.arange(3))
    return {"root": root, "files": files}


def test_subsample_indices_rate_aware():
    assert subsample_indices(100, 120, 30).tolist() == list(range(0, 100, 4))
    assert subsample_indices(50, 60, 30).tolist() == list(range(0, 50, 2))
    assert len(subsample_indices(100, 100, 30)) == 30  # t = 0 .. 0.99 s at 1/30 s
    np.testing.assert_array_equal(subsample_indices(7, 30, 30), np.arange(7))
    np.testing.assert_array_equal(subsample_indices(7, 120, 0), np.arange(7))


def test_dedup_greedy_against_last_kept():
    base = np.zeros((12, 63), np.float32)
    base[4:8, 0] = 0.1     # a jump of 0.1 rad at frame 4
    base[8:, 0] = 0.1 + 0.004 * np.arange(1, 5)  # slow drift: 0.004, ..., 0.016 rad
    kept = dedup_indices(base, threshold=0.01)
    # frame 0; frame 4 (0.1 away); then the drift passes 0.01 from frame 4 at frame 10 (0.012)
    assert kept.tolist() == [0, 4, 10]
    assert dedup_indices(base, 0.0).tolist() == list(range(12))


def test_dedup_matches_a_frame_by_frame_scan():
    from vposer.data.select import pose_distance, rodrigues

    walk = np.cumsum(np.random.default_rng(0).normal(scale=0.006, size=(1500, 63)), axis=0)
    mats = rodrigues(walk.reshape(1500, 21, 3))
    ref = [0]
    for i in range(1, 1500):
        if pose_distance(mats[i:i + 1], mats[ref[-1]])[0] > 0.02:
            ref.append(i)
    assert 100 < len(ref) < 1400
    assert dedup_indices(walk, 0.02).tolist() == ref


def test_read_take_variants_and_failures(tree):
    root = tree["root"]
    take = amass.read_take(root / "CMU/01/01_01_poses.npz")
    assert take.model == "SMPL+H" and take.fps == 120.0 and take.pose_body.shape == (100, 63)
    np.testing.assert_array_equal(take.pose_body, tree["files"]["CMU/01/01_01_poses.npz"][:, 3:66])
    rel = next(k for k in tree["files"] if k.endswith("_stageii.npz"))
    take = amass.read_take(root / rel)
    assert take.model == "SMPL-X" and take.fps == 60.0
    np.testing.assert_array_equal(take.root_orient, tree["files"][rel][:, :3])
    with pytest.raises(amass.TakeError, match="unreadable"):
        amass.read_take(root / "CMU/02/02_01_poses.npz")
    with pytest.raises(amass.TakeError, match="no 'poses'"):
        amass.read_take(root / "CMU/02/notes.npz")


def test_recipes_aliases_and_subject_split(tmp_path):
    v2, v1 = amass.load_recipe("v2"), amass.load_recipe("v1")
    assert amass.canonical_dataset("BioMotionLab_NTroje") == "BMLrub"
    assert amass.canonical_dataset("mpi_hdm05") == "HDM05"
    assert v2.assign("CMU", "01") == "train"
    assert v2.assign("HumanEva", "S1") is None  # not in V02_05
    for part in ("train", "vald", "test"):
        assert v2.assign("BioMotionLab_NTroje", _subjects(part, 1)[0]) == part
    assert v1.assign("MPI_HDM05", "bd") == "vald" and v1.assign("SSM_synced", "x") == "test"
    assert v1.assign("ACCAD", "x") == "train"  # '*': the rest
    # the documented rule, and roughly the fractions over many subjects
    parts = [amass.subject_part("BMLrub", f"s{i}", {"vald": 0.1, "test": 0.1}) for i in range(2000)]
    assert 0.07 < parts.count("test") / 2000 < 0.13 and 0.07 < parts.count("vald") / 2000 < 0.13
    cfg = tmp_path / "r.yaml"
    cfg.write_text("splits:\n  train: [CMU]\n  test: [HumanEva_test, HumanEva_vald]\n"
                   "subject_split: {vald: 0.5, test: 0.5}\n")
    custom = amass.load_recipe(str(cfg))
    assert custom.assign("HumanEva", "S1") == "test" and custom.assign("ACCAD", "x") is None
    cfg.write_text("splits: [1, 2]\n")
    with pytest.raises(ConfigError, match="r.yaml"):
        amass.load_recipe(str(cfg))


def test_prepare_v2_counts_splits_provenance(tree, tmp_path):
    out = tmp_path / "out"
    warnings = []
    summary = prepare_amass(tree["root"], out, "v2", target_fps=30, progress=False,
                            log=warnings.append)
    # corrupt and foreign files reported with their path; shape.npz / stagei never
    skipped = {s["path"]: s["reason"] for s in summary["skipped"]}
    assert set(skipped) == {"CMU/02/02_01_poses.npz", "CMU/02/notes.npz"}
    assert "no 'poses'" in skipped["CMU/02/notes.npz"]
    assert len(warnings) == 2 and all(str(tree["root"]) in w for w in warnings)
    assert not any("shape.npz" in w or "stagei" in w for w in warnings)
    # counts: CMU 100 @120 -> 25, 37 @120 -> 10; each BMLrub take 50 @60 -> 25
    assert summary["splits"]["train"]["frames"] == 25 + 10 + 2 * 25
    assert summary["splits"]["train"]["frames_source"] == 100 + 37 + 2 * 50
    assert summary["splits"]["vald"]["frames"] == 50 and summary["splits"]["test"]["frames"] == 50
    assert summary["datasets"]["BMLrub"]["test"]["files"] == 2
    assert summary["unused_files"] == {"HumanEva": 1, "HDM05": 1}
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["splits"] == summary["splits"]

    train = load_prepared(out, "train")
    assert isinstance(train.pose_body, np.memmap) and train.pose_body.dtype == np.float32
    assert train.pose_body.shape == (85, 63) and train.root_orient.shape == (85, 3)
    assert train.provenance.dtype == np.int32
    # provenance round trip: every row is its source frame
    for i in range(len(train)):
        path, frame = train.trace(i)
        src = tree["files"][path]
        np.testing.assert_array_equal(train.pose_body[i], src[frame, 3:66])
        np.testing.assert_array_equal(train.root_orient[i], src[frame, :3])
    paths = [f["path"] for f in train.files]
    assert paths == sorted(paths) and len(paths) == 4  # deterministic order: sorted paths
    assert {f["dataset"] for f in train.files} == {"BMLrub", "CMU"}
    assert train.trace(len(train) - 1) == ("CMU/01/01_02_poses.npz", 36)
    assert {f["fps"] for f in train.files} == {60.0, 120.0}
    assert load_prepared(out, "val").name == "vald"
    with pytest.raises(InputError, match="no split"):
        load_prepared(out, "nope")


def test_prepare_v1_and_dedup(tree, tmp_path):
    summary = prepare_amass(tree["root"], tmp_path / "v1", "v1", target_fps=0, progress=False,
                            log=lambda m: None)
    assert summary["splits"]["vald"]["frames"] == 40 + 30  # HumanEva + HDM05 (alias), all frames
    assert summary["datasets"]["HDM05"]["vald"]["files"] == 1
    # near-duplicate removal: a take that holds still keeps one frame
    still = np.zeros((90, 156), np.float32)
    _take(tree["root"] / "CMU/03/still_poses.npz", 90, 120.0, poses=still)
    res = process_take(str(tree["root"]), "CMU/03/still_poses.npz", 30.0, 0.01)
    assert res["subsampled"] == 23 and res["frames"].tolist() == [0]


def test_same_output_for_any_worker_count_and_after_interruption(tree, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    prepare_amass(tree["root"], a, "v1", progress=False, log=lambda m: None)
    prepare_amass(tree["root"], b, "v1", workers=2, progress=False, log=lambda m: None)
    for split in ("train", "vald", "test"):
        for name in ("pose_body.npy", "root_orient.npy", "provenance.npy", "files.json"):
            assert (a / split / name).read_bytes() == (b / split / name).read_bytes()

    # interrupted: nothing half-written appears, the previous output stays, a rerun matches
    import vposer.data.pipeline as pipeline

    calls = {"n": 0}
    real = pipeline.process_take

    def dying(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(pipeline, "process_take", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare_amass(tree["root"], b, "v2", progress=False, log=lambda m: None)
    assert json.loads((b / "summary.json").read_text())["settings"]["recipe"]["name"] == "v1"
    assert not list(tmp_path.glob(".b.tmp-*"))
    monkeypatch.setattr(pipeline, "process_take", real)
    prepare_amass(tree["root"], b, "v1", progress=False, log=lambda m: None)
    assert (a / "train" / "pose_body.npy").read_bytes() == (b / "train" / "pose_body.npy").read_bytes()


def test_refuses_to_overwrite_foreign_directory(tree, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    with pytest.raises(InputError, match="refusing"):
        prepare_amass(tree["root"], out, progress=False, log=lambda m: None)
    assert (out / "precious.txt").read_text() == "keep"


def test_npy_appender_streams_and_memmaps(tmp_path):
    path = tmp_path / "x.npy"
    app = NpyAppender(path, (63,), np.float32)
    chunks = [np.full((n, 63), n, np.float32) for n in (3, 0, 5, 1)]
    for c in chunks:
        app.append(c)
    app.close()
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap) and mm.shape == (9, 63)
    np.testing.assert_array_equal(np.asarray(mm), np.concatenate(chunks))
    assert (path.stat().st_size - 9 * 63 * 4) % 64 == 0  # aligned header


def test_cli_prepare(tree, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(["prepare", str(tree["root"]), "-o", str(out), "--splits", "v2",
                     "--target-fps", "30", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0
    assert "BMLrub" in captured.out and "total" in captured.out
    assert "02_01_poses.npz" in captured.err
    assert len(load_prepared(out, "test")) == 50
    assert cli_main(["prepare", str(tmp_path / "missing"), "-o", str(out)]) == 1


def test_output_set_aside_by_an_interrupted_swap_is_put_back(tmp_path):
    """Killed between moving the old output aside and moving the new one in: the next run
    restores the old output instead of deleting it."""
    from vposer.data.prepared import atomic_output_dir

    out = tmp_path / "prepared"
    aside = tmp_path / ".prepared.old-12345"
    aside.mkdir()
    (aside / "summary.json").write_text("{}")
    unfinished = tmp_path / ".prepared.tmp-abc"
    unfinished.mkdir()
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out):
            raise RuntimeError("the new run fails too")
    assert (out / "summary.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]
    with atomic_output_dir(out) as tmp:
        (tmp / "summary.json").write_text('{"new": 1}')
    assert (out / "summary.json").read_text() == '{"new": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_output_folder_under_a_file_is_named(tmp_path):
    from vposer.data.prepared import atomic_output_dir
    from vposer.errors import OutputError

    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="afile' is a file, not a folder"):
        with atomic_output_dir(tmp_path / "afile" / "prepared"):
            pass
