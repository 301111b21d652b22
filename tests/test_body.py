"""vposer.body against the ``smplx`` package (test-only oracle) on random models of real layout.

The model files are written here with random values but the real vertex counts, joint counts and
kinematic trees of SMPL (6890, 24), SMPL+H (6890, 52), SMPL-X (10475, 55) and MANO (778, 16).
Vertices and the model's own joints must agree within 1e-5 m.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vposer.body import BodyModel, BodyOutput, load_body
from vposer.body.kinds import KINDS
from vposer.body.synthetic import random_body_arrays, smplx_loader_extras
from vposer.errors import InputError

smplx = pytest.importorskip("smplx")

TOL = 1e-5
N = 3

SMPLX_EXTRAS = smplx_loader_extras()
SMPLH_EXTRAS = {k: SMPLX_EXTRAS[k] for k in ("hands_componentsl", "hands_componentsr",
                                              "hands_meanl", "hands_meanr")}
MANO_EXTRAS = {"hands_components": np.eye(45), "hands_mean": np.zeros(45)}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One random model file per kind, in the format the smplx oracle reads."""
    root = tmp_path_factory.mktemp("bodies")
    out = {}
    smpl = random_body_arrays("smpl", seed=1)
    out["smpl"] = root / "SMPL_NEUTRAL.pkl"  # smplx reads SMPL from pickles only
    with open(out["smpl"], "wb") as fh:
        pickle.dump(smpl, fh, protocol=2)
    out["smpl_npz"] = root / "smpl.npz"
    np.savez(out["smpl_npz"], **smpl)
    np.savez(root / "SMPLH_NEUTRAL.npz", **random_body_arrays("smplh", seed=2), **SMPLH_EXTRAS)
    out["smplh"] = root / "SMPLH_NEUTRAL.npz"
    np.savez(root / "SMPLX_NEUTRAL.npz", **random_body_arrays("smplx", seed=3), **SMPLX_EXTRAS)
    out["smplx"] = root / "SMPLX_NEUTRAL.npz"
    np.savez(root / "MANO_RIGHT.npz", **random_body_arrays("mano", seed=4), **MANO_EXTRAS)
    out["mano"] = root / "MANO_RIGHT.npz"
    return out


@pytest.fixture(scope="module")
def smplx64(files) -> BodyModel:
    return load_body(files["smplx"], dtype=torch.float64)


def oracle(kind: str, path: Path, dtype: torch.dtype):
    common = {"dtype": dtype, "batch_size": N}
    if kind == "smpl":
        return smplx.SMPL(str(path), num_betas=10, **common)
    if kind == "smplh":
        return smplx.SMPLH(str(path), ext="npz", use_pca=False, flat_hand_mean=True, num_betas=10,
                           **common)
    if kind == "smplx":
        return smplx.SMPLX(str(path), ext="npz", use_pca=False, flat_hand_mean=True,
                           num_betas=10, num_expression_coeffs=10, **common)
    return smplx.MANO(str(path), ext="npz", use_pca=False, flat_hand_mean=True, num_betas=10,
                      **common)


def random_params(body: BodyModel, seed: int, dtype: torch.dtype) -> dict:
    g = torch.Generator().manual_seed(seed)

    def rand(width: int, scale: float) -> torch.Tensor:
        return (torch.randn(N, width, generator=g, dtype=torch.float64) * scale).to(dtype)

    params = {"root_orient": rand(3, 1.0), "trans": rand(3, 0.5)}
    for part, scale in (("pose_body", 0.6), ("pose_hand", 0.5), ("pose_jaw", 0.3),
                        ("pose_eye", 0.2)):
        if body.pose_width(part):
            params[part] = rand(body.pose_width(part), scale)
    params["betas"] = rand(body.num_betas, 1.5)
    if body.num_expressions:
        params["expression"] = rand(body.num_expressions, 1.5)
    return params


