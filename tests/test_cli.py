"""The vposer command: sub-commands end to end, exit codes, one-line errors."""
import json
import subprocess
import sys

import numpy as np
import torch

import vposer
from vposer.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vposer", *map(str, args)], capture_output=True, text=True)


def test_help_and_usage_errors():
    res = run_cli("--help")
    assert res.returncode == 0 and "sample" in res.stdout and "convert" in res.stdout
    res = run_cli("sample", "--no-such-flag")
    assert res.returncode == 2


def test_sample_encode_decode_round_trip(v2_dir, tmp_path, capsys):
    samples, codes, poses = tmp_path / "s.npz", tmp_path / "c.npz", tmp_path / "d.npz"
    assert main(["sample", "-m", str(v2_dir), "-n", "6", "--seed", "7", "-o", str(samples), "--matrices"]) == 0
    data = np.load(samples)
    assert data["pose_body"].shape == (6, 63) and data["pose_body"].dtype == np.float32
    assert data["pose_body_matrot"].shape == (6, 21, 3, 3)
    meta = json.loads(str(data["meta"]))
    assert meta["seed"] == 7 and meta["num"] == 6 and len(meta["model_sha256"]) == 64
    model = vposer.load_model(v2_dir)
    expected = model.sample(6, seed=7).pose_body.numpy()
    assert np.array_equal(data["pose_body"], expected)
    assert main(["encode", str(samples), "-m", str(v2_dir), "-o", str(codes)]) == 0
    z = np.load(codes)["z"]
    assert z.shape == (6, 32)
    assert np.allclose(z, model.encode(torch.from_numpy(expected)).mean.detach().numpy(), atol=1e-5)
    assert main(["decode", str(codes), "-m", str(v2_dir), "-o", str(poses)]) == 0
    assert np.load(poses)["pose_body"].shape == (6, 63)


