"""The human_body_prior compatibility layer: the original snippets, verbatim, and its semantics."""
import numpy as np
import pytest
import torch

from conftest import aa_close


def test_first_tutorial_snippet_runs_verbatim(v1_dir, v1_ref):
    expr_dir = str(v1_dir)
    # --- the original tutorial's first snippet, verbatim below this line ---
    from human_body_prior.tools.model_loader import load_vposer

    num_sample_batch = 10 # number of body poses in each batch

    vposer_pt, ps = load_vposer(expr_dir, vp_model='snapshot')
    sampled_pose_body = vposer_pt.sample_poses(num_poses=num_sample_batch) # will a generate Nx1x21x3 tensor of body poses  # noqa: E501
    # --- end of snippet ---
    assert sampled_pose_body.shape == (10, 1, 21, 3)
    assert ps.latentD == 32 and ps.data_shape == [1, 21, 3] and ps.expr_code == "004_00_WO_accad"


def test_v1_semantics_match_reference(v1_dir, v1_ref):
    from human_body_prior.tools.model_loader import load_vposer
    from human_body_prior.train.vposer_smpl import VPoser

    model, _ = load_vposer(str(v1_dir))
    assert isinstance(model, VPoser)
    seeded = model.sample_poses(5, seed=42)
    assert seeded.shape == (5, 1, 21, 3)
    assert aa_close(seeded, v1_ref["sample_poses_seed42_n5"]) < 1e-4
    # the original reseeds numpy's global stream: the same numbers as np.random after seeding
    np.random.seed(42)
    z = torch.tensor(np.random.normal(0, 1, (5, 32)), dtype=torch.float32)
    assert aa_close(model.decode(z, output_type="aa"), seeded) < 1e-6
    z = torch.tensor(v1_ref["z"])
    mats = model.decode(z, output_type="matrot")
    assert mats.shape == (16, 1, 21, 9)
    assert (mats - torch.tensor(v1_ref["decode_matrot"])).abs().max() < 5e-5
    assert aa_close(model.decode(z, output_type="aa"), v1_ref["decode_aa"]) < 1e-4
    q = model.encode(torch.tensor(v1_ref["encode_input_aa"]))
    assert isinstance(q, torch.distributions.Normal)
    assert torch.allclose(q.mean, torch.tensor(v1_ref["encode_mean"]), rtol=1e-4, atol=1e-4)
    out = model(torch.tensor(v1_ref["encode_input_aa"]), input_type="aa", output_type="aa")
    assert set(out) == {"mean", "std", "pose_aa"} and out["pose_aa"].shape == (16, 1, 21, 3)
    assert VPoser.aa2matrot(seeded).shape == (5, 1, 21, 9)
    assert aa_close(VPoser.matrot2aa(VPoser.aa2matrot(seeded)), seeded) < 1e-4


def test_v2_load_model_semantics_match_reference(v2_dir, v2_ref):
    from human_body_prior.models.vposer_model import VPoser
    from human_body_prior.tools.model_loader import load_model

    vp, ps = load_model(str(v2_dir), model_code=VPoser, remove_words_in_model_weights='vp_model.',
                        disable_grad=True, comp_device='gpu')
    assert isinstance(vp, VPoser) and ps.model_params.latentD == 32
    assert ps.train_parms.loss_weights.loss_kl_wt == 0.005
    assert not any(p.requires_grad for p in vp.parameters())
    sampled = vp.sample_poses(5, seed=42)
    assert aa_close(sampled["pose_body"].cpu(), v2_ref["sample_poses_seed42_n5"]) < 1e-4
    dec = vp.decode(torch.tensor(v2_ref["z"]).to(next(vp.parameters()).device))
    assert set(dec) == {"pose_body", "pose_body_matrot"}
    assert (dec["pose_body_matrot"].cpu() - torch.tensor(v2_ref["decode_pose_body_matrot"])).abs().max() < 5e-5
    q = vp.encode(torch.tensor(v2_ref["encode_input_aa"]).to(next(vp.parameters()).device))
    assert torch.allclose(q.scale.cpu(), torch.tensor(v2_ref["encode_std"]), rtol=1e-4, atol=1e-5)
    fwd = vp(torch.tensor(v2_ref["encode_input_aa"]).to(next(vp.parameters()).device))
    assert {"pose_body", "pose_body_matrot", "poZ_body_mean", "poZ_body_std", "q_z"} <= set(fwd)
    only_ps = load_model(str(v2_dir), load_only_ps=True)  # the settings alone, as the original
    assert only_ps.general.rnd_seed == 100
    assert ps.logging.best_model_fname.endswith(".ckpt") and "epoch=13" in ps.logging.best_model_fname
    # encoder_net and decoder_net on their own return what the original's did
    device = next(vp.parameters()).device  # comp_device='gpu': CUDA where there is one
    q_net = vp.encoder_net(torch.tensor(v2_ref["encode_input_aa"]).to(device))
    assert isinstance(q_net, torch.distributions.Normal)
    assert torch.allclose(q_net.scale.cpu(), torch.tensor(v2_ref["encode_std"]), rtol=1e-4, atol=1e-5)
    matrices = vp.decoder_net(torch.tensor(v2_ref["z"]).to(device)).cpu()
    assert matrices.shape == (len(v2_ref["z"]) * 21, 3, 3)
    assert (matrices.reshape(-1, 21, 9) - torch.tensor(v2_ref["decode_pose_body_matrot"])).abs().max() < 5e-5


