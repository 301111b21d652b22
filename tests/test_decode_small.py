"""A few poses decoded without autograd on the CPU go through numpy (the per-call cost of torch
operators dominates there): the same results as the torch path, near 0 and pi too."""
import math

import numpy as np
import pytest
import torch

import vposer
from vposer.model import VPoserConfig, build_model
from vposer.model.fast_rotations import (
    SMALL_BATCH,
    sixd_to_matrix_and_axis_angle,
    sixd_to_matrix_and_axis_angle_numpy,
)
from vposer.rotations import axis_angle_to_matrix

from conftest import aa_close


def _hard_6d(batch, dtype, seed=0):
    """``(batch, 126)`` 6D inputs (scaled, sheared columns) of rotations at 0, tiny, near and at
    pi, and random; with the exact float64 matrices."""
    rng = np.random.default_rng(seed)
    n = batch * 21
    angles = rng.uniform(0, math.pi, n)
    angles[:8] = [0, 1e-8, 1e-5, 1e-2, math.pi - 1e-2, math.pi - 1e-5, math.pi - 1e-7, math.pi][: min(8, n)]
    axes = rng.standard_normal((n, 3))
    aa = torch.from_numpy(axes / np.linalg.norm(axes, axis=1, keepdims=True) * angles[:, None])
    mats = axis_angle_to_matrix(aa)
    a1 = mats[..., 0] * torch.from_numpy(rng.uniform(0.3, 2.0, (n, 1)))
    a2 = mats[..., 1] + torch.from_numpy(rng.standard_normal((n, 1))) * mats[..., 0]
    return torch.stack((a1, a2), dim=-1).reshape(batch, 126).to(dtype), mats, aa


@pytest.mark.parametrize("batch", [1, 5, SMALL_BATCH])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_conversion_matches_torch_and_float64(batch, dtype):
    d6, mats, aa = _hard_6d(batch, dtype, seed=batch)
    m_np, aa_np = sixd_to_matrix_and_axis_angle_numpy(d6.numpy())
    m_t, aa_t = sixd_to_matrix_and_axis_angle(d6)
    assert m_np.shape == (batch, 21, 3, 3) and aa_np.shape == (batch, 21, 3) and m_np.dtype == d6.numpy().dtype
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    assert np.abs(m_np.reshape(-1, 3, 3) - mats.numpy()).max() < tol
    assert np.abs(m_np - m_t.numpy()).max() < tol
    assert aa_close(torch.from_numpy(aa_np), aa) < (5 * tol if dtype == torch.float32 else 1e-9)
    assert aa_close(torch.from_numpy(aa_np), aa_t) < (5 * tol if dtype == torch.float32 else 1e-9)
    flat = aa_np.reshape(-1, 3)
    assert np.all(flat[0] == 0)  # no rotation: exactly zero
    assert np.linalg.norm(flat[1]) == pytest.approx(1e-8, rel=1e-5)  # tiny angles keep their precision


def test_small_batches_without_grad_equal_the_differentiable_pass(v2_dir):
    model = vposer.load_model(v2_dir)
    z = model.sample_latent(SMALL_BATCH, seed=2)
    tracked = model.decode(z)  # the parameters require grad: torch operators, autograd
    assert tracked.matrices.requires_grad
    for n in (1, 7, SMALL_BATCH):
        with torch.no_grad():
            fast = model.decode(z[:n])
        assert not fast.matrices.requires_grad and fast.matrices.is_contiguous()
        assert fast.matrices.shape == (n, 21, 3, 3) and fast.axis_angle.dtype == torch.float32
        assert torch.allclose(fast.matrices, tracked.matrices[:n].detach(), atol=2e-5)
        assert aa_close(fast.axis_angle, tracked.axis_angle[:n].detach()) < 2e-5
    with torch.inference_mode():
        assert torch.allclose(model.decode(z[:2]).matrices, tracked.matrices[:2].detach(), atol=2e-5)


def test_gradients_still_flow_for_small_batches():
    model = build_model(VPoserConfig("v2"))
    z = torch.zeros(2, 32, requires_grad=True)
    out = model.decode(z)
    (out.axis_angle.sum() + out.matrices.sum()).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_float64_model_small_batch():
    model = build_model(VPoserConfig("v1")).double()
    z = torch.randn(3, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = model.decode(z)
    slow = model.decode(z)
    assert fast.matrices.dtype == torch.float64
    assert torch.allclose(fast.matrices, slow.matrices.detach(), atol=1e-10)
    assert aa_close(fast.axis_angle, slow.axis_angle.detach()) < 1e-9