def test_convert_round_trip_gives_identical_outputs(v1_dir, tmp_path):
    out = tmp_path / "native"
    assert main(["convert", str(v1_dir), "-o", str(out)]) == 0
    a, b = vposer.load_model(v1_dir), vposer.load_model(out)
    z = torch.randn(32, 32)
    assert torch.equal(a.decode(z).matrices, b.decode(z).matrices)
    assert main(["sample", "-m", str(out), "-n", "3", "-o", str(tmp_path / "x.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "x.npz")["pose_body"], a.sample(3, seed=0).pose_body.numpy())


def test_info_text_and_json(v2_dir, capsys):
    assert main(["info", str(v2_dir), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["architecture"] == "v2" and d["parameters"] == 936_252 and d["epoch"] == 13
    assert d["format"] == "v2-release" and d["training_config"]["model_params"]["latentD"] == 32
    assert main(["info", str(v2_dir)]) == 0
    assert "936,252 parameters" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_1(tmp_path):
    res = run_cli("encode", tmp_path / "missing.npz", "-m", tmp_path / "nomodel")
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "missing.npz: no such file" in res.stderr
    assert "Traceback" not in res.stderr
    bad = tmp_path / "bad.npz"
    np.savez(bad, pose_body=np.zeros((3, 60), np.float32))
    res = run_cli("info", bad)
    assert res.returncode == 1 and "bad.npz" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("--debug", "info", tmp_path / "nomodel")
    assert res.returncode == 1 and "Traceback" in res.stderr


def test_encode_refuses_bad_pose_files(v2_dir, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, pose_body=np.full((3, 63), np.nan, np.float32))
    assert main(["encode", str(bad), "-m", str(v2_dir)]) == 1
    assert "bad.npz: body poses contain NaN" in capsys.readouterr().err
    np.savez(bad, pose_body=np.zeros((3, 60), np.float32))
    assert main(["encode", str(bad), "-m", str(v2_dir)]) == 1
    assert "(N, 63)" in capsys.readouterr().err


def test_outputs_are_checked_before_any_work(tmp_path):
    """Bad output names fail at once with one line naming the file, and write nothing: no
    image for a bad mesh format, no animation for a bad frame rate, no fit for a bad picture
    name; an input is never overwritten by the .npz written beside an output."""
    walk, run = tmp_path / "walk.npz", tmp_path / "run.npz"
    np.savez(walk, pose_body=np.zeros((2, 63), np.float32))
    np.savez(run, pose_body=np.full((2, 63), 0.1, np.float32))
    targets = tmp_path / "targets.npz"
    np.savez(targets, joints=np.zeros((2, 22, 3)))
    (tmp_path / "afile").write_text("x")
    cases = [
        (["render", "-n", "1", "--mesh", tmp_path / "m.xyz", "-o", tmp_path / "m.png"],
         "m.xyz: unknown mesh format '.xyz'"),
        (["render", "-n", "1", "-o", tmp_path / "afile" / "x.png"],
         "afile' is a file, not a folder"),
        (["interpolate", "--seeds", "1", "2", "--fps", "-5", "-o", tmp_path / "a.mp4"],
         "--fps must be a positive number"),
        (["interpolate", "--seeds", "1", "2", "--strip", tmp_path / "s.png", "--strip-frames",
          "0", "-o", tmp_path / "b.gif"], "--strip-frames must be >= 1"),
        (["interpolate", "--poses", walk, run, "-o", tmp_path / "walk.gif"],
         "walk.npz: is also an input of this command"),
        (["fit", targets, "--max-iters", "2", "--render", tmp_path / "f.xyz",
          "-o", tmp_path / "f.npz"], "f.xyz: unknown image format"),
        (["fit", targets, "--max-iters", "0", "-o", tmp_path / "f.npz"], "--max-iters must be >= 1"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in cases:
        res = run_cli(*args)
        assert res.returncode == 1 and message in res.stderr, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert np.load(walk)["pose_body"].shape == (2, 63)


def test_inputs_that_cannot_be_used_are_named(v2_dir, tmp_path, capsys):
    empty, nan_targets = tmp_path / "empty.npz", tmp_path / "nan.npz"
    np.savez(empty, pose_body=np.zeros((0, 63), np.float32))
    np.savez(nan_targets, joints=np.full((3, 22, 3), np.nan))
    array = tmp_path / "poses.npy"
    np.save(array, np.zeros((2, 63), np.float32))
    huge = tmp_path / "huge.npz"
    np.savez(huge, z=np.full((2, 32), 1e30, np.float32))
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    model = ["-m", str(v2_dir)]
    for args, message in [
        (["encode", str(empty), *model], "empty.npz: holds no body poses"),
        (["encode", str(tmp_path), *model], "is a directory"),
        (["encode", str(text), *model], "text.npz: not an .npz archive"),
        (["fit", str(nan_targets), *model], "3 sample(s) have no target to fit"),
        (["decode", str(huge), *model, "-o", str(tmp_path / "d.npz")], "2 code(s) decode to NaN"),
        (["score", str(array), *model, "--write-calibration", str(tmp_path / "cal")],
         "--write-calibration needs --calibrate"),
        (["score", str(array), *model, "--threshold", "nan"], "--threshold must be a finite"),
        (["convert", str(v2_dir), "-o", str(tmp_path)], "holds no native model"),
    ]:
        assert main(args) == 1, args
        assert message in capsys.readouterr().err, args
    assert main(["encode", str(array), *model, "-o", str(tmp_path / "c.npz")]) == 0
    if not torch.cuda.is_available():
        assert main(["sample", "--device", "cuda", "-o", str(tmp_path / "s.npz")]) == 1
        assert "no CUDA device" in capsys.readouterr().err


def test_help_states_each_default_once():
    for command in ("render", "interpolate"):
        text = " ".join(run_cli(command, "--help").stdout.split())
        assert "(default: None)" not in text and "(default: False)" not in text
        assert text.count("(default: cpu)") == 1
    assert "(default: lerp)" in " ".join(run_cli("interpolate", "--help").stdout.split())


def test_stored_threshold_applies_only_to_matching_settings(tmp_path, capsys):
    poses = tmp_path / "p.npz"
    np.savez(poses, pose_body=np.zeros((3, 63), np.float32))
    assert main(["score", str(poses), "--top", "0"]) == 0  # default weights: K=16, sigma 0.1
    assert "(the model's plausibility.json)" in capsys.readouterr().out
    for extra in (["--elbo"], ["--samples", "4"], ["--sigma", "0.05"]):
        assert main(["score", str(poses), "--top", "0", *extra]) == 0
        out = capsys.readouterr().out
        assert "no threshold applied" in out and "flagged" not in out, extra