def test_vp_model_modes_that_would_execute_code_are_refused(v1_dir):
    from human_body_prior.tools.model_loader import load_vposer

    with pytest.raises(ValueError, match="never"):
        load_vposer(str(v1_dir), vp_model="model")


class _UserVPoser(torch.nn.Module):
    """A class of the caller's own with v1's layer names (as the original's vp_model=VPoser)."""

    def __init__(self, num_neurons, latentD, data_shape):
        super().__init__()
        n, nn = num_neurons, torch.nn
        self.bodyprior_enc_bn1, self.bodyprior_enc_fc1 = nn.BatchNorm1d(63), nn.Linear(63, n)
        self.bodyprior_enc_bn2, self.bodyprior_enc_fc2 = nn.BatchNorm1d(n), nn.Linear(n, n)
        self.bodyprior_enc_mu, self.bodyprior_enc_logvar = nn.Linear(n, latentD), nn.Linear(n, latentD)
        self.bodyprior_dec_fc1, self.bodyprior_dec_fc2 = nn.Linear(latentD, n), nn.Linear(n, n)
        self.bodyprior_dec_out = nn.Linear(n, 126)


def test_vp_model_class_and_settings_paths(v1_dir):
    from human_body_prior.tools.model_loader import load_vposer
    from human_body_prior.train.vposer_smpl import VPoser

    reference, ps = load_vposer(str(v1_dir))
    assert ps.best_model_fname.endswith("TR00_E096.pt") and ps.work_dir == str(v1_dir)
    same, _ = load_vposer(str(v1_dir), vp_model=VPoser)
    assert isinstance(same, VPoser)
    own, _ = load_vposer(str(v1_dir), vp_model=_UserVPoser)
    assert isinstance(own, _UserVPoser) and not own.training
    for key, value in reference.state_dict().items():
        assert torch.equal(own.state_dict()[key], value)


@pytest.mark.render
def test_second_tutorial_snippet_runs_verbatim(v1_dir, tmp_path):
    """The seed's second snippet, with a copy of the fixture model (it writes into the model
    folder) and a random SMPL-X-structured body file."""
    import shutil

    from PIL import Image

    from vposer.body.synthetic import random_body_arrays
    from vposer.render import gl_available

    ok, why = gl_available()
    if not ok:
        pytest.skip(why)
    model_dir = tmp_path / "vposer_v1_0"
    shutil.copytree(v1_dir, model_dir)
    smplx_file = tmp_path / "SMPLX_NEUTRAL.npz"
    arrays = random_body_arrays("smplx")
    arrays["v_template"] = arrays["v_template"] * 0.3  # a compact random cloud, renderable
    np.savez(smplx_file, **arrays)
    bm_path = str(smplx_file)
    expr_dir = str(model_dir)
    # --- the original tutorial's second snippet, verbatim below this line ---
    from human_body_prior.body_model.body_model import BodyModel
    from human_body_prior.tutorials.sample_body_pose import sample_vposer

    bm = BodyModel(bm_path, 'smplx')

    sample_vposer(expr_dir, bm, 5, vp_model='snapshot')
    # --- end of snippet ---
    out = list((model_dir / "evaluations" / "pose_generation").iterdir())
    png = [p for p in out if p.suffix == ".png"]
    npz = [p for p in out if p.suffix == ".npz"]
    assert len(png) == 1 and len(npz) == 1 and png[0].stem == npz[0].stem
    assert Image.open(png[0]).size == (2000, 1200)
    assert np.load(npz[0])["pose"].shape == (5, 1, 21, 3)  # as the original saved it
    again = sample_vposer(expr_dir=expr_dir, bm=bm, num_samples=1, seed=3, cell_size=64)
    assert isinstance(again, np.ndarray) and again.shape == (1, 1, 21, 3)