def oracle_kwargs(kind: str, p: dict) -> dict:
    kw = {"global_orient": p["root_orient"], "transl": p["trans"], "betas": p["betas"]}
    if kind == "mano":
        kw["hand_pose"] = p["pose_hand"]
        return kw
    kw["body_pose"] = p["pose_body"] if kind != "smpl" else torch.cat(
        [p["pose_body"], p["pose_hand"]], 1)
    if kind in ("smplh", "smplx"):
        kw["left_hand_pose"], kw["right_hand_pose"] = p["pose_hand"][:, :45], p["pose_hand"][:, 45:]
    if kind == "smplx":
        kw["jaw_pose"], kw["expression"] = p["pose_jaw"], p["expression"]
        kw["leye_pose"], kw["reye_pose"] = p["pose_eye"][:, :3], p["pose_eye"][:, 3:]
    return kw


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["smpl", "smplh", "smplx", "mano"])
def test_matches_smplx(files, kind, dtype):
    body = load_body(files[kind], dtype=dtype)
    assert body.model_type == kind  # detected from posedirs
    ref = oracle(kind, files[kind], dtype)
    for seed in (0, 1):
        p = random_params(body, seed, dtype)
        with torch.no_grad():
            ours = body(**p)
            theirs = ref(**oracle_kwargs(kind, p))
        assert ours.vertices.dtype == dtype and ours.vertices.shape == theirs.vertices.shape
        assert (ours.vertices - theirs.vertices).abs().max().item() < TOL
        num_j = body.num_joints
        assert (ours.joints - theirs.joints[:, :num_j]).abs().max().item() < TOL
        assert torch.equal(ours.faces, ref.faces_tensor)
        # the skinned mesh moved: the comparison is not between two rest meshes
        assert (ours.vertices[0] - ours.vertices[1]).abs().max() > 0.1


def test_smpl_npz_equals_pickle_and_69_wide_body_pose(files):
    a, b = load_body(files["smpl"]), load_body(files["smpl_npz"])
    p = random_params(a, 5, torch.float32)
    out_a, out_b = a(**p), b(**p)
    assert torch.equal(out_a.vertices, out_b.vertices)
    wide = b(pose_body=torch.cat([p["pose_body"], p["pose_hand"]], 1), root_orient=p["root_orient"],
             betas=p["betas"], trans=p["trans"])
    assert torch.equal(wide.vertices, out_b.vertices)
    assert wide.full_pose.shape == (N, 24, 3)


def test_pose_correctives_can_be_skipped(files, smplx64):
    body = smplx64
    ref = oracle("smplx", files["smplx"], torch.float64)
    p = random_params(body, 2, torch.float64)
    with torch.no_grad():
        theirs = ref(**oracle_kwargs("smplx", p), pose2rot=True)
        plain = body(**p, pose_correctives=False)
        full = body(**p)
    assert (full.vertices - theirs.vertices).abs().max() < TOL
    # without the correctives the difference is exactly the pose blend shape, skinned
    assert (plain.vertices - full.vertices).abs().max() > 1e-3
    no_pd = load_body(files["smplx"], dtype=torch.float64, use_posedirs=False)
    assert torch.allclose(no_pd(**p).vertices, plain.vertices, atol=1e-12)
    assert torch.equal(plain.joints, full.joints)


@pytest.mark.parametrize("moving", [("pose_body",), ("pose_hand",), ("pose_jaw", "pose_eye"),
                                    ("pose_body", "pose_hand"), ()])
@pytest.mark.parametrize("with_betas", [True, False])
def test_joints_at_rest_are_skipped_exactly(smplx64, moving, with_betas):
    # without autograd, the pose blend shapes of joints at exactly zero are skipped; the result
    # must equal the full product (taken here by asking for gradients)
    body = smplx64
    p = random_params(body, 6, torch.float64)
    for part in ("pose_body", "pose_hand", "pose_jaw", "pose_eye"):
        if part not in moving:
            p[part] = torch.zeros_like(p[part])
    if not with_betas:
        del p["betas"], p["expression"]
    with torch.no_grad():
        fast = body(**p)
    tracked = dict(p, pose_body=p["pose_body"].clone().requires_grad_(True))
    full = body(**tracked)
    assert torch.allclose(fast.vertices, full.vertices.detach(), rtol=0, atol=1e-12)
    assert torch.allclose(fast.joints, full.joints.detach(), rtol=0, atol=1e-12)


