"""Rotation conversions against the reference's outputs and exact float64 rotations, near 0 and pi."""
import math

import numpy as np
import pytest
import torch

from vposer import rotations as R
from vposer.model.fast_rotations import (
    SMALL_BATCH, matrix_to_axis_angle_fused, sixd_to_matrix_and_axis_angle,
)

from conftest import aa_close, need_shared


def exact_matrix(aa: np.ndarray) -> np.ndarray:
    """Rodrigues in float64 numpy, independent of the code under test."""
    out = []
    for v in aa.astype(np.float64):
        t = np.linalg.norm(v)
        if t == 0:
            out.append(np.eye(3))
            continue
        k = v / t
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        out.append(np.eye(3) + math.sin(t) * K + (1 - math.cos(t)) * K @ K)
    return np.stack(out)


def hard_axis_angles(n: int = 2000, seed: int = 0) -> torch.Tensor:
    """Random axes with angles at 0, tiny, moderate and within 1e-6..1e-2 of pi."""
    g = np.random.default_rng(seed)
    axes = g.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([
        np.zeros(10), 10.0 ** g.uniform(-8, -3, 190), g.uniform(0, np.pi, n - 400),
        np.pi - 10.0 ** g.uniform(-6, -2, 200),
    ])
    return torch.tensor(axes * angles[:, None])


def test_reference_conversions_agree():
    ref = np.load(need_shared("fixtures", "vposer", "rotations_reference.npz"))
    mats = R.axis_angle_to_matrix(torch.tensor(ref["aa"]))
    assert (mats - torch.tensor(ref["matrot"])).abs().max() < 1e-5
    back = R.matrix_to_axis_angle(torch.tensor(ref["matrot"]))
    assert aa_close(back, ref["aa_from_matrot"]) < 1e-5


@pytest.mark.parametrize("grad", [False, True])  # the quaternion form, and the differentiable form
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-6), (torch.float64, 1e-12)])
def test_axis_angle_to_matrix_is_exact(dtype, tol, grad):
    aa = hard_axis_angles()
    mats = R.axis_angle_to_matrix(aa.to(dtype).clone().requires_grad_(grad)).detach().double().numpy()
    assert np.abs(mats - exact_matrix(aa.numpy())).max() < tol


@pytest.mark.parametrize("convert", [R.matrix_to_axis_angle, matrix_to_axis_angle_fused])
def test_matrix_to_axis_angle_near_zero_and_pi(convert):
    aa = hard_axis_angles()
    mats = torch.tensor(exact_matrix(aa.numpy()))
    back32 = convert(mats.float()).double()
    # compare as rotations (axis sign at exactly pi is ambiguous) and as vectors away from pi
    err = np.abs(exact_matrix(back32.numpy()) - mats.numpy()).max()
    assert err < 2e-6
    assert aa_close(back32, aa) < 2e-5
    back64 = convert(mats)
    assert np.abs(exact_matrix(back64.numpy()) - mats.numpy()).max() < 1e-12


def test_small_angles_keep_relative_precision():
    aa = torch.tensor([[1e-7, 0, 0], [0, 2e-5, 1e-5]], dtype=torch.float32)
    back = R.matrix_to_axis_angle(R.axis_angle_to_matrix(aa))
    assert torch.allclose(back, aa, rtol=1e-3, atol=0)


def test_quaternion_round_trip_and_geodesic():
    aa = hard_axis_angles(500, seed=1)
    q = R.axis_angle_to_quaternion(aa)
    assert torch.allclose(R.quaternion_to_matrix(q), R.axis_angle_to_matrix(aa), atol=1e-12)
    assert aa_close(R.quaternion_to_axis_angle(q), aa) < 1e-10
    eye = torch.eye(3, dtype=aa.dtype).expand(len(aa), 3, 3)
    angle = R.geodesic_distance(R.axis_angle_to_matrix(aa), eye)
    assert torch.allclose(angle, aa.norm(dim=-1), atol=1e-9)


def test_6d_decoder_matches_gram_schmidt_and_fused_path():
    g = torch.Generator().manual_seed(0)
    d6 = torch.randn(64, 21 * 6, generator=g, dtype=torch.float64)
    mats = R.rotation_6d_to_matrix(d6.reshape(64, 21, 6))
    eye = torch.eye(3, dtype=d6.dtype)
    assert torch.allclose(mats.transpose(-1, -2) @ mats, eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(mats), torch.ones(64, 21, dtype=d6.dtype))
    # first column is the normalised first 6D column (elements 0, 2, 4)
    a1 = d6.reshape(64, 21, 3, 2)[..., 0]
    assert torch.allclose(mats[..., 0], a1 / a1.norm(dim=-1, keepdim=True))
    fused_mats, fused_aa = sixd_to_matrix_and_axis_angle(d6)
    assert torch.allclose(fused_mats, mats, atol=1e-12)
    assert aa_close(fused_aa, R.matrix_to_axis_angle(mats)) < 1e-9
    assert R.matrix_to_rotation_6d(mats).shape == (64, 21, 6)


