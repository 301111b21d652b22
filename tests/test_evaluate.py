"""Evaluation metrics on small cases with known answers, the GMM baseline, and `vposer evaluate`."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vposer.body import load_body
from vposer.errors import InputError
from vposer.evaluate import (
    EvalSettings,
    Evaluator,
    JointPositions,
    RotationRanges,
    active_units,
    average_pairwise_distance,
    frechet_distance,
    joint_geodesic_deg,
    joint_quaternions,
    kl_per_dim,
    nearest_neighbour_distance,
    precision_recall_coverage,
    vertex_error_euclidean,
    vertex_error_l1,
)
from vposer.model import VPoser, VPoserConfig
from vposer.rotations import axis_angle_to_matrix, matrix_to_rotation_6d


@pytest.fixture(scope="module")
def body():
    return load_body()


def poses(n, seed=0, scale=0.3):
    return torch.randn(n, 63, generator=torch.Generator().manual_seed(seed)) * scale


# -- reconstruction metrics ---------------------------------------------------------------------
def test_vertex_errors_known_offset():
    v = torch.randn(3, 50, 3)
    moved = v + torch.tensor([1.0, 2.0, 2.0])
    assert torch.allclose(vertex_error_euclidean(moved, v), torch.full((3,), 3.0))
    assert torch.allclose(vertex_error_l1(moved, v), torch.full((3,), 5 / 3))
    assert vertex_error_euclidean(v, v).abs().max() == 0


def test_geodesic_and_kl():
    r = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.5], [1.0, 0.0, 0.0]]))
    assert torch.allclose(joint_geodesic_deg(r, torch.eye(3).expand(2, 3, 3)),
                          torch.tensor([math.degrees(0.5), math.degrees(1.0)]), atol=1e-4)
    mean, std = torch.randn(4, 6), torch.rand(4, 6) + 0.2
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mean, std),
                                                 torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(kl_per_dim(mean, std), expected, atol=1e-5)


def test_active_units_counts_variance_above_threshold():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(4000, 3, generator=g) * torch.tensor([1.0, 0.2, 0.01])
    var, active = active_units(means)
    assert active.tolist() == [True, True, False]
    assert var[1].item() == pytest.approx(0.04, rel=0.1)


class IdentityPrior(VPoser):
    """A perfect autoencoder: the latent code is the pose itself (63-D), std 1."""

    def __init__(self):
        super().__init__(VPoserConfig("v2", 8, 63))
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def _encode_flat(self, x):
        return x, torch.ones_like(x)

    def _decode_6d(self, z):
        return matrix_to_rotation_6d(axis_angle_to_matrix(z.reshape(-1, 21, 3)))


def small_settings(**kw):
    base = dict(samples=20, fid_samples=100, prdc_samples=40, k=3, batch=64)
    base.update(kw)
    return EvalSettings(**base)


def test_perfect_autoencoder_has_zero_reconstruction_error(body):
    test = poses(30, seed=1)
    ev = Evaluator(poses(200), test, body, small_settings())
    rec = ev.reconstruction(IdentityPrior())
    assert rec["v2v_euclidean_mm"] < 1e-2 and rec["v2v_l1_mm"] < 1e-2 and rec["mpjpe_mm"] < 1e-2
    assert rec["geodesic_deg"] < 0.05
    # KL(N(x, 1) || N(0, 1)) = x^2 / 2, summed over dims, averaged over poses
    assert rec["kl"] == pytest.approx(0.5 * test.square().sum(1).mean().item(), rel=1e-4)
    assert rec["active_units"] == 63 and len(rec["geodesic_deg_per_joint"]) == 21


# -- APD, FID --------------------------------------------------------------------------------------
def test_apd_known_answers():
    j = torch.randn(1, 22, 3).expand(5, 22, 3)
    assert average_pairwise_distance(j).item() == 0.0
    two = torch.stack([torch.zeros(22, 3), torch.zeros(22, 3) + torch.tensor([3.0, 4.0, 0.0])])
    assert average_pairwise_distance(two).item() == pytest.approx(5.0)
    x = torch.randn(7, 4, 3)
    brute = np.mean([np.linalg.norm(x[i] - x[k], axis=-1).mean()
                     for i in range(7) for k in range(7) if i != k])
    assert average_pairwise_distance(x, chunk=3).item() == pytest.approx(brute, rel=1e-6)
    with pytest.raises(InputError):
        average_pairwise_distance(x[:1])


def test_fid_zero_on_itself_and_grows_with_shift():
    x = torch.randn(2000, 5, generator=torch.Generator().manual_seed(0)).double() @ torch.randn(5, 5).double()
    assert frechet_distance(x, x).item() < 1e-8
    shift = torch.tensor([0.3, 0.0, 0.4, 0.0, 0.0], dtype=torch.float64)
    assert frechet_distance(x + shift, x).item() == pytest.approx(0.25, rel=1e-6)
    values = [frechet_distance(x + s * shift, x).item() for s in (0.5, 1, 2, 4)]
    assert values == sorted(values)


def test_fid_matches_the_sqrtm_formula():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 4, generator=g).double()
    y = (torch.randn(300, 4, generator=g) * torch.tensor([1.0, 2.0, 0.5, 1.0]) + 0.2).double()
    c1, c2 = np.cov(x.numpy(), rowvar=False), np.cov(y.numpy(), rowvar=False)
    covmean = scipy_linalg.sqrtm(c1 @ c2).real
    expected = (np.sum((x.numpy().mean(0) - y.numpy().mean(0)) ** 2)
                + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))
    assert frechet_distance(x, y).item() == pytest.approx(expected, rel=1e-8)


# -- dNN, precision / recall ------------------------------------------------------------------------
def test_dnn_of_training_poses_is_zero_and_known_rotation():
    train = poses(300)
    tq = joint_quaternions(train)
    for mode in ("exact", "approx"):
        assert nearest_neighbour_distance(tq[:10], tq, mode).max().item() < 1e-5
    # one training pose at rest; a sample turning one joint by 0.7 rad: dNN = 0.7 rad
    sample = torch.zeros(1, 63)
    sample[0, 12:15] = torch.tensor([0.0, 0.7, 0.0])
    d = nearest_neighbour_distance(joint_quaternions(sample), joint_quaternions(torch.zeros(1, 63)))
    assert d.item() == pytest.approx(0.7, abs=1e-6)


def test_dnn_approx_never_below_exact():
    train, samples = poses(2000, seed=1), poses(50, seed=2)
    tq, sq = joint_quaternions(train), joint_quaternions(samples)
    exact = nearest_neighbour_distance(sq, tq, "exact")
    approx = nearest_neighbour_distance(sq, tq, "approx", shortlist=64)
    assert (approx >= exact - 1e-9).all()
    assert torch.allclose(approx, exact)  # the shortlist holds the true nearest pose
    tiny = nearest_neighbour_distance(sq, tq, "approx", shortlist=1)
    assert (tiny >= exact - 1e-9).all()
    with pytest.raises(InputError):
        nearest_neighbour_distance(sq, tq, "fast")


def test_precision_recall_identical_and_disjoint_sets():
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    same = precision_recall_coverage(x, x, k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    assert same["density"] == pytest.approx(6 / 5)  # each ball holds its centre and k others
    far = precision_recall_coverage(x, x + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


# -- features, plausibility -----------------------------------------------------------------------
def test_joint_positions_match_the_body_model(body):
    p = poses(16, seed=4, scale=0.5)
    expected = body(pose_body=p).joints[:, :22]
    assert torch.allclose(JointPositions(body)(p, chunk=5), expected, atol=1e-5)


def test_rotation_ranges():
    train = poses(1000)
    ranges = RotationRanges.fit(train, percentile=0.5, margin=0.0)
    outside = ranges.outside(train)  # about 1 % per component, so at most ~3 % per joint
    assert 0.005 < outside.double().mean().item() < 0.04
    wide = RotationRanges.fit(train, percentile=0.0, margin=0.01)
    assert not wide.outside(train).any()
    bad = torch.zeros(1, 63)
    bad[0, 30] = 3.0  # one joint bent far beyond anything in training
    assert wide.outside(bad)[0].tolist() == [j == 10 for j in range(21)]
    summary = wide.summary(torch.cat([train[:3], bad]))
    assert summary["share"] == 0.25 and len(summary["per_joint"]) == 21


# -- the GMM baseline -----------------------------------------------------------------------------
def test_gmm_baseline_fits_samples_and_scores(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.mixture import GaussianMixture

    from vposer.evaluate import GMMPrior

    train = torch.cat([poses(150, seed=0, scale=0.1) + 0.5, poses(150, seed=1, scale=0.1) - 0.5])
    gmm = GMMPrior.fit(train, n_components=2, seed=0)
    assert gmm.weights.shape == (2,) and gmm.means.shape == (2, 63)
    assert gmm.covariances.shape == (2, 63, 63) and gmm.info["converged"]
    s = gmm.sample(400, seed=1)
    assert s.shape == (400, 63) and s.dtype == torch.float32
    assert torch.equal(s, gmm.sample(400, seed=1))
    # both modes are sampled in proportion
    assert 0.35 < (s.mean(1) > 0).float().mean().item() < 0.65
    ref = GaussianMixture(2, covariance_type="full", random_state=0).fit(train.double().numpy())
    assert np.allclose(gmm.log_prob(train[:20]).numpy(), ref.score_samples(train[:20].double().numpy()),
                       rtol=1e-6, atol=1e-6)
    back = GMMPrior.load(gmm.save(tmp_path / "gmm.npz"))
    assert torch.equal(back.means, gmm.means) and back.info == gmm.info


# -- the protocol and the command -----------------------------------------------------------------
def write_prepared(root: Path, seed: int = 0) -> Path:
    g = np.random.default_rng(seed)
    base = g.normal(0, 0.3, (6, 63))
    for split, n in (("train", 240), ("test", 60)):
        d = root / split
        d.mkdir(parents=True)
        p = base[g.integers(0, 6, n)] + g.normal(0, 0.05, (n, 63))
        np.save(d / "pose_body.npy", p.astype(np.float32))
        np.save(d / "root_orient.npy", np.zeros((n, 3), np.float32))
        np.save(d / "provenance.npy", np.stack([np.zeros(n), np.arange(n)], 1).astype(np.int32))
        (d / "files.json").write_text(json.dumps([{"path": f"synthetic/{split}"}]))
    return root


def test_generation_of_training_poses_scores_like_data(body):
    train, test = poses(300, seed=5), poses(200, seed=6)
    ev = Evaluator(train, test, body, small_settings(fid_samples=200, prdc_samples=200))
    own = ev.generation(test)
    assert own["fid_aa"] < 1e-8 and own["fid_joints"] < 1e-8
    assert own["precision"] == 1.0 and own["recall"] == 1.0
    wide = ev.generation(poses(200, seed=7, scale=0.9))
    assert wide["fid_aa"] > ev.generation(poses(200, seed=7))["fid_aa"] > own["fid_aa"]
    assert wide["apd_cm"] > own["apd_cm"] > 0 and wide["out_of_range_share"] > own["out_of_range_share"]
    memorised = ev.generation(train)
    assert memorised["dnn_sum_rad"] < 1e-5 and memorised["dnn_joint_rad"] < 1e-6
    with pytest.raises(InputError):
        ev.generation(test[:5])


def test_cli_end_to_end(tmp_path, v2_dir, capsys):
    from vposer.cli import main

    data = write_prepared(tmp_path / "data")
    np.savez(tmp_path / "mine.npz", pose_body=poses(50, seed=9).numpy())
    baseline = ["--baseline", "gmm"] if _has_sklearn() else []
    out = tmp_path / "out"
    code = main(["evaluate", "-m", str(v2_dir), "--poses", str(tmp_path / "mine.npz"),
                 "--data", str(data), "--samples", "20", "--fid-samples", "50",
                 "--prdc-samples", "30", "-o", str(out)] + baseline)
    assert code == 0
    printed = capsys.readouterr().out
    assert "APD (cm)" in printed and "FID, 63-D axis-angle" in printed and "V02_fixture" in printed
    result = json.loads((out / "metrics.json").read_text())
    methods = result["methods"]
    assert set(methods) >= {"V02_fixture", "mine.npz", "data (ref)"}
    rec = methods["V02_fixture"]["reconstruction"]
    assert rec["n"] == 60 and len(rec["kl_per_dim"]) == 32 and rec["v2v_euclidean_mm"] > 0
    gen = methods["mine.npz"]["generation"]
    assert gen["n_generated"] == 50 and gen["dnn_joint_rad"] == pytest.approx(gen["dnn_sum_rad"] / 21)
    if baseline:
        assert methods["gmm8"]["generation"]["n_generated"] == 50
        assert (out / "gmm_baseline.npz").exists()
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # the evaluate extra is absent: metrics without plots
        assert not list(out.glob("*.png"))
    else:
        for png in ("per_joint_errors.png", "latent_stats_V02_fixture.png"):
            assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "published" in result and "apd_cm" in result["definitions"]


def test_cli_refuses_bad_input(tmp_path, capsys):
    from vposer.cli import main

    data = write_prepared(tmp_path / "data")
    assert main(["evaluate", "--poses", str(tmp_path / "none.npz"), "--data", str(data)]) == 1
    assert "none.npz" in capsys.readouterr().err
    assert main(["evaluate", "--poses", "x.npz", "--data", str(data), "--samples", "1"]) == 1
    np.savez(tmp_path / "few.npz", pose_body=poses(5).numpy())
    assert main(["evaluate", "--poses", str(tmp_path / "few.npz"), "--data", str(data),
                 "--split", "vald", "-o", str(tmp_path / "o")]) == 1
    assert "no split 'vald'" in capsys.readouterr().err


def _has_sklearn() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def test_benchmark_runner_collects_failures(tmp_path):
    """benchmarks/run: discovers bench_*.py, passes --json where supported, reports failures."""
    import shutil
    import subprocess
    import sys

    runner = Path(__file__).resolve().parents[1] / "benchmarks" / "run"
    shutil.copy(runner, tmp_path / "run")
    (tmp_path / "bench_good.py").write_text(
        "import argparse, json\np = argparse.ArgumentParser()\np.add_argument('--json')\n"
        "p.add_argument('--quick', action='store_true')\na = p.parse_args()\n"
        "print('| x | y |\\n|---|---|\\n| quick | %s |' % a.quick)\n"
        "json.dump({'rows': [1, 2]}, open(a.json, 'w'))\n")
    (tmp_path / "bench_bad.py").write_text("import sys\nprint('partial')\nsys.exit('it broke')\n")
    (tmp_path / "bench_slow.py").write_text(
        "import sys, time\nif '--help' in sys.argv: sys.exit(0)\ntime.sleep(30)\n")
    (tmp_path / "helper.py").write_text("raise SystemExit(3)\n")  # not a bench_*.py: not run
    proc = subprocess.run([sys.executable, str(tmp_path / "run"), "--quick", "--timeout", "2",
                           "--no-gpu"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "results" / "report.json").read_text())
    status = {r["script"]: r for r in report["benchmarks"]}
    assert set(status) == {"bench_bad.py", "bench_good.py", "bench_slow.py"}
    assert status["bench_good.py"]["status"] == "ok"
    assert status["bench_good.py"]["json"] == {"rows": [1, 2]}
    assert "--quick" in status["bench_good.py"]["command"]
    assert status["bench_bad.py"]["status"] == "failed (exit 1)"
    assert "it broke" in status["bench_bad.py"]["stderr_tail"]
    assert status["bench_slow.py"]["status"].startswith("timed out")
    md = (tmp_path / "results" / "report.md").read_text()
    assert "## Machine" in md and "| cpu |" in md and "| quick | True |" in md and "partial" in md
    assert report["machine"]["torch"]
