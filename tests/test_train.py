"""Training: the loss goes down, configs are validated up front, runs resume to identical weights."""
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

import vposer
from vposer.body import load_body
from vposer.body.synthetic import random_body_arrays
from vposer.errors import ConfigError
from vposer.train import load_config, vposer_loss
from vposer.train.losses import kl_to_standard_normal

from conftest import need_shared


def write_data(root: Path, n_train: int = 384, n_val: int = 96, seed: int = 0) -> Path:
    g = np.random.default_rng(seed)
    base = g.normal(0, 0.25, (8, 63))
    for split, n in (("train", n_train), ("vald", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        poses = base[g.integers(0, 8, n)] + g.normal(0, 0.05, (n, 63))
        np.save(root / split / "pose_body.npy", poses.astype(np.float32))
    return root


def tiny_config(tmp_path: Path, prior: int = 0, **trainer) -> Path:
    """A 2-epoch run on random poses; ``prior``: components of the learned latent prior."""
    write_data(tmp_path / "data")
    cfg = tmp_path / "cfg.yaml"
    extra = "".join(f", {k}: {v}" for k, v in trainer.items())
    cfg.write_text(
        "general: {expr_id: tiny, rnd_seed: 3}\n"
        "data: {prepared_dir: data}\n"
        "logging: {work_dir: run, render_during_training: false}\n"
        f"model_params: {{num_neurons: 32, latentD: 8, latent_prior_components: {prior}}}\n"
        "train_parms: {batch_size: 64, num_epochs: 2}\n"
        f"trainer: {{accelerator: cpu, progress_bar: false, checkpoint_every_steps: 2{extra}}}\n")
    return cfg


def test_source_weighting_labels_each_training_pose_by_its_source(tmp_path):
    from vposer.data.prepared import SplitWriter
    from vposer.train.run import latent_prior_groups

    writer = SplitWriter(tmp_path / "data" / "train")
    g = np.random.default_rng(0)
    for dataset, n in (("mocap_b", 5), ("mocap_a", 3), ("mocap_b", 2)):  # takes in file order
        writer.add({"path": f"{dataset}.bvh", "dataset": dataset}, g.normal(size=(n, 63)),
                   np.zeros((n, 3)), np.arange(n))
    writer.close()
    cfg = tmp_path / "cfg.yaml"
    text = ("data: {{prepared_dir: data, mirror: {mirror}}}\n"
            "model_params: {{latent_prior_components: 2, latent_prior_weighting: {weighting}}}\n")
    cfg.write_text(text.format(mirror="false", weighting="source"))
    labels = [1] * 5 + [0] * 3 + [1] * 2  # sorted names: mocap_a is 0
    assert latent_prior_groups(load_config(cfg)).tolist() == labels
    cfg.write_text(text.format(mirror="true", weighting="source"))  # mirror images follow
    assert latent_prior_groups(load_config(cfg)).tolist() == labels * 2
    cfg.write_text(text.format(mirror="false", weighting="pose"))
    assert latent_prior_groups(load_config(cfg)) is None
    cfg.write_text(text.format(mirror="false", weighting="source"))
    (tmp_path / "data" / "train" / "files.json").unlink()  # poses of unknown sources
    with pytest.raises(ConfigError, match="latent_prior_weighting: source' needs the source"):
        latent_prior_groups(load_config(cfg))


def test_kl_matches_torch_distributions():
    q = torch.distributions.Normal(torch.randn(5, 8), torch.rand(5, 8) + 0.1)
    p = torch.distributions.Normal(torch.zeros(5, 8), torch.ones(5, 8))
    expected = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    assert torch.allclose(kl_to_standard_normal(q), expected, atol=1e-5)


def test_a_few_steps_lower_the_loss(tmp_path):
    from vposer.train.module import VPoserModule

    cfg = load_config(tiny_config(tmp_path))
    module = VPoserModule(cfg, load_body())
    poses = torch.from_numpy(np.load(tmp_path / "data" / "train" / "pose_body.npy"))
    opt = torch.optim.Adam(module.vposer.parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for step in range(40):
        batch = poses[(step * 64) % 384:(step * 64) % 384 + 64]
        out, _ = module._step(batch, extra=True)
        opt.zero_grad()
        out.total.backward()
        opt.step()
        losses.append(out.total.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert set(out.terms) == {"kl", "rec", "matrot", "jtr", "loss"}


def test_v1_recipe_terms():
    n = 4
    post = torch.distributions.Normal(torch.zeros(n, 8), torch.ones(n, 8))
    v = torch.zeros(n, 10, 3)
    aa = torch.zeros(n, 21, 3)
    rot = torch.eye(3).expand(n, 21, 3, 3)
    out = vposer_loss("v1", {"loss_kl_wt": 0.005}, True, post, v + 0.001, v, rot, rot, aa + 0.1, aa)
    assert out.terms["rec_mm"].item() == pytest.approx(1.0, rel=1e-4)
    assert out.terms["aa"].item() == pytest.approx(63 * 0.01, rel=1e-4)
    assert out.total.item() == pytest.approx(0.995 * (1.0 + 0.63), rel=1e-4)


def test_v02_05_config_fields_load(tmp_path):
    release_yaml = need_shared("fixtures", "vposer", "V02_fixture", "V02_fixture.yaml")
    cfg = load_config(release_yaml)
    assert cfg.recipe == "v2" and cfg.get("train_parms.batch_size") == 128
    assert cfg.get("train_parms.loss_weights.loss_rec_wt") == 4 and cfg.seed == 100
    from vposer.train.config import check_data_and_body

    with pytest.raises(ConfigError, match="vposer prepare"):
        check_data_and_body(cfg)  # its amass_dir is raw AMASS on another machine


def test_bad_configs_fail_before_training(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_parms: {batch_sise: 12}\n")
    with pytest.raises(ConfigError, match="unknown key 'train_parms.batch_sise'") as err:
        load_config(bad)
    assert "bad.yaml" in str(err.value)
    bad.write_text("model_params: {latent_prior_components: -1}\n")
    with pytest.raises(ConfigError, match="latent_prior_components' must be an integer >= 0"):
        load_config(bad)
    bad.write_text("model_params: {latent_prior_weighting: take}\n")
    with pytest.raises(ConfigError, match="latent_prior_weighting' must be pose or source"):
        load_config(bad)
    bad.write_text("recipe: v3\n")
    with pytest.raises(ConfigError, match="unknown recipe"):
        load_config(bad)
    from vposer.train.run import train

    cfg = tiny_config(tmp_path)
    shutil.rmtree(tmp_path / "data" / "vald")
    with pytest.raises(ConfigError, match="no 'vald' split"):
        train(load_config(cfg))
    write_data(tmp_path / "data")
    mano = tmp_path / "MANO_RIGHT.npz"
    np.savez(mano, **random_body_arrays("mano"))
    with pytest.raises(ConfigError, match="MANO"):
        train(load_config(cfg, {"body_model": {"bm_path": str(mano)}}))
    assert not (tmp_path / "run" / "checkpoints").exists()


def _train_cli(cfg: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vposer", "train", str(cfg), *extra],
                            cwd=cfg.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_killed_run_resumes_to_identical_weights(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    cfg_a, cfg_b = tiny_config(a, prior=2), tiny_config(b, prior=2)
    full = _train_cli(cfg_a)
    killed = _train_cli(cfg_b)
    last = b / "run" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    resumed = _train_cli(cfg_b, "--resume")
    out_full, out_resumed = full.communicate(timeout=600)[0], resumed.communicate(timeout=600)[0]
    assert full.returncode == 0, out_full[-2000:]
    assert resumed.returncode == 0, out_resumed[-2000:]
    m_full, m_resumed = vposer.load_model(a / "run"), vposer.load_model(b / "run")
    for key, value in m_full.state_dict().items():
        assert torch.equal(value, m_resumed.state_dict()[key]), key
    assert m_full.config.latent_dim == 8 and m_full.info["format"] == "native"
    prior, prior_resumed = m_full.latent_prior, m_resumed.latent_prior  # fitted after training
    assert prior is not None and prior.n_components == 2 and prior_resumed is not None
    for key, value in prior.to_tensors().items():
        assert torch.equal(value, prior_resumed.to_tensors()[key]), key
    assert (b / "run" / "logs" / "resumed-1" / "metrics.csv").is_file()  # earlier rows kept apart
    assert vposer.load_model(a / "run" / "checkpoints" / "last.ckpt").config.num_neurons == 32


@pytest.mark.slow
def test_ddp_over_two_cpu_processes(tmp_path):
    cfg = tiny_config(tmp_path)
    proc = _train_cli(cfg, "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu")
    out = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, out[-3000:]
    assert vposer.load_model(tmp_path / "run").config.latent_dim == 8


def test_training_inputs_are_checked_before_anything_is_written(tmp_path):
    """NaN poses (named with their file), a batch larger than the training set and --resume
    with another network fail before a run folder appears; a dry run leaves nothing behind."""
    from vposer.train.run import train

    cfg = tiny_config(tmp_path)
    train_file = tmp_path / "data" / "train" / "pose_body.npy"
    poses = np.load(train_file)
    poses[5, 7] = np.nan
    np.save(train_file, poses)
    with pytest.raises(ConfigError, match=r"1 pose\(s\) contain NaN or Inf \(rows 5\)") as err:
        train(load_config(cfg))
    assert "train/pose_body.npy" in str(err.value)
    write_data(tmp_path / "data")
    with pytest.raises(ConfigError, match="fewer than one batch of 1000"):
        train(load_config(cfg, {"train_parms": {"batch_size": 1000}}))
    assert not (tmp_path / "run").exists()
    train(load_config(cfg), fast_dev_run=True)
    assert not (tmp_path / "run").exists()
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"")
    (tmp_path / "run" / "config.yaml").write_text("recipe: v2\nmodel_params: {num_neurons: 32, latentD: 8}\n")
    with pytest.raises(ConfigError, match="--resume with a different network"):
        train(load_config(cfg, {"recipe": "v1"}), resume=True)


def test_cli_paths_are_relative_to_the_current_folder(tmp_path, monkeypatch):
    """--data and -o are where the user typed them from; paths inside the config stay relative
    to the config file."""
    from vposer.cli import main

    cfg = tiny_config(tmp_path / "confs")
    (tmp_path / "work").mkdir()
    shutil.move(str(tmp_path / "confs" / "data"), str(tmp_path / "work" / "mydata"))
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", str(cfg), "--data", "mydata", "-o", "runs/x", "--fast-dev-run"]) == 0


def test_sigterm_during_training_exits_143(tmp_path, monkeypatch, capsys):
    import lightning.pytorch as pl
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from vposer.cli import main

    def stopped(*args, **kwargs):
        raise SIGTERMException

    monkeypatch.setattr(pl.Trainer, "fit", stopped)
    assert main(["train", str(tiny_config(tmp_path))]) == 143
    assert "stopped by SIGTERM; resume with --resume" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["open", "smplh_without_correctives", "smpl"])
def test_body_points_are_the_difference_of_two_posed_bodies(kind, tmp_path):
    """The training loss's shortcut (one linear map of the joint transforms) gives what posing
    both bodies and subtracting gives; a body with pose correctives takes the plain path."""
    from vposer.body import load_body
    from vposer.body.synthetic import random_body_arrays
    from vposer.rotations import axis_angle_to_matrix
    from vposer.train.body_points import BodyPoints

    if kind == "open":
        body = load_body()
    else:
        model_type = kind.split("_")[0]
        np.savez(tmp_path / "body.npz", **random_body_arrays(model_type, seed=5))
        body = load_body(tmp_path / "body.npz", use_posedirs=kind == "smpl")
    points = BodyPoints(body)
    assert points.linear == (kind != "smpl")
    g = torch.Generator().manual_seed(3)
    a = (torch.randn(5, 21, 3, generator=g) * 0.7).requires_grad_()
    b = torch.randn(5, 21, 3, generator=g) * 0.7
    diff = torch.cat(points.difference(axis_angle_to_matrix(a), a, axis_angle_to_matrix(b), b))
    va, vb = body(pose_body=a.reshape(5, 63)), body(pose_body=b.reshape(5, 63))
    expected = torch.cat([va.vertices - vb.vertices, va.joints - vb.joints], dim=1).transpose(0, 1)
    assert diff.shape == (body.num_vertices + body.num_joints, 5, 3)
    assert (diff - expected).abs().max() < 2e-6
    # the gradients agree too
    grad, = torch.autograd.grad(diff.abs().mean(), a)
    ref, = torch.autograd.grad(expected.abs().mean(), a)
    assert (grad - ref).abs().max() < 1e-5 * ref.abs().max()


@pytest.mark.parametrize("kind", ["open", "smpl"])
def test_body_points_joints_are_the_posed_bodys_joints(kind, tmp_path):
    """The sample-matching term's joints: the first 22 joints of the posed body, on the linear
    path and on the plain one (a body with pose correctives)."""
    from vposer.rotations import axis_angle_to_matrix
    from vposer.train.body_points import BodyPoints

    if kind == "open":
        body = load_body()
    else:
        np.savez(tmp_path / "body.npz", **random_body_arrays("smpl", seed=5))
        body = load_body(tmp_path / "body.npz", use_posedirs=True)
    points = BodyPoints(body)
    aa = torch.randn(6, 21, 3, generator=torch.Generator().manual_seed(4)) * 0.7
    joints = points.joints(axis_angle_to_matrix(aa))
    expected = body(pose_body=aa.reshape(6, 63)).joints[:, :22]
    assert joints.shape == (6, 22, 3)
    assert (joints - expected).abs().max() < 2e-6


def test_joint_mmd_is_zero_for_equal_sets_and_pulls_samples_towards_the_data():
    from vposer.train.losses import joint_mmd

    g = torch.Generator().manual_seed(0)
    data = torch.randn(64, 22, 3, generator=g) * 0.3
    assert joint_mmd(data, data).abs().item() < 1e-6
    # a set narrower than the data is further away than a second draw of the data itself
    narrow = (torch.randn(64, 22, 3, generator=g) * 0.15).requires_grad_()
    other = torch.randn(64, 22, 3, generator=g) * 0.3
    gap = joint_mmd(narrow, data)
    assert gap.item() > 2 * joint_mmd(other, data).item()
    assert joint_mmd(data, narrow).item() == pytest.approx(gap.item(), rel=1e-5)
    # and gradient steps on the generated set spread it out towards the data's spread
    opt = torch.optim.Adam([narrow], lr=0.01)
    for _ in range(40):
        opt.zero_grad()
        joint_mmd(narrow, data).backward()
        opt.step()
    assert joint_mmd(narrow, data).item() < 0.5 * gap.item()
    assert 0.25 < narrow.detach().std().item() < 0.35


def test_sample_matching_term_is_off_by_default_and_trains_when_weighted(tmp_path):
    from vposer.train.module import VPoserModule

    cfg_path = tiny_config(tmp_path)
    poses = torch.from_numpy(np.load(tmp_path / "data" / "train" / "pose_body.npy"))[:64]
    module = VPoserModule(load_config(cfg_path), load_body())
    out, _ = module._step(poses, extra=False)
    assert "sample_mmd" not in out.terms  # the published recipes are unchanged
    cfg_path.write_text(cfg_path.read_text().replace(
        "num_epochs: 2}", "num_epochs: 2, loss_weights: {loss_sample_mmd_wt: 5}}"))
    module = VPoserModule(load_config(cfg_path), load_body())
    out, _ = module._step(poses, extra=False)
    rest = 0.005 * out.terms["kl"] + 4 * out.terms["rec"]
    assert out.terms["sample_mmd"].item() > 0
    assert out.total.item() == pytest.approx((rest + 5 * out.terms["sample_mmd"]).item(), rel=1e-5)
    out.total.backward()
    decoder_grads = [p.grad for n, p in module.vposer.named_parameters() if "dec" in n]
    assert decoder_grads and all(g is not None for g in decoder_grads)