# -- both load_model generations, refusals, the v1 API on any weights, the open files ----------
def test_load_model_takes_both_keyword_generations(v2_dir):
    """The v2 line's ``load_only_cfg`` / ``model_cfg_override`` and the first releases'
    ``load_only_ps`` / ``custom_ps`` / ``comp_device``, positionally too."""
    from human_body_prior.models.vposer_model import VPoser
    from human_body_prior.tools.model_loader import exprdir2model, load_model

    cfg = load_model(str(v2_dir), model_code=VPoser, load_only_cfg=True)
    assert cfg.model_params.latentD == 32 and cfg.logging.best_model_fname.endswith(".ckpt")
    assert load_model(str(v2_dir), VPoser, "vp_model.", True).general.rnd_seed == 100
    override = load_model(str(v2_dir), load_only_cfg=True,
                          model_cfg_override={"general.rnd_seed": 7, "train_parms": {"batch_size": 3}})
    assert override.general.rnd_seed == 7 and override.train_parms.batch_size == 3
    assert override.train_parms.loss_weights.loss_kl_wt == 0.005  # the rest is kept
    vp, ps = load_model(str(v2_dir), model_code=VPoser, remove_words_in_model_weights="vp_model.",
                        disable_grad=True, model_cfg_override={"general.expr_id": "x"})
    assert ps.general.expr_id == "x" and not any(p.requires_grad for p in vp.parameters())
    assert next(vp.parameters()).device.type == "cpu"  # the v2 line leaves the model where it is
    custom = {"model_params": {"latentD": 32, "num_neurons": 512}, "note": "mine"}
    vp, ps = load_model(str(v2_dir), model_code=VPoser, custom_ps=custom, disable_grad=False)
    assert ps.note == "mine" and all(p.requires_grad for p in vp.parameters())
    assert load_model(str(v2_dir), load_only_ps=True, custom_ps=custom).note == "mine"
    cfg, fname = exprdir2model(str(v2_dir))
    assert "epoch=13" in fname and cfg.logging.best_model_fname == fname


def test_load_model_refuses_a_model_code_that_does_not_fit(v1_dir, v2_dir, tmp_path):
    from human_body_prior.models.vposer_model import VPoser as VPoserV2
    from human_body_prior.tools.model_loader import load_model
    from human_body_prior.train.vposer_smpl import VPoser as VPoserV1
    from vposer.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"v1 VPoser.*use human_body_prior\.train\.vposer_smpl") as err:
        load_model(str(v1_dir), model_code=VPoserV2, remove_words_in_model_weights="vp_model.")
    assert "\n" not in str(err.value) and str(v1_dir) in str(err.value)
    link = tmp_path / "my_release"  # the error names the folder as the user gave it
    link.symlink_to(v1_dir)
    with pytest.raises(CheckpointError, match=r"v1 VPoser") as err:
        load_model(str(link), model_code=VPoserV2)
    assert str(err.value).startswith(str(link))
    with pytest.raises(CheckpointError, match=r"v2 VPoser.*use human_body_prior\.models\.vposer_model"):
        load_model(str(v2_dir), model_code=VPoserV1)

    class Foreign(torch.nn.Module):  # a class of one's own with other layer names
        def __init__(self, cfg):
            super().__init__()
            self.fc = torch.nn.Linear(63, 32)

    with pytest.raises(CheckpointError, match="Foreign cannot hold these v2 weights"):
        load_model(str(v2_dir), model_code=Foreign)
    v1_model, ps = load_model(str(v1_dir), model_code=VPoserV1)  # the matching class is fine
    assert isinstance(v1_model, VPoserV1) and v1_model.sample_poses(2).shape == (2, 1, 21, 3)


