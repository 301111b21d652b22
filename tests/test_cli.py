"""The vposer command: sub-commands end to end, exit codes, one-line errors.

Commands run in-process through ``vposer.cli.main`` (a new Python process per case costs seconds
on a busy machine); one subprocess test checks what only a real process shows: exit codes, the
one stderr line, and that argument errors and help never import torch.
"""
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import vposer
from vposer.cli import main


def run_main(capsys, *args) -> tuple[int, str, str]:
    """``vposer ARGS`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_process_exit_codes_one_line_errors_and_no_torch_on_argument_errors(tmp_path):
    """In a real process: help exits 0, a usage error 2, a refused input 1 with exactly one
    stderr line and no traceback (--debug adds it); argument errors, output-name checks and help
    are answered before torch is imported."""
    script = textwrap.dedent("""
        import contextlib, io, json, sys
        from vposer.cli import main
        cases = [["--help"], ["sample", "--help"], ["sample", "--no-such-flag"],
                 ["sample", "-n", "0"], ["render", "-n", "-3"], ["sample", "-o", "a.jpg"],
                 ["render", "-o", "grid.xyz"], ["interpolate", "--seeds", "1", "2", "--steps", "1"],
                 ["evaluate", "--data", "nonexistent_dir"], ["encode", "missing.npz"],
                 ["score", "missing.npz", "--top", "-1"], ["fit", "t.npz", "--max-iters", "0"],
                 ["view", "--port", "70000"], ["info", "~/no/such/model"],
                 ["generate", "--n", "0", "-o", "x"], ["--debug", "decode", "missing.npz"]]
        results = []
        for case in cases:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = main(case)
                except SystemExit as exc:
                    code = exc.code
            results.append([case, code, err.getvalue()])
        print(json.dumps({"torch": "torch" in sys.modules, "results": results}))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    codes = {" ".join(case): (code, err) for case, code, err in report["results"]}
    assert codes["--help"][0] == 0 and codes["sample --help"][0] == 0
    assert codes["sample --no-such-flag"][0] == 2
    expected = {
        "sample -n 0": "--num must be at least 1, got 0",
        "render -n -3": "--num must be at least 1, got -3",  # one wording in every command
        "sample -o a.jpg": "a.jpg: unknown extension '.jpg' for an .npz file: use .npz",
        "render -o grid.xyz": "grid.xyz: unknown extension '.xyz' for an image: use .png, .jpg",
        "interpolate --seeds 1 2 --steps 1": "--steps must be at least 2, got 1",
        "evaluate --data nonexistent_dir": "nonexistent_dir: no such folder",
        "encode missing.npz": "missing.npz: no such file",
        "score missing.npz --top -1": "--top must be at least 0, got -1",
        "fit t.npz --max-iters 0": "--max-iters must be at least 1, got 0",
        "view --port 70000": "--port must be at most 65535, got 70000",
        "info ~/no/such/model": "/no/such/model: no such file or folder",
        "generate --n 0 -o x": "--n must be at least 1, got 0",
    }
    for case, message in expected.items():
        code, err = codes[case]
        assert code == 1 and message in err, (case, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (case, err)
    assert "~" not in codes["info ~/no/such/model"][1]  # the path is expanded
    code, err = codes["--debug decode missing.npz"]
    assert code == 1 and "Traceback" in err and "missing.npz: no such file" in err
    assert report["torch"] is False, "an argument error or help imported torch"
    # the installed entry point: a real exit status
    res = subprocess.run([sys.executable, "-m", "vposer", "sample", "-n", "0"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1 and res.stderr == "vposer sample: error: --num must be at least 1, got 0\n"


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


def test_large_samples_stream_in_bounded_chunks(tmp_path, capsys, monkeypatch):
    """``sample`` draws, decodes and writes chunk by chunk (never more than CHUNK poses in
    memory) and the file holds exactly what one ``model.sample(n, seed)`` gives."""
    import vposer.cli.sample as sample_cli
    from vposer.model.vposer import VPoser

    monkeypatch.setattr(sample_cli, "CHUNK", 64)
    sizes = []
    decode = VPoser.decode_batched

    def spy(self, z, *args, **kwargs):
        sizes.append(len(z))
        return decode(self, z, *args, **kwargs)

    monkeypatch.setattr(VPoser, "decode_batched", spy)
    out = tmp_path / "big.npz"
    code, stdout, _ = run_main(capsys, "sample", "-n", 1000, "--seed", 5, "--temperature", 0.7,
                               "--matrices", "-o", out)
    assert code == 0 and f"wrote 1000 poses to {out}" in stdout
    assert max(sizes) == 64 and sum(sizes) == 1000
    model = vposer.load_model()
    expected = model.sample(1000, seed=5, temperature=0.7)
    with np.load(out) as data:
        assert np.array_equal(data["pose_body"], expected.pose_body.numpy())
        assert np.array_equal(data["pose_body_matrot"], expected.matrices.numpy())
        assert np.array_equal(data["z"], model.sample_latent(1000, seed=5, temperature=0.7).numpy())
        assert json.loads(str(data["meta"]))["num"] == 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]  # no spill files left


def test_sample_joints_are_fitting_targets(tmp_path, capsys):
    """``sample --joints`` writes the posed body's joints; ``fit`` reads them (and the same
    joints as CSV) and recovers the poses' joints."""
    targets = tmp_path / "targets.npz"
    code, _, _ = run_main(capsys, "sample", "-n", 2, "--seed", 1, "--joints", "-o", targets)
    assert code == 0
    with np.load(targets) as data:
        joints, poses = data["joints"], data["pose_body"]
    body = vposer.load_body()
    expected = body(pose_body=torch.from_numpy(poses)).joints[:, :22].numpy()
    assert joints.shape == (2, 22, 3) and np.abs(joints - expected).max() < 1e-6
    csv = tmp_path / "targets.csv"
    header = ",".join(f"j{j}_{c}" for j in range(22) for c in "xyz")
    rows = [",".join(f"{v:.9g}" for v in row) for row in joints.reshape(2, 66)]
    rows[1] = rows[1].replace(rows[1].split(",")[0], "", 1)  # a missing cell
    csv.write_text("\n".join([header, *rows]) + "\n")
    for source, name in ((targets, "npz"), (csv, "csv")):
        fitted = tmp_path / f"fitted_{name}.npz"
        code, out, err = run_main(capsys, "fit", source, "--max-iters", 60, "-o", fitted)
        assert code == 0, err
        assert f"wrote {fitted}" in out
        with np.load(fitted) as data:
            assert data["mean_error"].shape == (2,) and data["mean_error"].max() < 0.02, name
    from vposer.fit import load_targets

    assert load_targets(csv).confidence[1, 0] == 0 and load_targets(csv).confidence[0, 0] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3,4\n")
    code, _, err = run_main(capsys, "fit", bad)
    assert code == 1 and "bad.csv: rows must all hold 3 J numbers" in err


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


def test_errors_are_one_line(tmp_path, capsys):
    code, _, err = run_main(capsys, "encode", tmp_path / "missing.npz", "-m", tmp_path / "nomodel")
    assert code == 1 and err.count("\n") == 1 and "missing.npz: no such file" in err
    bad = tmp_path / "bad.npz"
    np.savez(bad, pose_body=np.zeros((3, 60), np.float32))
    code, _, err = run_main(capsys, "info", bad)
    assert code == 1 and "bad.npz" in err and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run_main(capsys, "--debug", "info", bad)
    assert code == 1 and "Traceback" in err


def test_paths_expand_home_and_variables(tmp_path, capsys, monkeypatch):
    """``~`` and ``$VAR`` are expanded in every path: the CLI's arguments and the API's."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VPOSER_TEST_DIR", str(tmp_path / "data"))
    code, out, _ = run_main(capsys, "sample", "-n", 2, "-o", "~/poses.npz")
    assert code == 0 and (tmp_path / "poses.npz").is_file() and str(tmp_path / "poses.npz") in out
    code, out, _ = run_main(capsys, "encode", "~/poses.npz", "-o", "$VPOSER_TEST_DIR/codes.npz")
    assert code == 0 and (tmp_path / "data" / "codes.npz").is_file()
    assert f"created folder {tmp_path / 'data'}" in out
    body_file = tmp_path / "body.npz"
    shutil.copy(vposer.body.open_body_path(), body_file)
    assert vposer.load_body("~/body.npz").num_vertices == vposer.load_body().num_vertices
    assert vposer.load_body("${HOME}/body.npz").num_vertices == vposer.load_body().num_vertices
    vposer.save_model(vposer.load_model(), "~/model")
    assert vposer.load_model("$HOME/model").latent_dim == 32
    from vposer.posefiles import load_poses

    assert load_poses("~/poses.npz").shape == (2, 63)


def test_output_names_are_exact_or_printed(tmp_path, capsys, monkeypatch):
    """A command writes the names given, refuses unknown extensions and folder names, names the
    poses beside a picture after the picture's whole name, and prints every file and folder."""
    monkeypatch.chdir(tmp_path)
    for args, message in [
        (["sample", "-o", "a.jpg"], "a.jpg: unknown extension '.jpg' for an .npz file: use .npz"),
        (["sample", "-o", "poses"], "poses: no file extension for an .npz file: use .npz"),
        (["sample", "-o", "newdir/"], "newdir/: names a folder (ends with '/')"),
        (["encode", "x.npz", "-o", "c.txt"], "no such file"),
        (["render", "-o", "grid.gif"], "grid.gif: unknown extension '.gif' for an image"),
        (["interpolate", "--seeds", "1", "2", "-o", "a.png"], "a.png: unknown extension '.png' for an animation"),
    ]:
        code, _, err = run_main(capsys, *args)
        assert code == 1 and message in err, (args, err)
    (tmp_path / "somedir").mkdir()
    code, _, err = run_main(capsys, "sample", "-o", "somedir")
    assert code == 1 and "no file extension" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somedir"]
    code, out, _ = run_main(capsys, "sample", "-n", 2, "-o", "deep/er/p.NPZ")
    assert code == 0 and (tmp_path / "deep/er/p.NPZ").is_file()
    assert out.splitlines() == ["created folder deep", "created folder deep/er",
                                "wrote 2 poses to deep/er/p.NPZ"]


@pytest.mark.render
def test_picture_side_files_never_collide(tmp_path, capsys, monkeypatch):
    pytest.importorskip("PIL", reason="rendering needs Pillow (the render extra)")
    from vposer.render import gl_available

    ok, why = gl_available()
    if not ok:
        pytest.skip(f"no OpenGL context: {why}")
    monkeypatch.chdir(tmp_path)
    for name, seed in (("grid.png", 0), ("grid.jpg", 1)):
        code, out, err = run_main(capsys, "render", "-n", 1, "--seed", seed, "--size", 64,
                                  "--angles", 0, "-o", name)
        assert code == 0, err
        assert out.strip().endswith(f"wrote {name} (64 x 64) and {name}.npz")
    with np.load("grid.png.npz") as a, np.load("grid.jpg.npz") as b:
        assert not np.array_equal(a["pose_body"], b["pose_body"])  # the second kept the first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.jpg", "grid.jpg.npz", "grid.png",
                                                           "grid.png.npz"]


def test_encode_refuses_bad_pose_files(v2_dir, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, pose_body=np.full((3, 63), np.nan, np.float32))
    assert main(["encode", str(bad), "-m", str(v2_dir)]) == 1
    assert "bad.npz: body poses contain NaN" in capsys.readouterr().err
    np.savez(bad, pose_body=np.zeros((3, 60), np.float32))
    assert main(["encode", str(bad), "-m", str(v2_dir)]) == 1
    assert "(N, 63)" in capsys.readouterr().err


def test_outputs_are_checked_before_any_work(tmp_path, capsys):
    """Bad output names fail at once with one line naming the file, and write nothing: no
    image for a bad mesh format, no animation for a bad frame rate, no fit for a bad picture
    name; an input is never overwritten by the .npz written beside an output."""
    walk, run = tmp_path / "walk.gif.npz", tmp_path / "run.npz"
    np.savez(walk, pose_body=np.zeros((2, 63), np.float32))
    np.savez(run, pose_body=np.full((2, 63), 0.1, np.float32))
    targets = tmp_path / "targets.npz"
    np.savez(targets, joints=np.zeros((2, 22, 3)))
    (tmp_path / "afile").write_text("x")
    cases = [
        (["render", "-n", "1", "--mesh", tmp_path / "m.xyz", "-o", tmp_path / "m.png"],
         "m.xyz: unknown extension '.xyz' for a mesh: use .obj"),
        (["render", "-n", "1", "-o", tmp_path / "afile" / "x.png"],
         "afile' is a file, not a folder"),
        (["render", "-n", "100000", "-o", tmp_path / "huge.png"],
         "the grid would be 48,000 megapixels, over the limit"),
        (["interpolate", "--seeds", "1", "2", "--fps", "-5", "-o", tmp_path / "a.mp4"],
         "--fps must be a positive number"),
        (["interpolate", "--seeds", "1", "2", "--strip", tmp_path / "s.png", "--strip-frames",
          "0", "-o", tmp_path / "b.gif"], "--strip-frames must be at least 1"),
        (["interpolate", "--poses", walk, run, "-o", tmp_path / "walk.gif"],
         "walk.gif.npz: is also an input of this command"),  # the poses beside walk.gif
        (["interpolate", "--poses", walk, run, "--mp4", run, "-o", tmp_path / "w.gif"],
         "run.npz: unknown extension '.npz' for an MP4 video"),
        (["fit", targets, "--max-iters", "2", "--render", tmp_path / "f.xyz",
          "-o", tmp_path / "f.npz"], "f.xyz: unknown extension '.xyz' for an image"),
        (["fit", targets, "--max-iters", "0", "-o", tmp_path / "f.npz"], "--max-iters must be at least 1"),
        (["fit", targets, "-o", targets], "targets.npz: is also an input of this command"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in cases:
        code, _, err = run_main(capsys, *args)
        assert code == 1 and message in err, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err
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
    nokey = tmp_path / "nokey.npz"
    np.savez(nokey, other=np.zeros(3))
    model = ["-m", str(v2_dir)]
    for args, message in [
        (["encode", str(empty), *model], "empty.npz: holds no body poses"),
        (["encode", str(tmp_path), *model], "is a folder; expected a file"),
        (["encode", str(text), *model], "text.npz: not an .npz archive"),
        (["score", str(nokey), *model], "no pose array: expected 'pose_body' (N, 63) or (N, 21, 3), "
         "'pose', an AMASS take's 'poses', or an .npy array (found other)"),
        (["fit", str(nan_targets), *model], "3 sample(s) have no target to fit"),
        (["decode", str(huge), *model, "-o", str(tmp_path / "d.npz")], "2 code(s) decode to NaN"),
        (["score", str(array), *model, "--write-calibration", str(tmp_path / "cal")],
         "--write-calibration needs --calibrate"),
        (["score", str(array), *model, "--threshold", "nan"], "--threshold must be a finite"),
        (["convert", str(v2_dir), "-o", str(tmp_path)], "holds no native model"),
        (["evaluate", "--data", str(array)], "poses.npy: is a file; expected a folder"),
        (["sample", "--body", str(tmp_path / "nobody.npz"), "--joints"], "nobody.npz: no such file"),
    ]:
        assert main(args) == 1, args
        assert message in capsys.readouterr().err, args
    # the help of score says what its error says
    code, out, _ = run_main(capsys, "score", "--help")
    assert "'pose_body' (N, 63) or (N, 21, 3), 'pose', an AMASS take's 'poses', or an .npy" in " ".join(out.split())
    assert main(["encode", str(array), *model, "-o", str(tmp_path / "c.npz")]) == 0
    if not torch.cuda.is_available():
        assert main(["sample", "--device", "cuda", "-o", str(tmp_path / "s.npz")]) == 1
        assert "no CUDA device" in capsys.readouterr().err


def test_help_states_each_default_once(capsys):
    for command in ("render", "interpolate"):
        code, out, _ = run_main(capsys, command, "--help")
        text = " ".join(out.split())
        assert code == 0 and "(default: None)" not in text and "(default: False)" not in text
        assert text.count("(default: cpu)") == 1
    assert "(default: lerp)" in " ".join(run_main(capsys, "interpolate", "--help")[1].split())


def test_generate_outputs_match_the_package(capsys):
    from vposer.cli.generate import OUTPUTS
    from vposer.generate.settings import OUTPUTS as PACKAGE_OUTPUTS

    assert OUTPUTS == PACKAGE_OUTPUTS


def test_stored_threshold_applies_only_to_matching_settings(tmp_path, capsys):
    poses = tmp_path / "p.npz"
    np.savez(poses, pose_body=np.zeros((3, 63), np.float32))
    assert main(["score", str(poses), "--top", "0"]) == 0  # default weights: K=16, sigma 0.1
    assert "(the model's plausibility.json)" in capsys.readouterr().out
    for extra in (["--elbo"], ["--samples", "4"], ["--sigma", "0.05"]):
        assert main(["score", str(poses), "--top", "0", *extra]) == 0
        out = capsys.readouterr().out
        assert "no threshold applied" in out and "flagged" not in out, extra
