"""Left-right mirroring of body poses: an involution, and the mirror image on the open body."""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from vposer.body import load_body
from vposer.data.mirror import BODY_TWINS, mirror_pose_body, mirror_root_orient
from vposer.data.skeleton import SMPL_JOINTS

M = np.diag([-1.0, 1.0, 1.0])


def test_mirroring_twice_is_the_identity_and_reflects_each_rotation():
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=1.2, size=(50, 63))
    once = mirror_pose_body(poses)
    np.testing.assert_array_equal(mirror_pose_body(once), poses)  # exactly
    assert once.shape == poses.shape and not np.shares_memory(once, poses)
    # each joint holds its twin's rotation, reflected (M R M), checked with scipy
    mats = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(50, 21, 3, 3)
    got = Rotation.from_rotvec(once.reshape(-1, 3)).as_matrix().reshape(50, 21, 3, 3)
    np.testing.assert_allclose(got, M @ mats[:, list(BODY_TWINS)] @ M, atol=1e-12)
    names = SMPL_JOINTS[1:]
    assert names[BODY_TWINS[names.index("L_Elbow")]] == "R_Elbow"
    assert BODY_TWINS[names.index("Spine3")] == names.index("Spine3")
    # torch tensors and (N, 21, 3) work alike
    t = torch.from_numpy(poses).reshape(50, 21, 3)
    np.testing.assert_array_equal(mirror_pose_body(t).reshape(50, 63).numpy(), once)


def test_mirrored_pose_is_the_mirror_image_on_the_open_body():
    body = load_body()
    g = torch.Generator().manual_seed(1)
    pose = torch.randn(16, 63, generator=g) * 0.6
    root = torch.randn(16, 3, generator=g) * 0.6
    out = body(pose_body=pose, root_orient=root)
    mirrored = body(pose_body=mirror_pose_body(pose), root_orient=mirror_root_orient(root))
    twins = [0] + [1 + t for t in BODY_TWINS]
    expected = out.joints[:, twins] * torch.tensor([-1.0, 1.0, 1.0])
    assert (mirrored.joints - expected).abs().max() < 1e-5
    # not trivially so: the pose is far from its own mirror image
    assert (mirrored.joints - out.joints).abs().max() > 0.1