def test_num_betas_truncation_and_extra_components(files):
    # SMPL+H file with 16 shape components: 16 used when asked, 10 by default
    assert load_body(files["smplh"]).num_betas == 10
    body = load_body(files["smplh"], num_betas=300, dtype=torch.float64)
    assert body.num_betas == 16 and load_body(files["smplh"], num_betas=-1).num_betas == 16
    arrays = np.load(files["smplh"])
    betas = torch.zeros(1, 16, dtype=torch.float64)
    betas[0, 15] = 2.0
    rest = body().vertices[0].numpy()
    moved = body(betas=betas).vertices[0].numpy()
    np.testing.assert_allclose(moved - rest, 2.0 * arrays["shapedirs"][:, :, 15], atol=1e-6)
    # fewer betas than num_betas are zero-padded
    assert torch.equal(body(betas=betas[:, :3]).vertices, body().vertices)
    with pytest.raises(InputError, match="betas has 17 values"):
        body(betas=torch.zeros(1, 17))
    # SMPL-X with 20 components: 10 shape + 10 expression
    sx = load_body(files["smplx"], num_betas=300, num_expressions=300)
    assert (sx.num_betas, sx.num_expressions) == (10, 10)
    assert load_body(files["smpl"]).num_expressions == 0


def test_gradients_flow_to_every_input(files, smplx64):
    body = smplx64
    p = {k: v.clone().requires_grad_(True) for k, v in random_params(body, 3, torch.float64).items()}
    out = body(**p)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for name, value in p.items():
        assert value.grad is not None and value.grad.abs().sum() > 0, name

    # exact derivatives (finite differences) on the small MANO model
    mano = load_body(files["mano"], dtype=torch.float64)
    q = {k: v[:1].detach().requires_grad_(True)
         for k, v in random_params(mano, 4, torch.float64).items()}

    def f(root_orient, pose_hand, betas, trans):
        out = mano(root_orient=root_orient, pose_hand=pose_hand, betas=betas, trans=trans)
        return out.vertices[0, ::37], out.joints

    assert torch.autograd.gradcheck(f, (q["root_orient"], q["pose_hand"], q["betas"], q["trans"]),
                                    eps=1e-6, atol=1e-6)


def test_batched_chunks_match_one_by_one(files):
    body = load_body(files["smpl_npz"])
    g = torch.Generator().manual_seed(7)
    poses = torch.randn(40, 63, generator=g) * 0.5
    betas = torch.randn(40, 10, generator=g)
    with torch.no_grad():
        batch = body(pose_body=poses, betas=betas)
    singles = torch.cat([body(pose_body=poses[i:i + 1], betas=betas[i:i + 1]).vertices
                         for i in (0, 17, 39)])
    assert (batch.vertices[[0, 17, 39]] - singles).abs().max() < 1e-6
    grad_batch = body(pose_body=poses.requires_grad_(True), betas=betas)
    assert torch.allclose(grad_batch.vertices.detach(), batch.vertices, atol=1e-6)


def test_input_forms_and_broadcasting(files):
    body = load_body(files["smpl_npz"])
    poses = torch.randn(4, 21, 3) * 0.4
    a = body(pose_body=poses, betas=torch.ones(10), trans=[0.1, 0.2, 0.3])
    b = body(pose_body=poses.reshape(4, 1, 21, 3).numpy(), betas=torch.ones(4, 10),
             trans=torch.tensor([[0.1, 0.2, 0.3]]).expand(4, 3))
    assert a.vertices.shape == (4, 6890, 3) and torch.allclose(a.vertices, b.vertices, atol=1e-6)
    assert body().vertices.shape == (1, 6890, 3)
    assert isinstance(a, BodyOutput) and a.faces.dtype == torch.long


@pytest.mark.parametrize("call, message", [
    ({"pose_body": torch.zeros(2, 60)}, "pose_body has 60 values per row; expected 63"),
    ({"pose_body": torch.zeros(2, 63), "root_orient": torch.zeros(3, 3)},
     "mismatched batch sizes"),
    ({"pose_body": torch.full((1, 63), float("nan"))}, "pose_body contains NaN"),
    ({"betas": torch.tensor([[float("inf")] * 10])}, "betas contains NaN or Inf"),
    ({"pose_jaw": torch.zeros(1, 3)}, "pose_jaw given, but this body model has no such"),
    ({"expression": torch.zeros(1, 10)}, "expression given"),
    ({"trans": torch.zeros(1, 2)}, "trans has 2 values per row; expected 3"),
    ({"pose_body": torch.zeros(1, 69), "pose_hand": torch.zeros(1, 6)}, "69 values"),
    ({"pose_body": "walk"}, "pose_body is not a numeric array"),
])
def test_bad_input(files, call, message):
    body = load_body(files["smpl_npz"])
    with pytest.raises(InputError, match=message):
        body(**call)