def test_v1_api_on_v2_weights_and_the_open_default_weights(v2_dir, v2_ref):
    """``load_vposer`` gives the v1 API whatever the architecture: the seed's snippet 1 gives
    N x 1 x 21 x 3 on a v2 release and on the shipped open weights."""
    from human_body_prior.tools.model_loader import expid2model, load_vposer
    from human_body_prior.train.vposer_smpl import V1Interface, VPoser
    from vposer.checkpoints import default_model_path

    vp, ps = load_vposer(str(v2_dir), vp_model="snapshot")
    assert isinstance(vp, V1Interface) and ps.latentD == 32 and "epoch=13" in ps.best_model_fname
    seeded = vp.sample_poses(num_poses=5, seed=42)
    assert seeded.shape == (5, 1, 21, 3)
    assert aa_close(seeded.reshape(5, 21, 3), v2_ref["sample_poses_seed42_n5"]) < 1e-4
    z = torch.tensor(v2_ref["z"])
    mats = vp.decode(z, output_type="matrot")
    assert mats.shape == (len(z), 1, 21, 9)
    assert (mats.reshape(-1, 21, 9) - torch.tensor(v2_ref["decode_pose_body_matrot"])).abs().max() < 5e-5
    out = vp(torch.tensor(v2_ref["encode_input_aa"]), input_type="aa", output_type="aa")
    assert set(out) == {"mean", "std", "pose_aa"}
    same, _ = load_vposer(str(v2_dir), vp_model=VPoser)  # the v1 class on v2 weights: v1 API too
    assert torch.equal(same.sample_poses(3, seed=1), vp.sample_poses(3, seed=1))
    expr_dir = str(default_model_path())
    # --- the seed's first snippet, verbatim, on the open default weights ---
    vposer_pt, ps = load_vposer(expr_dir, vp_model='snapshot')
    sampled_pose_body = vposer_pt.sample_poses(num_poses=10) # will a generate Nx1x21x3 tensor of body poses
    # --- end of snippet ---
    assert sampled_pose_body.shape == (10, 1, 21, 3) and ps.latentD == 32
    assert ps.best_model_fname.endswith("model.safetensors") and ps.work_dir == expr_dir
    ps2, best = expid2model(expr_dir)
    assert best == ps.best_model_fname and ps2.work_dir == expr_dir


def test_extract_weights_asnumpy(v1_dir, tmp_path):
    import shutil

    from human_body_prior.tools.model_loader import extract_weights_asnumpy

    shutil.copytree(v1_dir, tmp_path / "v1")
    ps, weights = extract_weights_asnumpy(str(tmp_path / "v1"))
    with np.load(tmp_path / "v1" / "weights_npy" / "vposerWeights.npz") as saved:
        assert set(saved.files) == set(weights) and "bodyprior_dec_out.weight" in saved.files
        assert np.array_equal(saved["bodyprior_dec_out.weight"], weights["bodyprior_dec_out.weight"])


def test_paths_command_and_functions(capsys):
    from vposer.body import open_body_path
    from vposer.checkpoints import default_model_path
    from vposer.cli import main

    assert main(["paths"]) == 0
    out = capsys.readouterr().out
    assert str(default_model_path()) in out and open_body_path() in out
    assert main(["paths", "--body"]) == 0
    assert capsys.readouterr().out.strip() == open_body_path()


@pytest.mark.render
def test_second_snippet_on_the_open_files(tmp_path):
    """The seed's second snippet with no licensed file: the open body under 'smplx' and a copy
    of the open default weights (sample_vposer writes into the model folder)."""
    import shutil

    from vposer.body import open_body_path
    from vposer.checkpoints import default_model_path
    from vposer.render import gl_available

    ok, why = gl_available()
    if not ok:
        pytest.skip(why)
    expr_dir = str(shutil.copytree(default_model_path(), tmp_path / "vposer_open"))
    bm_path = open_body_path()
    # --- the seed's second snippet, verbatim ---
    from human_body_prior.body_model.body_model import BodyModel
    from human_body_prior.tutorials.sample_body_pose import sample_vposer

    bm = BodyModel(bm_path, 'smplx')

    sample_vposer(expr_dir, bm, 5, vp_model='snapshot')
    # --- end of snippet ---
    written = sorted(p.suffix for p in (tmp_path / "vposer_open" / "evaluations" / "pose_generation").iterdir())
    assert written == [".npz", ".png"]


def test_smplify_x_calls(v1_dir, v2_dir):
    """SMPLify-X's VPoser calls: the 2019 code (load_vposer, decode(..., output_type='aa')
    .view(1, -1) on a latent it optimises) and the 2021 one (load_model, .get('pose_body'))."""
    from human_body_prior.models.vposer_model import VPoser
    from human_body_prior.tools.model_loader import load_model, load_vposer

    vposer_pt, _ = load_vposer(str(v1_dir), vp_model='snapshot')
    vposer_pt = vposer_pt.to(device=torch.device("cpu"))
    vposer_pt.eval()
    pose_embedding = torch.zeros([1, 32], dtype=torch.float32, requires_grad=True)
    body_pose = vposer_pt.decode(pose_embedding, output_type='aa').view(1, -1)
    assert body_pose.shape == (1, 63)
    body_pose.square().sum().backward()
    assert pose_embedding.grad is not None
    vposer, _ = load_model(str(v2_dir), model_code=VPoser, remove_words_in_model_weights='vp_model.',
                           disable_grad=True)
    z = torch.zeros([2, 32], requires_grad=True)
    assert vposer.decode(z).get('pose_body').reshape(2, -1).shape == (2, 63)
