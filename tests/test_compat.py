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
    sampled_pose_body = vposer_pt.sample_poses(num_poses=num_sample_batch) # will a generate Nx1x21x3 tensor of body poses
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
