"""vposer generate: deterministic shards, manifest, resume, errors, formats, sampling controls."""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import vposer
from vposer.cli import main
from vposer.generate import (
    Settings,
    derive_seed,
    draw_latent,
    read_manifest,
    verify,
    write_npz,
)
from vposer.generate.settings import parse_shard_range
from vposer.model import VPoserConfig, build_model
from vposer.posefiles import model_fingerprint
from vposer.rotations import axis_angle_to_matrix

N, SHARD = 2000, 500  # 4 shards


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A freshly built random v2 model in the native format (no ../shared needed)."""
    torch.manual_seed(0)
    model = build_model(VPoserConfig())
    path = tmp_path_factory.mktemp("model") / "vposer"
    vposer.save_model(model, path)
    return path


def gen(out, model_dir, *extra) -> int:
    """Run ``vposer generate`` in this process (1 worker unless ``extra`` says otherwise)."""
    args = ["generate", "--n", N, "--shard-size", SHARD, "--out", out, "-m", model_dir, "--no-progress"]
    if "--workers" not in extra:
        args += ["--workers", "1"]
    return main([str(a) for a in args + list(extra)])


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory) -> Path:
    """An uninterrupted 4-shard run: what every other run must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "ds"
    assert gen(out, model_dir) == 0
    return out


def shard_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("shard-*"))}


def assert_same_dataset(a: Path, b: Path) -> None:
    assert (a / "manifest.json").read_text() == (b / "manifest.json").read_text()
    assert shard_files(a) == shard_files(b)
    assert not list(b.glob(".*.tmp")), "temporary files left behind"


# -- determinism ---------------------------------------------------------------------------------
def test_seed_derivation_is_the_documented_sha256():
    text = b"vposer-generate/1:7:3:latent"
    assert derive_seed(7, 3) == int.from_bytes(hashlib.sha256(text).digest()[:8], "big")
    seeds = {derive_seed(0, i, s) for i in range(50) for s in ("latent", "mix", "root", "camera")}
    assert len(seeds) == 200 and all(0 <= s < 2**64 for s in seeds)


def test_manifest_records_model_settings_and_checksums(reference, model_dir):
    doc = read_manifest(reference / "manifest.json")
    assert doc["complete"] and doc["num_shards"] == 4 and doc["num_samples"] == N
    assert doc["model"]["sha256"] == model_fingerprint(vposer.load_model(model_dir))
    assert doc["settings"]["seed"] == 0 and doc["settings"]["shard_size"] == SHARD
    for i, entry in enumerate(doc["shards"]):
        path = reference / entry["file"]
        assert entry["index"] == i and entry["count"] == SHARD and entry["file"] == f"shard-{i:06d}.npz"
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["bytes"] == path.stat().st_size


def test_shard_is_the_models_own_sample(reference, model_dir):
    """No option set: shard i holds model.sample(count, seed=derive_seed(seed, i)) exactly."""
    model = vposer.load_model(model_dir)
    data = np.load(reference / "shard-000002.npz")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = model.sample(SHARD, seed=derive_seed(0, 2))
        z = model.sample_latent(SHARD, seed=derive_seed(0, 2))
    finally:
        torch.set_num_threads(old)
    assert data["pose_body"].dtype == np.float32 and data["pose_body"].shape == (SHARD, 63)
    assert np.array_equal(data["pose_body"], expected.pose_body.numpy())
    assert np.array_equal(data["z"], z.numpy())
    meta = json.loads(str(data["meta"]))
    assert meta["shard"] == 2 and meta["latent_seed"] == derive_seed(0, 2)


