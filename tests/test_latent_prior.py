"""The learned latent prior: a Gaussian mixture over codes that a model samples from."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import vposer
from vposer.errors import CheckpointError, InputError
from vposer.generate.sampling import draw_latent
from vposer.generate.settings import GenerateSettings
from vposer.model import LatentMixture, VPoserConfig, build_model, fit_latent_prior

D = 8


def mixture(k: int = 3, d: int = D, seed: int = 0) -> LatentMixture:
    """A random mixture with well-separated means and random full covariances."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.rand(k, generator=g) + 0.2
    means = 4 * torch.randn(k, d, generator=g)
    a = torch.randn(k, d, d, generator=g) * 0.3
    cov = a @ a.transpose(1, 2) + 0.2 * torch.eye(d)
    return LatentMixture(weights / weights.sum(), means, torch.linalg.cholesky(cov))


def small_model(prior: LatentMixture | None = None) -> vposer.VPoser:
    torch.manual_seed(0)
    model = build_model(VPoserConfig("v2", num_neurons=64, latent_dim=D)).eval()
    model.latent_prior = prior
    return model


def distances(z: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` exact Euclidean distances (``torch.cdist`` rounds to ~1e-3 here)."""
    return (z.double()[:, None] - means.double()[None]).norm(dim=-1)


def moments(p: LatentMixture) -> tuple[torch.Tensor, torch.Tensor]:
    w, mu, tril = p.weights.double(), p.means.double(), p.scale_tril.double()
    mean = (w[:, None] * mu).sum(0)
    second = (w[:, None, None] * (tril @ tril.transpose(1, 2) + mu[:, :, None] * mu[:, None])).sum(0)
    return mean, second - mean[:, None] * mean[None]


def test_samples_have_the_mixtures_mean_and_covariance():
    p = mixture()
    z = small_model(p).sample_latent(200_000, seed=1).double()
    mean, cov = moments(p)
    se = z.std(0) / len(z) ** 0.5
    assert ((z.mean(0) - mean).abs() / se).max() < 5
    assert (torch.cov(z.T) - cov).abs().max() < 0.02 * cov.abs().max()


def test_each_component_is_drawn_by_its_weight():
    p = mixture(k=4)
    z = small_model(p).sample_latent(100_000, seed=2)
    nearest = distances(z, p.means).argmin(1)  # means 4 sd apart: the nearest is the component
    share = torch.bincount(nearest, minlength=4).double() / len(z)
    assert (share - p.weights.double()).abs().max() < 0.01


def test_temperature_scales_the_spread_around_each_mean():
    p = mixture()
    model = small_model(p)
    at_zero = model.sample_latent(1000, seed=3, temperature=0.0)
    assert distances(at_zero, p.means).min(1).values.max() < 1e-5
    z1 = model.sample_latent(1000, seed=3)
    z2 = model.sample_latent(1000, seed=3, temperature=0.5)
    assert torch.allclose(z2 - at_zero, 0.5 * (z1 - at_zero), atol=1e-5)


def test_chunked_draws_of_one_generator_give_the_codes_of_one_draw():
    model = small_model(mixture())
    sizes = (16, 48, 112, 2048, 4096, 32)  # rows of 9 numbers: chunks of 16 rows draw alike
    g = torch.Generator().manual_seed(5)
    chunks = torch.cat([model.sample_latent(n, generator=g) for n in sizes])
    assert torch.equal(chunks, model.sample_latent(sum(sizes), seed=5))
    e = torch.randn(5000, D + 1, generator=torch.Generator().manual_seed(6))
    prior = model.latent_prior
    cuts = [0, 1, 8, 301, 2049, 2051, 4999, 5000]  # any split of the same numbers: the same codes
    parts = torch.cat([prior.codes(e[a:b]) for a, b in zip(cuts, cuts[1:])])
    assert torch.equal(parts, prior.codes(e))


def test_without_a_prior_sampling_is_the_standard_normal():
    model = small_model()
    assert torch.equal(model.sample_latent(10, seed=0), torch.randn(10, D, generator=torch.Generator().manual_seed(0)))
    model.latent_prior = mixture()
    normal = torch.randn(10, D, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(model.sample_latent(10, seed=0), normal)


def test_log_prob_is_the_mixture_density():
    from scipy.stats import multivariate_normal

    p = mixture()
    z = torch.randn(50, D, dtype=torch.float64) * 3
    cov = p.scale_tril.double() @ p.scale_tril.double().transpose(1, 2)
    ref = np.log(sum(float(w) * multivariate_normal(m.double().numpy(), c.numpy()).pdf(z.numpy())
                     for w, m, c in zip(p.weights, p.means, cov)))
    assert np.allclose(p.log_prob(z).numpy(), ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("change, message", [
    (lambda w, m, s: (w[:2], m, s), r"needs weights \(K,\)"),
    (lambda w, m, s: (w, m[:, :3], s), r"needs weights \(K,\)"),
    (lambda w, m, s: (w * 2, m, s), "sum to 1"),
    (lambda w, m, s: (w, m.index_fill(0, torch.tensor([0]), float("nan")), s), "finite"),
    (lambda w, m, s: (w, m, s.transpose(1, 2)), "lower-triangular"),
    (lambda w, m, s: (w, m, -s), "positive diagonal"),
])
def test_invalid_mixtures_are_refused(change, message):
    p = mixture()
    with pytest.raises(InputError, match=message):
        LatentMixture(*change(p.weights, p.means, p.scale_tril))


def test_a_prior_of_other_size_does_not_fit_the_model():
    with pytest.raises(InputError, match="4-D codes does not fit a model with 8-D codes"):
        small_model(mixture(d=4))


@pytest.mark.parametrize("name", ["model", "model.safetensors"])
def test_native_files_keep_the_prior(name, tmp_path):
    model = small_model(mixture())
    path = vposer.save_model(model, tmp_path / name)
    loaded = vposer.load_model(path)
    assert loaded.latent_prior is not None
    assert torch.equal(loaded.sample(50, seed=0).axis_angle, model.sample(50, seed=0).axis_angle)
    if name == "model":
        doc = json.loads((path / "config.json").read_text())
        assert doc["latent_prior"] == {"kind": "gaussian_mixture", "components": 3}
    loaded.latent_prior = None  # the standard prior back: the network alone, as saved before
    plain = vposer.save_model(loaded, tmp_path / "plain.safetensors")
    assert vposer.load_model(plain).latent_prior is None
    assert not any(k.startswith("latent_prior.") for k in load_file(str(plain)))


@pytest.mark.parametrize("damage, message", [
    ("drop", "needs exactly"),
    ("nan", "finite"),
    ("shape", "needs weights (K,)"),
    ("size", "does not fit a model"),
])
def test_damaged_priors_in_a_model_file_are_refused_naming_it(damage, message, tmp_path):
    path = vposer.save_model(small_model(mixture()), tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
    tensors = load_file(str(path))
    if damage == "drop":
        del tensors["latent_prior.means"]
    elif damage == "nan":
        tensors["latent_prior.means"][0, 0] = float("nan")
    elif damage == "shape":
        tensors["latent_prior.weights"] = tensors["latent_prior.weights"][:2].clone()
    else:
        other = mixture(d=4).to_tensors()
        tensors.update(other)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError) as info:
        vposer.load_model(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_fitting_is_deterministic_and_matches_the_codes():
    model = small_model()
    g = torch.Generator().manual_seed(0)
    poses = torch.randn(3000, 63, generator=g) * 0.4
    a = fit_latent_prior(model, poses, n_components=4, seed=0)
    b = fit_latent_prior(model, poses, n_components=4, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.to_tensors().values(), b.to_tensors().values()))
    post = model.encode(poses)
    mean, cov = moments(a)
    agg_var = post.mean.double().var(0) + post.stddev.double().square().mean(0)
    assert (mean - post.mean.double().mean(0)).abs().max() < 0.05
    assert torch.allclose(torch.diagonal(cov), agg_var, rtol=0.1)
    with pytest.raises(InputError, match="cannot fit 4 components to 3 poses"):
        fit_latent_prior(model, poses[:3], n_components=4)


def test_groups_weigh_the_same_however_many_poses_each_has():
    model = small_model()
    g = torch.Generator().manual_seed(1)
    shift = torch.full((63,), 3.0)  # codes of the two groups 0.9 apart, posterior sd 0.7
    poses = torch.cat([torch.randn(2700, 63, generator=g) * 0.3 + shift,
                       torch.randn(300, 63, generator=g) * 0.3 - shift])
    groups = np.repeat([5, 2], [2700, 300])  # any integer labels, any order
    post = model.encode(poses).mean.double()
    mean_a, mean_b = post[:2700].mean(0), post[2700:].mean(0)
    spread = (mean_a - mean_b).norm()
    by_pose = moments(fit_latent_prior(model, poses, n_components=4, seed=0))[0]
    by_group = fit_latent_prior(model, poses, n_components=4, seed=0, groups=groups)
    assert (by_pose - (0.9 * mean_a + 0.1 * mean_b)).norm() < 0.1 * spread
    assert (moments(by_group)[0] - (mean_a + mean_b) / 2).norm() < 0.1 * spread
    again = fit_latent_prior(model, poses, n_components=4, seed=0, groups=torch.from_numpy(groups))
    assert all(torch.equal(x, y) for x, y in zip(by_group.to_tensors().values(),
                                                 again.to_tensors().values()))


@pytest.mark.parametrize("groups", [np.zeros(10, dtype=int), np.zeros(3000), [["a"]] * 3000])
def test_groups_must_be_one_integer_label_per_pose(groups):
    poses = torch.randn(3000, 63) * 0.4
    with pytest.raises(InputError, match="groups must be 3000 integer labels, one per pose"):
        fit_latent_prior(small_model(), poses, n_components=2, groups=groups)


def test_generate_draws_the_models_codes_and_truncates_only_the_offsets():
    p = mixture()
    plain = draw_latent(1000, D, torch.Generator().manual_seed(7), GenerateSettings(n=1), p)
    assert torch.equal(plain, small_model(p).sample_latent(1000, seed=7))
    for mode in ("clip", "resample"):
        tight = draw_latent(2000, D, torch.Generator().manual_seed(7),
                            GenerateSettings(n=1, truncation=1e-6, truncation_mode=mode), p)
        nearest = distances(tight, p.means).min(1)
        assert nearest.values.max() < 1e-4  # every code at a component mean
        share = torch.bincount(nearest.indices, minlength=3).double() / 2000
        assert (share - p.weights.double()).abs().max() < 0.05  # components still by weight


def test_an_onnx_export_samples_from_the_prior(tmp_path):
    pytest.importorskip("onnxruntime")
    from vposer.export import export_onnx
    from vposer.runtime import MANIFEST_NAME, ExportedModelError, load_exported

    p = mixture()
    folder = export_onnx(small_model(p), tmp_path / "onnx")
    exported = load_exported(folder, threads=1)
    z = torch.from_numpy(exported.sample_latent(100_000, seed=0)).double()
    mean, cov = moments(p)
    assert ((z.mean(0) - mean).abs() / (z.std(0) / len(z) ** 0.5)).max() < 5
    assert (torch.cov(z.T) - cov).abs().max() < 0.03 * cov.abs().max()
    at_zero = torch.from_numpy(exported.sample_latent(100, seed=0, temperature=0.0))
    assert distances(at_zero, p.means).min(1).values.max() < 1e-5
    manifest = folder / MANIFEST_NAME
    doc = json.loads(manifest.read_text())
    assert "Gaussian mixture" in doc["conventions"]["latent"]
    doc["latent_prior"]["weights"][0] = -1.0
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ExportedModelError) as info:
        load_exported(folder)
    assert "latent_prior is not a usable Gaussian mixture" in str(info.value)
    assert str(manifest) in str(info.value)


def test_commands_sample_the_learned_prior_unless_told_otherwise(tmp_path, capsys):
    from vposer.cli import main

    assert vposer.load_model().latent_prior is not None  # the default weights carry one
    for flag in ([], ["--standard-prior"]):
        out = tmp_path / f"s{len(flag)}.npz"
        assert main(["sample", "-n", "20", "--seed", "3", "-o", str(out), *flag]) == 0
        model = vposer.load_model()
        if flag:
            model.latent_prior = None
        with np.load(out) as data:
            assert np.array_equal(data["z"], model.sample_latent(20, seed=3).numpy())
            assert ("learned prior" in str(data["meta"])) != bool(flag)


def test_a_generated_shard_is_the_models_own_sample_with_a_prior(tmp_path):
    from vposer.cli import main
    from vposer.generate import derive_seed

    model = small_model(mixture())
    path = vposer.save_model(model, tmp_path / "model")
    out = tmp_path / "gen"
    assert main(["generate", "--n", "200", "--shard-size", "100", "--out", str(out), "-m", str(path),
                 "--workers", "1", "--no-progress"]) == 0
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = vposer.load_model(path).sample(100, seed=derive_seed(0, 1))
    finally:
        torch.set_num_threads(old)
    with np.load(out / "shard-000001.npz") as data:
        assert np.array_equal(data["pose_body"], expected.pose_body.numpy())
