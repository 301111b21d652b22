"""Shared test fixtures: paths to ../shared (skipped with a clear reason when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "vposer"

torch.set_num_threads(2)


def need_shared(*parts: str) -> Path:
    """The path under ../shared, or skip the test when the folder is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} is absent (only in the project's workplace)")
    return path


@pytest.fixture
def v1_dir() -> Path:
    return need_shared("fixtures", "vposer", "vposer_v1_snapshot")


@pytest.fixture
def v2_dir() -> Path:
    return need_shared("fixtures", "vposer", "V02_fixture")


@pytest.fixture
def v1_ref():
    import numpy as np

    return dict(np.load(need_shared("fixtures", "vposer", "vposer_v1_reference.npz")))


@pytest.fixture
def v2_ref():
    import numpy as np

    return dict(np.load(need_shared("fixtures", "vposer", "vposer_v2_reference.npz")))


def aa_close(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest per-joint axis-angle difference modulo the sign ambiguity at pi."""
    a = torch.as_tensor(a).reshape(-1, 3).double()
    b = torch.as_tensor(b).reshape(-1, 3).double()
    same = (a - b).abs().amax(-1)
    flipped = (a + b).abs().amax(-1)
    near_pi = b.norm(dim=-1) > torch.pi - 1e-3
    return torch.where(near_pi, torch.minimum(same, flipped), same).max().item()


@pytest.fixture(scope="module")
def gl():
    """The GL description; skips (fails with VPOSER_REQUIRE_GL=1) when no context can be made."""
    from vposer.render import gl_available

    ok, why = gl_available()
    if not ok and os.environ.get("VPOSER_REQUIRE_GL") == "1":  # CI: a missing GL stack is a failure
        pytest.fail(f"VPOSER_REQUIRE_GL=1 but no OpenGL context: {why}")
    if not ok:
        pytest.skip(f"no OpenGL context: {why}")
    return why