def test_gradients_are_finite_at_zero():
    aa = torch.zeros(4, 3, requires_grad=True)
    R.axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_quaternion_gradients_are_finite_at_zero():
    aa = torch.zeros(2, 3, requires_grad=True)
    R.axis_angle_to_quaternion(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_geodesic_gradient_is_finite_for_equal_rotations():
    r = torch.eye(3).repeat(3, 1, 1).requires_grad_(True)
    R.geodesic_distance(r, torch.eye(3).repeat(3, 1, 1)).sum().backward()
    assert torch.isfinite(r.grad).all()


@pytest.mark.parametrize("batch", [1, SMALL_BATCH, SMALL_BATCH + 1, 100])  # both paths: few operators and planes
def test_fused_decoder_conversion_near_zero_and_pi(batch):
    pool = hard_axis_angles(2100, seed=batch)  # zero, tiny, moderate, near pi, in that order
    aa = pool[torch.linspace(0, len(pool) - 1, batch * 21).long()]
    mats = torch.tensor(exact_matrix(aa.numpy()))
    # a 6D input whose Gram-Schmidt frame is mats: scaled first column, second column sheared
    g = torch.Generator().manual_seed(batch)
    a1 = mats[..., 0] * (0.5 + torch.rand(len(aa), 1, generator=g, dtype=mats.dtype))
    a2 = mats[..., 1] + torch.randn(len(aa), 1, generator=g, dtype=mats.dtype) * mats[..., 0]
    d6 = torch.stack((a1, a2), dim=-1).reshape(batch, 21 * 6).float()
    fused_mats, fused_aa = sixd_to_matrix_and_axis_angle(d6)
    assert np.abs(fused_mats.reshape(-1, 3, 3).double().numpy() - mats.numpy()).max() < 2e-6
    back = fused_aa.reshape(-1, 3).double()
    assert np.abs(exact_matrix(back.numpy()) - mats.numpy()).max() < 2e-6
    assert aa_close(back, aa) < 2e-5


@pytest.mark.parametrize("n", [3, SMALL_BATCH + 8])  # both paths: few operators and structure of arrays
def test_fused_decoder_conversion_gradients(n):
    """Exact gradcheck (every Jacobian entry) of the few-operator path; for the structure-of-arrays
    path, which needs more than SMALL_BATCH poses, gradcheck's fast mode (random projections of
    the Jacobian) and vector-Jacobian products equal, row by row, to those of the exactly checked
    path: the same strength at a fraction of the 2 x 40 x 126 forward passes of an exact check."""
    d6 = torch.randn(n, 21 * 6, dtype=torch.float64, requires_grad=True)
    fast = n > SMALL_BATCH
    assert torch.autograd.gradcheck(lambda x: sixd_to_matrix_and_axis_angle(x), (d6,), atol=1e-6,
                                    fast_mode=fast)
    if fast:
        g = torch.Generator().manual_seed(n)
        cot_m, cot_a = torch.randn(n, 21, 3, 3, generator=g, dtype=d6.dtype), torch.randn(
            n, 21, 3, generator=g, dtype=d6.dtype)
        m, a = sixd_to_matrix_and_axis_angle(d6)
        (grad,) = torch.autograd.grad((m * cot_m).sum() + (a * cot_a).sum(), d6)
        for rows in torch.arange(n).split(3):  # the same rows through the few-operator path
            part = d6.detach()[rows].requires_grad_(True)
            m, a = sixd_to_matrix_and_axis_angle(part)
            (expected,) = torch.autograd.grad((m * cot_m[rows]).sum() + (a * cot_a[rows]).sum(), part)
            assert torch.allclose(grad[rows], expected, rtol=1e-9, atol=1e-10)
    mats, aa = sixd_to_matrix_and_axis_angle(d6)
    ref = R.rotation_6d_to_matrix(d6.reshape(n, 21, 6))
    assert torch.allclose(mats, ref, atol=1e-12)
    assert aa_close(aa, R.matrix_to_axis_angle(ref)) < 1e-9


def test_constants_built_in_inference_mode_serve_autograd_later():
    # cached constant tensors (Rodrigues' table, the decoder's candidate map, ...) are built
    # outside inference mode even when first needed inside it; else a later tracked pass fails
    from vposer.model import fast_rotations
    from vposer.rotations import _quaternion_products_to_matrix

    cached = (fast_rotations._candidate_map, fast_rotations._row_offsets,
              _quaternion_products_to_matrix)
    for f in cached:
        f.cache_clear()
    with torch.inference_mode():
        R.axis_angle_to_matrix(torch.randn(4, 3))
        fast_rotations.sixd_to_matrix_and_axis_angle(torch.randn(2, 6))
    for f in cached:
        assert f.cache_info().currsize > 0
    d6 = torch.randn(2, 6, requires_grad=True)
    mats, aa = fast_rotations.sixd_to_matrix_and_axis_angle(d6)
    (mats.sum() + aa.sum()).backward()
    assert d6.grad is not None and torch.isfinite(d6.grad).all()
    weight, bias = fast_rotations._candidate_map(torch.float32, torch.device("cpu"))
    assert not weight.is_inference() and not _quaternion_products_to_matrix(
        torch.float32, torch.device("cpu")).is_inference()
