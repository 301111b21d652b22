"""The package's shape: layering enforced by import-linter, a public API type checkers see,
and the shared helpers every module uses (one writer, one error hierarchy, one seed rule)."""
from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import vposer
from vposer._results import JsonResult

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


# ---------------------------------------------------------------- layering and typing
def test_a_layering_violation_fails_lint_imports(tmp_path):
    """The contract in pyproject.toml is live: a copy of the package where the model imports
    from fit/ (a layer above it) is refused, naming the import."""
    lint = _tool("lint-imports")
    shutil.copytree(SRC / "vposer", tmp_path / "src" / "vposer",
                    ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    clean = subprocess.run([lint, "--no-cache"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    target = tmp_path / "src" / "vposer" / "model" / "vposer.py"
    target.write_text(target.read_text() + "\nfrom ..fit import targets  # noqa: E402,F401\n")
    broken = subprocess.run([lint, "--no-cache"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert broken.returncode != 0
    assert "vposer.model is not allowed to import vposer.fit" in broken.stdout
    assert "vposer.model.vposer -> vposer.fit.targets" in broken.stdout


USER_SCRIPT = '''
import vposer

model = vposer.load_model()
out = model.sample(10, seed=0)
reveal_type(vposer.load_model)
reveal_type(model)
reveal_type(out)
reveal_type(out.axis_angle)
reveal_type(model.log_likelihood(out.pose_body))
reveal_type(vposer.load_body().num_vertices)
model.sample("ten")
'''


def test_mypy_sees_the_public_api(tmp_path):
    """A user's script type-checks against the real signatures (py.typed, the TYPE_CHECKING
    block of vposer/__init__.py), not ``Any``."""
    mypy = _tool("mypy")
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    proc = subprocess.run(
        [mypy, "--no-error-summary", "--follow-imports=silent", "--ignore-missing-imports",
         "--cache-dir", str(REPO / ".mypy_cache"), str(script)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MYPYPATH": str(SRC)})
    lines = proc.stdout.splitlines()
    revealed = [line.split("Revealed type is ", 1)[1].strip('"') for line in lines
                if "Revealed type is" in line]
    assert len(revealed) == 6, proc.stdout + proc.stderr
    assert revealed[0].startswith("def (") and revealed[0].endswith("-> vposer.model.vposer.VPoser")
    assert revealed[1] == "vposer.model.vposer.VPoser"
    assert revealed[2].startswith("tuple[torch._tensor.Tensor, torch._tensor.Tensor, "
                                  "fallback=vposer.model.vposer.DecodedPoses]")
    assert revealed[3] == "torch._tensor.Tensor"
    assert revealed[4] == "torch._tensor.Tensor"
    assert revealed[5] in ("int", "builtins.int")
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and 'incompatible type "str"; expected "int"' in errors[0], proc.stdout


def test_the_type_checking_block_mirrors_the_lazy_exports():
    tree = ast.parse((SRC / "vposer" / "__init__.py").read_text())
    seen = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                for alias in imp.names:
                    assert alias.asname == alias.name  # an explicit re-export
                    seen[alias.name] = f"vposer.{imp.module}"
    assert seen == vposer._EXPORTS
    assert (SRC / "vposer" / "py.typed").is_file()
    for name in vposer.__all__:
        assert getattr(vposer, name) is not None


def test_the_version_is_written_once():
    from importlib.metadata import version

    assert vposer.__version__ == version("vposer")
    assert '\nversion = "' not in (REPO / "pyproject.toml").read_text()


def test_old_import_paths_are_the_new_objects():
    import vposer.data.select
    import vposer.fit
    import vposer.fit.likelihood
    import vposer.fit.lm
    import vposer.generate
    import vposer.model.likelihood
    import vposer.pipelines
    import vposer.render
    import vposer.render.pipelines
    import vposer.rotations_np
    from vposer.checkpoints import ReleaseSettings, Settings

    assert vposer.fit.likelihood.log_likelihood is vposer.model.likelihood.log_likelihood
    assert vposer.fit.log_likelihood is vposer.model.log_likelihood
    assert vposer.fit.lm.levenberg_marquardt is vposer.model.lm.levenberg_marquardt
    assert vposer.render.pose_grid is vposer.pipelines.pose_grid
    assert vposer.render.pipelines.body_vertices is vposer.pipelines.body_vertices
    assert vposer.data.select.rodrigues is vposer.rotations_np.rodrigues
    assert Settings is ReleaseSettings and vposer.generate.Settings is vposer.generate.GenerateSettings


# ---------------------------------------------------------------- one error hierarchy
def test_generate_output_errors_are_package_output_errors():
    from vposer.generate import GenerateError, OutputError

    error = OutputError("no space left on device (ENOSPC) while writing shard 2", "/x/shard.npz")
    assert isinstance(error, vposer.OutputError) and isinstance(error, GenerateError)
    back = pickle.loads(pickle.dumps(error))  # as sent back from a worker process
    assert type(back) is OutputError and str(back) == str(error) and back.path == "/x/shard.npz"
    with pytest.raises(vposer.OutputError):
        raise error


# ---------------------------------------------------------------- one writer
def test_atomic_path_names_builds_errors_and_cleans_up(tmp_path, monkeypatch):
    from vposer.fileio import atomic_path, write_bytes, write_json

    target = tmp_path / "sub" / "shard-000001.npz"
    with atomic_path(target, keep_suffix=False) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".shard-000001.npz.")
        assert tmp.name.endswith(".tmp")
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x" and os.stat(target).st_mode & 0o777 == 0o666 & ~_umask()
    with atomic_path(tmp_path / "grid.png") as tmp:
        assert tmp.suffix == ".png"  # writers that pick a format by name
        tmp.write_bytes(b"")

    class Full(vposer.VPoserError):
        pass

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(Full, match="28"):
        write_bytes(tmp_path / "a.bin", b"data", error=lambda exc, path: Full(str(exc.errno), path))
    with pytest.raises(vposer.OutputError, match="a.json: cannot write"):
        write_json(tmp_path / "a.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "sub"]  # no leftovers


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_folder_replaces_only_its_own_folders(tmp_path):
    from vposer.fileio import atomic_folder

    out = tmp_path / "prepared"
    with atomic_folder(out) as tmp:
        (tmp / "summary.json").write_text("{}")
    with atomic_folder(out) as tmp:  # one of ours: replaced
        (tmp / "summary.json").write_text('{"again": 1}')
    assert json.loads((out / "summary.json").read_text()) == {"again": 1}
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(vposer.InputError, match="is not a prepared directory"):
        with atomic_folder(tmp_path / "mine"):
            pass
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_one_pose_file_writer(tmp_path):
    from vposer.posefiles import atomic_savez, load_poses, save_poses
    from vposer.render import save_poses as render_save_poses

    assert render_save_poses is save_poses
    poses = np.random.default_rng(0).normal(size=(3, 21, 3))
    path = save_poses(tmp_path / "p.npz", poses, z=np.zeros((3, 32)))
    with np.load(path) as f:
        assert sorted(f.files) == ["pose", "pose_body", "z"]
        assert f["pose"].dtype == np.float32 and f["pose"].shape == (3, 63)
    np.testing.assert_allclose(load_poses(path), poses.reshape(3, 63), rtol=1e-6)
    assert atomic_savez(tmp_path / "q", {"a": np.ones(2)}).name == "q.npz"


# ---------------------------------------------------------------- shared helpers
def test_the_seed_rule():
    from vposer._torchtools import make_generator

    g = torch.Generator().manual_seed(5)
    assert make_generator(None, g) is g
    assert make_generator(None, None) is None  # torch's global generator
    a = torch.randn(4, generator=make_generator(3))
    assert torch.equal(a, torch.randn(4, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(vposer.InputError, match="either seed or generator"):
        make_generator(1, g)


def test_eval_mode_and_frozen_restore_the_model():
    from vposer._torchtools import eval_mode, frozen

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    net.train()
    net[0].bias.requires_grad_(False)
    with pytest.raises(RuntimeError), frozen(net):
        assert not net.training and not net[1].training
        assert not any(p.requires_grad for p in net.parameters())
        raise RuntimeError("inside")
    assert net.training and net[1].training
    assert net[0].weight.requires_grad and not net[0].bias.requires_grad
    net.eval()
    with eval_mode(net):
        assert not net.training
    assert not net.training


# ---------------------------------------------------------------- result objects
def test_result_objects_are_the_json_they_write(tmp_path):
    from vposer.evaluate import EvaluationResult
    from vposer.fileio import write_json

    result = EvaluationResult("0.1.0", "now", {"n_split": 3}, {"model_type": "open"}, "cpu", {},
                              {"m": {"kind": "vposer"}}, {"setup": 1.5}, {}, {})
    assert "files" not in result.to_json() and result.get("files", []) == []
    assert list(result) == ["vposer_version", "created", "data", "body", "device", "settings",
                            "methods", "seconds", "definitions", "published"]
    result.files = ["metrics.json"]
    assert list(result)[-1] == "files" and result["data"]["n_split"] == result.data["n_split"]
    result["methods"]["m"]["extra"] = 1  # nested values are the result's own
    assert result.methods["m"]["extra"] == 1
    path = write_json(tmp_path / "metrics.json", result.to_json())
    assert json.loads(Path(path).read_text()) == result  # equal to its document
    with pytest.raises(KeyError):
        result["missing"]


@dataclass(eq=False)
class _Small(JsonResult):
    a: int
    b: list


def test_json_result_mapping_protocol():
    small = _Small(1, [2])
    assert dict(small) == {"a": 1, "b": [2]} and len(small) == 2 and "a" in small
    assert small == {"a": 1, "b": [2]} and small != {"a": 1}


def test_the_summaries_of_prepare_and_import(tmp_path):
    from vposer.data import ImportSummary, PrepareSummary

    assert list(ImportSummary.__dataclass_fields__)[:3] == ["format_version", "vposer_version", "kind"]
    assert "unused_files" in PrepareSummary.__dataclass_fields__


def test_modules_stay_short():
    long = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
            if len(p.read_text().splitlines()) > 420]
    assert not long, f"modules over ~400 lines: {long}"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
