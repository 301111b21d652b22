"""The native VPoser API against the reference outputs of both releases, and its invariants."""
import pytest
import torch

import vposer
from vposer.errors import InputError
from vposer.model import VPoserConfig, build_model, interpolate
from vposer.model.vposer import CPU_BLOCK

from conftest import aa_close


def _rel(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return ((a - b).abs() / b.abs().clamp_min(1e-2)).max().item()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_decode_and_encode_match_reference(version, v1_dir, v2_dir, v1_ref, v2_ref):
    model = vposer.load_model(v1_dir if version == "v1" else v2_dir)
    ref = v1_ref if version == "v1" else v2_ref
    mat_key, aa_key = ("decode_matrot", "decode_aa") if version == "v1" else (
        "decode_pose_body_matrot", "decode_pose_body")
    out = model.decode(torch.tensor(ref["z"]))
    assert out.matrices.shape == (16, 21, 3, 3) and out.axis_angle.shape == (16, 21, 3)
    assert (out.matrices.reshape(16, -1) - torch.tensor(ref[mat_key]).reshape(16, -1)).abs().max() < 5e-5
    assert aa_close(out.axis_angle, ref[aa_key]) < 1e-4
    q = model.encode(torch.tensor(ref["encode_input_aa"]))
    assert _rel(q.mean.detach(), ref["encode_mean"]) < 1e-4
    assert _rel(q.stddev.detach(), ref["encode_std"]) < 1e-4


def test_parameter_counts_match_the_releases():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(build_model(VPoserConfig("v1"))) == 673_596
    assert count(build_model(VPoserConfig("v2"))) == 936_252


def test_pose_input_layouts_are_equivalent(v2_dir, v2_ref):
    model = vposer.load_model(v2_dir)
    x = torch.tensor(v2_ref["encode_input_aa"])
    means = [model.encode(v).mean for v in (x, x.reshape(16, 21, 3), x.reshape(16, 1, 21, 3))]
    assert torch.equal(means[0], means[1]) and torch.equal(means[0], means[2])
    single = model.encode(x[0].reshape(21, 3)).mean
    assert torch.allclose(single, means[0][:1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [torch.zeros(4, 62), torch.zeros(4, 2, 21, 3), torch.zeros(4, 21, 4)])
def test_wrong_pose_shapes_are_refused(bad):
    model = build_model(VPoserConfig("v2"))
    with pytest.raises(InputError, match="must be"):
        model.encode(bad)


def test_nan_inputs_are_refused():
    model = build_model(VPoserConfig("v2"))
    pose = torch.zeros(2, 63)
    pose[1, 5] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        model.encode(pose)
    with pytest.raises(InputError, match="NaN"):
        model.decode(torch.full((1, 32), float("inf")))
    with pytest.raises(InputError, match=r"\(N, 32\)"):
        model.decode(torch.zeros(3, 16))


def test_sampling_is_seeded_and_temperature_scales(v1_dir):
    model = vposer.load_model(v1_dir)
    a, b = model.sample(8, seed=3), model.sample(8, seed=3)
    assert torch.equal(a.axis_angle, b.axis_angle) and torch.equal(a.matrices, b.matrices)
    assert not torch.equal(a.axis_angle, model.sample(8, seed=4).axis_angle)
    g = torch.Generator().manual_seed(3)
    assert torch.equal(model.sample(8, generator=g).axis_angle, a.axis_angle)
    z0 = model.sample(2, seed=1, temperature=0.0)
    assert torch.allclose(z0.matrices, model.decode(torch.zeros(2, 32)).matrices)
    assert model.sample_latent(20000, seed=0, temperature=0.5).std().item() == pytest.approx(0.5, rel=0.02)
    assert torch.allclose(a.pose_body, a.axis_angle.reshape(8, 63))


def test_chunked_decoding_equals_one_batch(v2_dir):
    model = vposer.load_model(v2_dir)
    z = model.sample_latent(1000, seed=0)
    whole = model.decode_batched(z, chunk_size=4096)
    parts = model.decode_batched(z, chunk_size=97)
    assert torch.allclose(whole.matrices, parts.matrices, atol=1e-6)
    assert aa_close(whole.axis_angle, parts.axis_angle) < 1e-5


def test_cpu_blocks_equal_the_differentiable_pass(v2_dir):
    """Without gradients, decode() works in cache-sized blocks; with them, in one pass."""
    model = vposer.load_model(v2_dir)
    z = model.sample_latent(CPU_BLOCK * 2 + 5, seed=1)
    with torch.no_grad():
        blocks = model.decode(z)
    one_pass = model.decode(z)  # the parameters require grad: one differentiable pass
    assert one_pass.matrices.requires_grad and not blocks.matrices.requires_grad
    # the last 5 codes take the few-operator path in blocks: float32 rounding differs slightly
    assert torch.allclose(blocks.matrices, one_pass.matrices.detach(), atol=1e-5)
    assert aa_close(blocks.axis_angle, one_pass.axis_angle.detach()) < 1e-5


@pytest.mark.slow
def test_a_million_samples_in_bounded_memory():
    model = build_model(VPoserConfig("v2"))
    out = model.sample(1_000_000, seed=0, chunk_size=65536)
    assert out.axis_angle.shape == (1_000_000, 21, 3)
    assert torch.isfinite(out.matrices[-1000:]).all()


def test_float64_model():
    model = build_model(VPoserConfig("v1")).double()
    out = model.sample(3, seed=0)
    assert out.matrices.dtype == torch.float64
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(out.matrices.transpose(-1, -2) @ out.matrices, eye, atol=1e-12)


def test_train_mode_forward_has_gradients():
    model = build_model(VPoserConfig("v2")).train()
    poses = torch.randn(16, 63) * 0.3
    result = model(poses)
    loss = result.decoded.matrices.square().mean() + result.posterior.mean.square().mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_interpolation_lerp_and_slerp():
    z1, z2 = torch.randn(32, dtype=torch.float64), torch.randn(32, dtype=torch.float64)
    lerp = interpolate(z1, z2, 5)
    assert lerp.shape == (5, 32)
    assert torch.allclose(lerp[0], z1) and torch.allclose(lerp[-1], z2)
    assert torch.allclose(lerp[2], 0.5 * z1 + 0.5 * z2)
    slerp = interpolate(z1, z2, 5, method="slerp")
    assert torch.allclose(slerp[0], z1) and torch.allclose(slerp[-1], z2)
    norms = slerp.norm(dim=-1)
    assert torch.allclose(norms, torch.linspace(z1.norm().item(), z2.norm().item(), 5, dtype=torch.float64))
    # directions move along the great circle: equal angular steps
    u = slerp / norms[:, None]
    steps = torch.acos((u[1:] * u[:-1]).sum(-1).clamp(-1, 1))
    assert torch.allclose(steps, steps.mean().expand(4), atol=1e-9)
    loop = interpolate(z1, z2, 5, there_and_back=True)
    assert loop.shape == (8, 32) and torch.allclose(loop[5], lerp[3])
    batched = interpolate(torch.stack([z1, z2]), torch.stack([z2, z1]), 4)
    assert batched.shape == (4, 2, 32)
    with pytest.raises(InputError):
        interpolate(z1, z2, 5, method="cubic")


def test_copies_decode_with_their_own_layers(v2_dir):
    """The decoder's layer references follow deepcopy and dtype/device moves."""
    import copy

    model = vposer.load_model(v2_dir)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.decoder_net[5].bias.add_(1.0)
    z = model.sample_latent(4, seed=0)
    assert not torch.allclose(model.decode(z).matrices, twin.decode(z).matrices)
    assert twin.double().decode(z).matrices.dtype == torch.float64


def test_empty_batches_and_opposite_or_integer_codes():
    """Zero poses in, zero poses out; slerp between opposite codes keeps the norm (any great
    circle joins them) and ends exactly at the second; integer codes interpolate as floats."""
    model = vposer.load_model()
    assert model.sample(0).axis_angle.shape == (0, 21, 3)
    assert model.decode(torch.zeros(0, 32)).matrices.shape == (0, 21, 3, 3)
    assert model.decode_batched(torch.zeros(0, 32)).axis_angle.shape == (0, 21, 3)
    assert model.encode(torch.zeros(0, 63)).mean.shape == (0, 32)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    far = torch.stack([-z[0], z[1] * 2])
    path = vposer.interpolate(z, far, 5, method="slerp")
    assert torch.allclose(path[:, 0].norm(dim=-1), z[0].norm().expand(5), rtol=1e-5)
    assert (path[-1] - far).abs().max() < 1e-5 and (path[0] - z).abs().max() < 1e-5
    assert torch.equal(vposer.interpolate(torch.tensor([0, 0]), torch.tensor([1, 1]), 3)[1],
                       torch.tensor([0.5, 0.5]))