def test_npz_bytes_have_no_timestamps():
    arrays = [("a", np.arange(6, dtype=np.float32).reshape(2, 3)), ("meta", np.array('{"x": 1}'))]
    first = io.BytesIO()
    write_npz(first, arrays)
    time.sleep(2.1)  # zip times have a 2 s resolution: np.savez would now differ
    second = io.BytesIO()
    write_npz(second, arrays)
    assert first.getvalue() == second.getvalue()
    infos = zipfile.ZipFile(io.BytesIO(first.getvalue())).infolist()
    assert [i.filename for i in infos] == ["a.npy", "meta.npy"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    loaded = np.load(io.BytesIO(first.getvalue()))
    assert np.array_equal(loaded["a"], arrays[0][1]) and loaded["meta"].shape == ()


def test_one_and_two_workers_give_identical_bytes(reference, model_dir, tmp_path):
    out = tmp_path / "two"
    assert gen(out, model_dir, "--workers", "2") == 0
    assert_same_dataset(reference, out)


def test_shards_in_any_order_and_resume_give_the_same_manifest(reference, model_dir, tmp_path, capsys):
    out = tmp_path / "parts"
    assert gen(out, model_dir, "--shards", "3:4") == 0
    assert gen(out, model_dir, "--shards", "1:2") == 0
    partial = read_manifest(out / "manifest.json")
    assert [e["index"] for e in partial["shards"]] == [1, 3] and not partial["complete"]
    assert gen(out, model_dir) == 1  # existing shards need --resume
    assert "--resume" in capsys.readouterr().err
    assert gen(out, model_dir, "--resume") == 0
    assert "2 generated, 2 verified" in capsys.readouterr().out
    assert_same_dataset(reference, out)


def test_per_task_manifests_are_merged_by_a_final_resume(reference, model_dir, tmp_path, capsys):
    """Job-array tasks on a file system without locks: one manifest each, merged at the end."""
    out = tmp_path / "array"
    assert gen(out, model_dir, "--shards", "2:4", "--manifest", "manifest.task1.json") == 0
    assert gen(out, model_dir, "--shards", "0:2", "--manifest", "manifest.task0.json") == 0
    assert not (out / "manifest.json").exists()
    assert gen(out, model_dir, "--resume") == 0
    assert "0 generated, 4 verified" in capsys.readouterr().out
    assert (out / "manifest.json").read_text() == (reference / "manifest.json").read_text()
    assert shard_files(out) == shard_files(reference)


KILLER = textwrap.dedent("""
    import os, signal, sys
    import vposer.generate.runner as runner
    import vposer.generate.worker as worker
    runner.MANIFEST_INTERVAL = 0.0
    original = worker.write_content
    def write_and_die(fh, content, settings):
        if content.index == 2:  # half a shard on disk, then the process is killed
            fh.write(b"PK" + b"x" * 1000)
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        original(fh, content, settings)
    worker.write_content = write_and_die
    from vposer.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_killed_run_resumes_to_the_uninterrupted_manifest(reference, model_dir, tmp_path):
    out = tmp_path / "killed"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    args = ["generate", "--n", N, "--shard-size", SHARD, "--out", out, "-m", model_dir, "--workers", "1",
            "--no-progress"]
    proc = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    partial = read_manifest(out / "manifest.json")  # valid JSON, the finished shards only
    assert [e["index"] for e in partial["shards"]] == [0, 1] and not partial["complete"]
    assert not (out / "shard-000002.npz").exists() and list(out.glob(".shard-000002.npz.*.tmp"))
    assert gen(out, model_dir, "--resume") == 0
    assert_same_dataset(reference, out)


def test_damaged_shards_are_detected_and_made_again(reference, model_dir, tmp_path, capsys):
    out = tmp_path / "damaged"
    shutil.copytree(reference, out)
    with open(out / "shard-000001.npz", "r+b") as fh:  # flip one byte inside the poses
        fh.seek(4000)
        byte = fh.read(1)
        fh.seek(4000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with open(out / "shard-000003.npz", "r+b") as fh:
        fh.truncate(1000)
    (out / "shard-000002.npz").unlink()
    assert gen(out, model_dir, "--resume") == 0
    text = capsys.readouterr().out
    assert "3 generated, 1 verified" in text and "checksum mismatch" in text
    assert_same_dataset(reference, out)


# -- errors --------------------------------------------------------------------------------------
def _failing_replace(name: str, exc: OSError):
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise exc
        return real(src, dst, *a, **k)

    return replace


def test_disk_full_gives_one_clear_line_and_keeps_finished_shards(reference, model_dir, tmp_path,
                                                                  monkeypatch, capsys):
    out = tmp_path / "full"
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "replace", _failing_replace("shard-000002.npz", full))
    assert gen(out, model_dir) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "shard-000002.npz: no space left on device (ENOSPC)" in err
    assert "2 finished shards are valid" in err and "--resume" in err
    doc = read_manifest(out / "manifest.json")
    assert [e["index"] for e in doc["shards"]] == [0, 1]
    assert all(verify(out, e) is None for e in doc["shards"])
    assert not list(out.glob(".*.tmp")) and not (out / "shard-000002.npz").exists()
    monkeypatch.undo()
    assert gen(out, model_dir, "--resume") == 0
    assert_same_dataset(reference, out)


def test_permission_error_on_the_manifest_names_it(model_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "readonly"
    monkeypatch.setattr(os, "replace", _failing_replace("manifest.json", PermissionError(errno.EACCES, "denied")))
    assert gen(out, model_dir, "--shards", "0:1") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "manifest.json: permission denied (EACCES) while writing the manifest" in err
    assert (out / "shard-000000.npz").is_file() and not list(out.glob(".*.tmp"))


def test_other_settings_or_model_are_refused_on_resume(reference, model_dir, tmp_path, capsys):
    out = tmp_path / "other"
    shutil.copytree(reference, out)
    assert gen(out, model_dir, "--resume", "--temperature", "0.5") == 1
    assert "other settings (temperature: 1.0 != 0.5)" in capsys.readouterr().err
    torch.manual_seed(1)
    other = tmp_path / "other_model"
    vposer.save_model(build_model(VPoserConfig()), other)
    assert gen(out, other, "--resume") == 1
    assert "another model" in capsys.readouterr().err


def test_shard_ranges():
    assert parse_shard_range(None, 10) == (0, 10)
    assert parse_shard_range("2:5", 10) == (2, 5)
    assert parse_shard_range(":3", 10) == (0, 3) and parse_shard_range("8:", 10) == (8, 10)
    assert parse_shard_range("7", 10) == (7, 8) and parse_shard_range("5:99", 10) == (5, 10)
    with pytest.raises(vposer.InputError):
        parse_shard_range("a:b", 10)


# -- what is sampled -----------------------------------------------------------------------------
def test_temperature_and_truncation():
    gen_ = lambda: torch.Generator().manual_seed(0)
    plain = draw_latent(20000, 32, gen_(), Settings(n=1, temperature=0.5))
    assert abs(plain.std().item() - 0.5) < 0.01
    resampled = draw_latent(20000, 32, gen_(), Settings(n=1, truncation=1.0, temperature=2.0))
    assert resampled.abs().max().item() <= 2.0
    # std of N(0, 1) truncated to [-1, 1] is 0.5396; times the temperature
    assert abs(resampled.std().item() - 2 * 0.5396) < 0.01
    clipped = draw_latent(20000, 32, gen_(), Settings(n=1, truncation=1.0, truncation_mode="clip"))
    assert clipped.abs().max().item() == 1.0 and (clipped.abs() == 1.0).float().mean() > 0.3


def test_root_modes(model_dir, tmp_path):
    assert gen(tmp_path / "up", model_dir, "--shards", "0:1", "--upright-root") == 0
    up = np.load(tmp_path / "up" / "shard-000000.npz")
    assert up["root_orient"].shape == (SHARD, 3) and not up["root_orient"].any()
    assert gen(tmp_path / "yaw", model_dir, "--shards", "0:1", "--random-yaw") == 0
    yaw = np.load(tmp_path / "yaw" / "shard-000000.npz")["root_orient"]
    assert not yaw[:, [0, 2]].any() and yaw[:, 1].min() >= -np.pi and yaw[:, 1].max() < np.pi
    assert yaw[:, 1].std() > 1.5  # spread over the circle (uniform: 1.81)


def test_mixing_user_poses(model_dir, tmp_path):
    user = (np.random.default_rng(0).normal(size=(40, 63)) * 0.2).astype(np.float32)
    np.savez(tmp_path / "mine.npz", pose_body=user)
    opts = ("--shards", "0:1", "--mix-poses", tmp_path / "mine.npz", "--mix-ratio", "0.25")
    assert gen(tmp_path / "a", model_dir, *opts) == 0
    assert gen(tmp_path / "b", model_dir, *opts) == 0
    assert shard_files(tmp_path / "a") == shard_files(tmp_path / "b")
    d = np.load(tmp_path / "a" / "shard-000000.npz")
    mixed = d["from_user"]
    assert mixed.sum() == round(0.25 * SHARD)
    assert np.array_equal(d["pose_body"][mixed], user[d["user_index"][mixed]])
    assert (d["user_index"][~mixed] == -1).all()
    model = vposer.load_model(model_dir)
    z = model.encode(torch.from_numpy(d["pose_body"][mixed])).mean.detach().numpy()
    assert np.allclose(d["z"][mixed], z, atol=1e-5)
    doc = read_manifest(tmp_path / "a" / "manifest.json")
    assert doc["settings"]["mix"]["poses"] == 40 and doc["settings"]["mix_ratio"] == 0.25


def test_rejection_needs_a_score():
    from vposer.errors import InputError
    from vposer.generate import resolve_score

    with pytest.raises(InputError, match="needs a plausibility score"):
        resolve_score(object(), None)  # no log_likelihood, no reference poses


def test_rejection_uses_the_model_log_likelihood(model_dir, tmp_path):
    assert gen(tmp_path / "r", model_dir, "--shards", "0:1", "--reject-implausible", "0.2") == 0
    p = read_manifest(tmp_path / "r" / "manifest.json")["settings"]["plausibility"]
    assert p["score"] == "log-likelihood"
    assert np.load(tmp_path / "r" / "shard-000000.npz")["pose_body"].shape == (SHARD, 63)


def test_rejection_with_a_reference(model_dir, tmp_path):
    ref = (np.random.default_rng(1).normal(size=(500, 63)) * 0.3).astype(np.float32)
    np.savez(tmp_path / "ref.npz", pose_body=ref)
    assert gen(tmp_path / "r", model_dir, "--shards", "0:1", "--reject-implausible", "0.3",
               "--plausibility-ref", tmp_path / "ref.npz") == 0
    doc = read_manifest(tmp_path / "r" / "manifest.json")
    p = doc["settings"]["plausibility"]
    assert p["score"] == "joint-range" and p["calibration_size"] == 8192
    poses = np.load(tmp_path / "r" / "shard-000000.npz")["pose_body"]
    assert poses.shape == (SHARD, 63)
    mean, std = ref.astype(np.float64).mean(0), np.maximum(ref.astype(np.float64).std(0, ddof=1), 1e-3)
    scores = -np.abs((poses - mean) / std).max(-1)
    assert scores.min() >= p["threshold"] - 1e-9


def test_model_log_likelihood_is_preferred():
    from vposer.generate import resolve_score

    class WithLikelihood:
        def log_likelihood(self, poses):
            return -poses.square().sum(-1)

    name, score = resolve_score(WithLikelihood(), np.zeros((4, 63)))
    assert name == "log-likelihood"
    assert score(torch.ones(3, 63)).tolist() == [-63.0] * 3


# -- formats and heavy outputs -------------------------------------------------------------------
def test_webdataset_members_are_deterministic(reference, model_dir, tmp_path):
    out = tmp_path / "wds"
    assert gen(out, model_dir, "--format", "webdataset", "--shards", "1:2") == 0
    with tarfile.open(out / "shard-000001.tar") as tf:
        members = tf.getmembers()
        names = [m.name for m in members[:3]]
        assert names == ["0000000500.json", "0000000500.pose_body.npy", "0000000500.z.npy"]
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.mode == 0o644
                   for m in members)
        pose = np.load(io.BytesIO(tf.extractfile("0000000742.pose_body.npy").read()))
        record = json.loads(tf.extractfile("0000000742.json").read())
    assert record == {"index": 742, "shard": 1}
    assert np.array_equal(pose, np.load(reference / "shard-000001.npz")["pose_body"][242])


def test_parquet_shards(reference, model_dir, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is an optional extra")
    for name in ("p1", "p2"):
        assert gen(tmp_path / name, model_dir, "--format", "parquet", "--shards", "0:1") == 0
    assert shard_files(tmp_path / "p1") == shard_files(tmp_path / "p2")
    table = pq.read_table(tmp_path / "p1" / "shard-000000.parquet")
    poses = np.stack(table.column("pose_body").to_numpy(zero_copy_only=False))
    assert np.array_equal(poses, np.load(reference / "shard-000000.npz")["pose_body"])
    assert table.column("index").to_pylist() == list(range(SHARD))
    assert json.loads(table.schema.metadata[b"vposer"])["shard"] == 0


def test_joints_and_vertices_match_the_body(model_dir, tmp_path):
    out = tmp_path / "geo"
    args = ["generate", "--n", 6, "--shard-size", 3, "--out", out, "-m", model_dir, "--workers", 1,
            "--no-progress", "--with", "joints,vertices", "--upright-root"]
    assert main([str(a) for a in args]) == 0
    d = np.load(out / "shard-000001.npz")
    body = vposer.load_body()
    ref = body(pose_body=torch.from_numpy(d["pose_body"]), root_orient=torch.from_numpy(d["root_orient"]))
    assert np.allclose(d["vertices"], ref.vertices.numpy(), atol=1e-5)
    assert np.allclose(d["joints"], ref.joints.numpy(), atol=1e-5)
    assert np.array_equal(d["faces"], body.faces.numpy())
    assert read_manifest(out / "manifest.json")["settings"]["body"]["vertices"] == body.num_vertices
    half = tmp_path / "half"
    assert main([str(a) for a in args[:6] + [half] + args[7:] + ["--dtype", "float16"]]) == 0
    h = np.load(half / "shard-000001.npz")
    assert h["joints"].dtype == np.float16 and np.allclose(h["joints"], d["joints"], atol=2e-3)


@pytest.mark.render
def test_images_and_meshes_in_webdataset(model_dir, tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="images need Pillow (the render extra)")
    from vposer.render import gl_available

    ok, why = gl_available()
    if not ok:
        pytest.skip(f"no OpenGL: {why}")
    trimesh = pytest.importorskip("trimesh")
    args = ["--n", 4, "--shard-size", 2, "-m", model_dir, "--workers", 1, "--no-progress", "--with",
            "images,vertices,meshes", "--format", "webdataset", "--image-size", 48, "--angles", "0,90"]
    for name in ("i1", "i2"):
        assert main(["generate", "--out", str(tmp_path / name)] + [str(a) for a in args]) == 0
    assert shard_files(tmp_path / "i1") == shard_files(tmp_path / "i2")
    with tarfile.open(tmp_path / "i1" / "shard-000001.tar") as tf:
        front = np.asarray(Image.open(io.BytesIO(tf.extractfile("0000000003.png").read())))
        side = np.asarray(Image.open(io.BytesIO(tf.extractfile("0000000003.view1.png").read())))
        verts = np.load(io.BytesIO(tf.extractfile("0000000003.vertices.npy").read()))
        mesh = trimesh.load(io.BytesIO(tf.extractfile("0000000003.ply").read()), file_type="ply", process=False)
    assert front.shape == side.shape == (48, 48, 3)
    assert (front < 200).any() and not np.array_equal(front, side)  # a body, seen from two sides
    assert np.array_equal(np.asarray(mesh.vertices, dtype=np.float32), verts)
    assert len(mesh.faces) == len(vposer.load_body().faces)


def test_dask_launcher_gives_the_same_shards(reference, model_dir, tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is an optional extra")
    from vposer.generate import Options, generate
    from vposer.generate.dask_launcher import dask_executor

    out = tmp_path / "dask"
    settings = Settings(n=N, shard_size=SHARD)
    with dask_executor("local", n_workers=1, processes=False) as executor:
        summary = generate(settings, Options(out=out, model_path=str(model_dir), executor=executor,
                                             progress=False))
    assert summary.complete and sorted(summary.generated) == [0, 1, 2, 3]
    assert_same_dataset(reference, out)


@pytest.mark.gpu
def test_cuda_shards_match_cpu_within_tolerance(reference, model_dir, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    out = tmp_path / "cuda"
    assert gen(out, model_dir, "--device", "cuda", "--shards", "0:2") == 0
    for i in range(2):
        a = np.load(reference / f"shard-{i:06d}.npz")
        b = np.load(out / f"shard-{i:06d}.npz")
        assert np.array_equal(a["z"], b["z"])  # drawn on the CPU
        ma = axis_angle_to_matrix(torch.from_numpy(a["pose_body"]).reshape(-1, 3))
        mb = axis_angle_to_matrix(torch.from_numpy(b["pose_body"]).reshape(-1, 3))
        assert (ma - mb).abs().max().item() < 1e-3  # same rotations (axis-angle may flip near pi)


def test_interrupted_parallel_run_records_finished_and_running_shards(monkeypatch):
    """Ctrl-C while shards run: those not started are cancelled, those finished or running are
    recorded (and the manifest flushed) before the interrupt goes on."""
    from concurrent.futures import ThreadPoolExecutor

    from vposer.generate import runner

    monkeypatch.setattr(runner, "produce_shard", lambda job: time.sleep(0.3 * (job > 0)) or job)
    recorded, flushes = [], []

    def record(result):
        recorded.append(result)
        if len(recorded) == 1:  # the interrupt arrives while job 0 is being recorded
            raise KeyboardInterrupt

    with ThreadPoolExecutor(max_workers=2) as pool:
        error = runner._run_parallel(list(range(8)), pool, False, record,
                                     lambda: flushes.append(len(recorded)))
    assert isinstance(error, KeyboardInterrupt)
    assert recorded[0] == 0 and 1 in recorded  # finished, and running when interrupted
    assert not {4, 5, 6, 7} & set(recorded)  # never started
    assert flushes[-1] == len(recorded)