def test_float64_conversion_and_module_to(files):
    body = load_body(files["mano"])
    out32 = body(pose_hand=torch.full((1, 45), 0.3))
    body64 = body.to(torch.float64)
    assert body64.dtype == torch.float64
    out64 = body64(pose_hand=torch.full((1, 45), 0.3))
    assert out64.vertices.dtype == torch.float64
    assert (out64.vertices.float() - out32.vertices).abs().max() < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(files):
    cpu = load_body(files["smplx"])
    gpu = load_body(files["smplx"], device="cuda")
    for n in (4, 12):  # both chain paths
        p = {k: v.repeat(12, 1)[:n] for k, v in random_params(cpu, n, torch.float32).items()}
        a = cpu(**p)
        b = gpu(**{k: v.cuda() for k, v in p.items()})
        assert b.vertices.device.type == "cuda" and b.joints.device.type == "cuda"
        assert (a.vertices - b.vertices.cpu()).abs().max() < 1e-5
        assert (a.joints - b.joints.cpu()).abs().max() < 1e-5
    pose = p["pose_body"].cuda().requires_grad_(True)  # the differentiable path
    gpu(pose_body=pose).vertices.square().sum().backward()
    assert pose.grad is not None and torch.isfinite(pose.grad).all()


def test_open_body_from_synthetic_file(tmp_path):
    rng = np.random.default_rng(0)
    parents = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
    joints = rng.normal(0, 0.3, (22, 3)).astype(np.float32)
    verts = rng.normal(0, 0.3, (50, 3)).astype(np.float32)
    weights = np.zeros((50, 22), np.float32)
    owner = rng.integers(0, 22, 50)
    weights[np.arange(50), owner] = 1.0
    np.savez(tmp_path / "open.npz", v_template=verts, f=rng.integers(0, 50, (30, 3)).astype(np.int32),
             weights=weights, kintree_table=np.stack([parents, np.arange(22)]).astype(np.int64),
             J=joints, joint_names=np.array([f"j{i}" for i in range(22)]))
    body = load_body(tmp_path / "open.npz")
    assert body.model_type == "open" and body.num_betas == 0 and body.joint_names[3] == "j3"
    rest = body()
    np.testing.assert_allclose(rest.vertices[0].numpy(), verts, atol=1e-6)
    np.testing.assert_allclose(rest.joints[0].numpy(), joints, atol=1e-6)
    # rotating the left knee (joint 4) moves only the vertices bound to its subtree (4, 7, 10)
    pose = torch.zeros(1, 21, 3)
    pose[0, 3] = torch.tensor([0.8, 0.1, 0.0])
    moved = (body(pose_body=pose).vertices[0] - rest.vertices[0]).norm(dim=1) > 1e-7
    assert set(np.unique(owner[moved.numpy()])) <= {4, 7, 10} and moved.any()
    with pytest.raises(InputError, match="betas given"):
        body(betas=torch.ones(1, 10))


def test_shipped_open_body():
    from vposer.body.files import open_body_file
    from vposer.errors import BodyModelError

    try:
        with open_body_file():
            pass
    except BodyModelError:
        pytest.skip("src/vposer/assets/open_body.npz is not built yet")
    body = load_body()
    assert body.model_type == "open" and body.num_joints == 22
    assert load_body("open").num_vertices == body.num_vertices
    rest = body()
    height = rest.vertices[0, :, 1].max() - rest.vertices[0, :, 1].min()
    assert 1.5 < height < 2.0
    out = body(pose_body=torch.randn(5, 63) * 0.3, trans=torch.tensor([0.0, 0.0, 1.0]))
    assert out.vertices.shape == (5, body.num_vertices, 3) and out.joints.shape == (5, 22, 3)


def test_dmpl_soft_tissue_components(files, tmp_path):
    eig = np.random.default_rng(0).normal(0, 0.01, (6890, 3, 8)).astype(np.float32)
    np.savez(tmp_path / "dmpl.npz", eigvec=eig)
    body = load_body(files["smpl_npz"], dmpl_path=tmp_path / "dmpl.npz", num_dmpls=8,
                     dtype=torch.float64)
    assert body.num_dmpls == 8
    coeffs = torch.zeros(1, 8, dtype=torch.float64)
    coeffs[0, 5] = 3.0
    moved = body(dmpls=coeffs).vertices[0] - body().vertices[0]
    np.testing.assert_allclose(moved.numpy(), 3.0 * eig[:, :, 5], atol=1e-6)
    with pytest.raises(InputError, match="dmpls given"):
        load_body(files["smpl_npz"])(dmpls=coeffs)


def test_chunked_skinning_values_and_gradients():
    from vposer.body import lbs

    g = torch.Generator().manual_seed(3)
    a = torch.randn(5, 7, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(7, 40, generator=g, dtype=torch.float64)
    v = torch.randn(5, 3, 40, generator=g, dtype=torch.float64, requires_grad=True)
    tr = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    whole = lbs.skin(a, w, v, tr, chunk=5)
    grads = torch.autograd.grad(whole.square().sum(), (a, v, tr))
    chunked = lbs.skin(a, w, v, tr, chunk=2)
    assert chunked.shape == (5, 40, 3) and torch.allclose(chunked, whole)
    for g1, g2 in zip(grads, torch.autograd.grad(chunked.square().sum(), (a, v, tr))):
        assert torch.allclose(g1, g2)
    with torch.no_grad():
        assert torch.allclose(lbs.skin(a, w, v[:1], None, chunk=2), lbs.skin(a, w, v[:1], None))
    # against a direct per-vertex formula
    blended = torch.einsum("jv,njik->nvik", w, a.detach())
    vh = torch.cat([v.detach().transpose(1, 2), torch.ones(5, 40, 1, dtype=torch.float64)], -1)
    direct = torch.einsum("nvik,nvk->nvi", blended, vh) + tr.detach()[:, None]
    assert torch.allclose(whole.detach(), direct)
    # written into parts (mesh vertices, then joints as points): whole or chunked, same values
    for chunk in (5, 2):
        parts = (torch.empty(5, 33, 3, dtype=torch.float64), torch.empty(5, 7, 3, dtype=torch.float64))
        with torch.no_grad():
            assert lbs.skin(a, w, v, tr, chunk=chunk, out=parts) is parts[0]
        assert torch.allclose(torch.cat(parts, 1), direct)
    parts = (torch.empty(5, 33, 3, dtype=torch.float64), torch.empty(5, 7, 3, dtype=torch.float64))
    lbs.skin(a, w, v, tr, out=parts)  # differentiable: copied in, gradients flow
    assert torch.allclose(torch.cat(parts, 1), direct) and parts[1].requires_grad


def test_gradients_of_both_skinning_paths_match_finite_differences():
    """The differentiable skinning path (used in training and fitting) against the inference
    path's values and against finite differences of it."""
    from vposer.body import load_body

    body = load_body(dtype=torch.float64)
    pose = (torch.randn(3, 63, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.3)
    with torch.no_grad():
        reference = body(pose_body=pose).vertices
    x = pose.clone().requires_grad_(True)
    verts = body(pose_body=x).vertices
    assert torch.allclose(verts, reference, atol=1e-10)
    direction = torch.randn_like(pose)
    (verts * torch.ones_like(verts)).sum().backward()
    eps = 1e-6
    with torch.no_grad():
        plus = body(pose_body=pose + eps * direction).vertices.sum()
        minus = body(pose_body=pose - eps * direction).vertices.sum()
    assert torch.allclose((x.grad * direction).sum(), (plus - minus) / (2 * eps), rtol=1e-5)


@pytest.mark.parametrize("parents", [
    KINDS["smplx"].parents,  # 11 levels: 4 pointer-jumping steps
    (-1,) + tuple(range(16)),  # a chain of 17 joints: 5 steps
    (-1, 0, 0, 1, 1, 2, 2),  # a binary tree
])
def test_chain_by_doubling_equals_chain_by_level(parents):
    from vposer.body import lbs
    from vposer.rotations import axis_angle_to_matrix

    levels = lbs.tree_levels(parents)
    index = lbs.chain_index(parents)
    assert (1 << len(index.ancestors)) >= len(levels.sizes) > (1 << (len(index.ancestors) - 1)) \
        or len(levels.sizes) == 1
    g = torch.Generator().manual_seed(5)
    j = len(parents)
    rot = axis_angle_to_matrix(torch.randn(4, j, 3, generator=g, dtype=torch.float64))
    rest = torch.randn(4, j, 3, generator=g, dtype=torch.float64)
    local = lbs.local_transforms(rot, rest)  # joint order
    positions = [p if isinstance(p, slice) else index.parent_pos[p[0]:p[1]]
                 for p in index.parent_slices]
    by_level = lbs.chain_by_level(local[:, list(levels.order)], levels.sizes, positions)
    by_level = by_level[:, list(levels.inverse)]  # back to joint order
    assert torch.allclose(lbs.chain_by_doubling(local, index.ancestors), by_level, atol=1e-12)
    # against the definition: the product of local transforms along the path from the root
    for joint in range(j):
        chain, p = torch.eye(4, dtype=torch.float64).expand(4, 4, 4), joint
        while p >= 0:
            chain = local[:, p] @ chain
            p = parents[p]
        assert torch.allclose(by_level[:, joint], chain, atol=1e-12)
    # both paths of skinning_transforms give these products
    for n in (4, lbs.DOUBLING_MAX_BATCH + 1):
        r, t = rot.repeat(3, 1, 1, 1)[:n], rest.repeat(3, 1, 1)[:n]
        expected = by_level.repeat(3, 1, 1, 1)[:n]
        assert torch.allclose(lbs.skinning_transforms(r, t, index), expected, atol=1e-12)
    # a skinning transform leaves its own joint where the world transform puts it
    world = by_level[..., :3, 3] + (by_level[..., :3, :3] @ rest.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(lbs.posed_joints(by_level, rest), world)


def test_both_chain_paths_match_smplx(files):
    # up to DOUBLING_MAX_BATCH bodies are composed by pointer jumping, more level by level
    from vposer.body.lbs import DOUBLING_MAX_BATCH

    body = load_body(files["smplx"], dtype=torch.float64)
    for n in (DOUBLING_MAX_BATCH, DOUBLING_MAX_BATCH + 1):
        ref = smplx.SMPLX(str(files["smplx"]), ext="npz", use_pca=False, flat_hand_mean=True,
                          num_betas=10, num_expression_coeffs=10, dtype=torch.float64,
                          batch_size=n)
        p = {k: v.repeat(3, 1)[:n] for k, v in random_params(body, 9, torch.float64).items()}
        p["pose_body"] = p["pose_body"] * torch.linspace(0.5, 1.5, n, dtype=torch.float64)[:, None]
        with torch.no_grad():
            ours, theirs = body(**p), ref(**oracle_kwargs("smplx", p))
        assert (ours.vertices - theirs.vertices).abs().max() < 1e-6  # smplx keeps some float32
        assert (ours.joints - theirs.joints[:, :55]).abs().max() < 1e-6


def test_outputs_are_ordinary_tensors(files):
    # without autograd the pass runs in inference mode; what it returns must behave as usual
    body = load_body(files["smplx"])
    with torch.no_grad():
        out = body(pose_body=torch.randn(2, 63) * 0.3, betas=torch.randn(2, 10))
    for t in (out.vertices, out.joints, out.full_pose):
        assert not t.is_inference() and not t.requires_grad
    assert out.vertices.is_contiguous() and out.joints.is_contiguous()
    assert out.vertices.shape == (2, body.num_vertices, 3) and out.joints.shape == (2, 55, 3)
    out.vertices += 1.0  # in place, outside inference mode
    out.joints.mul_(2.0)
    offset = torch.zeros(1, 3, requires_grad=True)
    (out.vertices + offset).sum().backward()  # usable as a constant in a graph
    assert offset.grad is not None


def test_gradients_reach_buffers_made_trainable(files):
    # a user may learn the template: gradients must reach it at small batches too
    body = load_body(files["smpl_npz"])
    body.v_template_t.requires_grad_(True)
    out = body(pose_body=torch.randn(1, 63) * 0.3)
    out.vertices.sum().backward()
    assert body.v_template_t.grad is not None and body.v_template_t.grad.abs().sum() > 0
