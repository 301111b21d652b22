"""Seed corpora: small valid files of every format, made here or sliced from ../shared.

Every target gets files made by code (so a clone without ``../shared`` fuzzes too): tiny VPoser
weights saved as torch, Lightning and native files, tiny SMPL-family and open bodies, pose, code
and AMASS files, the ASF/AMC and DeepMimic files of the tests, a BVH. Where the project's
``../shared`` folder is present, the fixtures and the first 30 frames of real takes join them.
Files of targets that read a folder are packed with :func:`pack` (see :mod:`fuzz.targets`).
"""
from __future__ import annotations

import gzip
import io
import json
import pickle
import sys
import tempfile
import types
from collections import OrderedDict
from pathlib import Path
from collections.abc import Callable

import numpy as np
from tests.chumpy_pickles import FakeCh, FakeSelect, py2_pickle, smpl_like_pickle
from tests.mocap_samples import ASF, DEEPMIMIC_CHARACTER  # the tests' skeleton with every quirk (REPO is on sys.path)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "vposer"
MOCAP = SHARED / "data" / "mocap"
CMU = SHARED / "data" / "cmu"

#: The separator between the files of a folder target's input (see :func:`pack`).
SEPARATOR = b"\n%%vposer-fuzz-file%%\n"
#: Sizes of the tiny models every checkpoint seed holds (the snapshots beside fuzzed settings).
NEURONS, LATENT = 16, 4

Seeds = dict[str, bytes]


def pack(*parts: bytes) -> bytes:
    """One input holding several files, in the target's file order."""
    return SEPARATOR.join(parts)


# ------------------------------------------------------------------------------------ models
def tiny_model(architecture: str, seed: int = 0):
    import torch

    from vposer.model import VPoserConfig, build_model

    torch.manual_seed(seed)
    model = build_model(VPoserConfig(architecture, NEURONS, LATENT)).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, as a trained model has
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    return model


def with_prior(model, components: int = 2, seed: int = 0):
    """``model`` carrying a learned latent prior (a random Gaussian mixture over its codes)."""
    import torch

    from vposer.model import LatentMixture

    g = torch.Generator().manual_seed(seed)
    d = model.latent_dim
    a = torch.randn(components, d, d, generator=g) * 0.3
    weights = torch.rand(components, generator=g) + 0.5
    model.latent_prior = LatentMixture(weights / weights.sum(), torch.randn(components, d, generator=g),
                                       torch.linalg.cholesky(a @ a.transpose(1, 2) + 0.1 * torch.eye(d)))
    return model


def torch_bytes(obj, legacy: bool = False) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


class _FakeCallback:
    """Pickled by name as Lightning's ``ModelCheckpoint`` (a dict key of a 2020 checkpoint)."""


def lightning_checkpoint(model, epoch: int = 3) -> bytes:
    """A Lightning checkpoint as a 2020 Lightning wrote V02_05's: ``vp_model.`` state dict,
    ``bm_train.*`` buffers, callbacks keyed by the ModelCheckpoint class, optimiser states."""
    import torch

    module = "pytorch_lightning.callbacks.model_checkpoint"
    fake = types.ModuleType(module)
    _FakeCallback.__module__, _FakeCallback.__qualname__ = module, "ModelCheckpoint"
    fake.ModelCheckpoint = _FakeCallback
    saved = sys.modules.get(module)
    sys.modules[module] = fake
    try:
        sd = OrderedDict(("vp_model." + k, v) for k, v in model.state_dict().items())
        sd["bm_train.v_template"] = torch.zeros(5, 3)
        return torch_bytes({
            "epoch": epoch, "global_step": 10 * epoch, "pytorch-lightning_version": "1.0.8",
            "state_dict": sd,
            "callbacks": {_FakeCallback: {"best_model_score": torch.tensor(0.03),
                                          "best_model_path": "snapshots/x.ckpt"}},
            "optimizer_states": [{"state": {0: {"step": 3, "exp_avg": torch.zeros(4)}},
                                  "param_groups": [{"lr": 1e-3, "params": [0]}]}],
            "lr_schedulers": [{"best": 0.1, "num_bad_epochs": 0}],
            "hparams_name": "kwargs", "hyper_parameters": {"latentD": LATENT},
        })
    finally:
        if saved is None:
            sys.modules.pop(module, None)
        else:
            sys.modules[module] = saved


def _fixture(*parts: str) -> bytes | None:
    path = FIXTURES.joinpath(*parts)
    return path.read_bytes() if path.is_file() else None


def seeds_pt_zip() -> Seeds:
    out = {}
    for arch in ("v1", "v2"):
        sd = tiny_model(arch).state_dict()
        out[f"{arch}.pt"] = torch_bytes(sd)
        out[f"{arch}_trainer_prefix.pt"] = torch_bytes(
            OrderedDict(("vposer." + k, v) for k, v in sd.items()))
    fixture = _fixture("vposer_v1_snapshot", "snapshots", "TR00_E009.pt")
    if fixture:
        out["fixture_TR00_E009.pt"] = fixture
    return out


def seeds_pt_legacy() -> Seeds:
    out = {f"{arch}_legacy.pt": torch_bytes(tiny_model(arch).state_dict(), legacy=True)
           for arch in ("v1", "v2")}
    fixture = _fixture("vposer_v1_snapshot", "snapshots", "TR00_E096.pt")
    if fixture:
        out["fixture_TR00_E096.pt"] = fixture
    return out


def seeds_ckpt() -> Seeds:
    out = {"v2_epoch=03.ckpt": lightning_checkpoint(tiny_model("v2")),
           "v1_epoch=01.ckpt": lightning_checkpoint(tiny_model("v1"), 1)}
    fixture = _fixture("V02_fixture", "snapshots", "V02_fixture_epoch=13_val_loss=0.03.ckpt")
    if fixture:
        out["fixture_epoch=13.ckpt"] = fixture
    return out


def _native_files(model) -> tuple[bytes, bytes]:
    from vposer.checkpoints import save_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = save_model(model, Path(tmp) / "native")
        return (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()


def seeds_safetensors() -> Seeds:
    from vposer.checkpoints import save_model

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("v1", "v2"):
            out[f"{arch}.safetensors"] = save_model(
                tiny_model(arch), Path(tmp) / f"{arch}.safetensors").read_bytes()
        out["v2_prior.safetensors"] = save_model(
            with_prior(tiny_model("v2")), Path(tmp) / "v2_prior.safetensors").read_bytes()
    return out


def seeds_native_dir() -> Seeds:
    from safetensors.torch import save as save_tensors

    out = {}
    for arch in ("v1", "v2"):
        model = tiny_model(arch)
        config, weights = _native_files(model)
        out[f"{arch}_native"] = pack(config, weights)
        bare = save_tensors({k: v.contiguous() for k, v in model.state_dict().items()})
        out[f"{arch}_native_config_only"] = pack(config, bare)  # config.json stands in
    out["v2_prior_native"] = pack(*_native_files(with_prior(tiny_model("v2"))))
    return out


# ------------------------------------------------------------------------------------ configs
V1_INI = """[All]
adam_beta1 : 0.9
base_lr : 0.005
batch_size : 512
best_model_fname : None
cuda_id : 0
data_shape : [1, 21, 3]
dataset_dir : None
expr_code : 004_00_WO_accad
ip_avoid : False
kl_coef : 0.005
latentD : {latent}
log_every_epoch : 2
model_type : smpl
n_workers : 10
num_epochs : 100
num_neurons : {neurons}
reg_coef : 0.0001
remove_Zrot : True
seed : 4815
use_cont_repr : True
verbosity : 0
work_dir : None
"""

V2_YAML = """---
body_model:
  gender: neutral
  bm_path: ../../../../support_data/dowloads/models/neutral/model.npz
general:
  verbosity: 0
  expr_id: V02_05
  dataset_id: V02_03
  rnd_seed: 100
  work_basedir: ../../../../support_data/training_experiments
  dataset_basedir: ../../../../support_data/training_experiments
logging:
  expr_msg:
  num_bodies_to_display: 25
  work_dir:
  dataset_dir:
  render_during_training: false
  best_model_fname:
train_parms:
  batch_size: 128
  num_epochs: 100
  restore_optimizer: false
  gen_optimizer:
    type: Adam
    args:
      lr: 0.001
      weight_decay: 0.00001
  lr_scheduler:
    type: ReduceLROnPlateau
    args:
      verbose: true
      patience: 5
  early_stopping:
    monitor: val_loss
    min_delta: 0.0
    patience: 10
    verbose: true
    mode: min
  keep_extra_loss_terms_until_epoch: 15
  loss_weights:
    loss_kl_wt: 0.005
    loss_rec_wt: 4
    loss_matrot_wt: 2
    loss_jtr_wt: 2
data_parms:
  num_workers: 5
  amass_dir: support_data/dowloads/amass/smplx_neutral
  num_timeseq_frames: 1
  amass_splits:
    vald: [HumanEva, MPI_HDM05, SFU, MPI_mosh]
    train: [CMU, Transitions_mocap, MPI_Limits, TotalCapture, Eyes_Japan_Dataset, KIT]
    test: [BMLrub_test]
model_params:
  num_neurons: {neurons}
  latentD: {latent}
"""


def seeds_config_ini() -> Seeds:
    out = {"v1.ini": V1_INI.format(neurons=NEURONS, latent=LATENT).encode(),
           "v1_no_sizes.ini": b"[All]\nbatch_size : 512\nuse_cont_repr : True\n"}
    fixture = _fixture("vposer_v1_snapshot", "TR00_004_00_WO_accad.ini")
    if fixture:
        out["fixture.ini"] = fixture.replace(b"512", str(NEURONS).encode()).replace(
            b": 32", f": {LATENT}".encode())
    return out


def seeds_config_yaml() -> Seeds:
    out = {"v2.yaml": V2_YAML.format(neurons=NEURONS, latent=LATENT).encode(),
           "v2_short.yaml": f"model_params:\n  num_neurons: {NEURONS}\n  latentD: {LATENT}\n"
                            .encode()}
    fixture = _fixture("V02_fixture", "V02_fixture.yaml")
    if fixture:
        out["fixture.yaml"] = fixture.replace(b"latentD: 32", f"latentD: {LATENT}".encode()) \
            .replace(b"num_neurons: 512", f"num_neurons: {NEURONS}".encode())
    return out


def seeds_train_config() -> Seeds:
    presets = REPO / "src" / "vposer" / "train" / "presets"
    out = {p.name: p.read_bytes() for p in sorted(presets.glob("*.yaml"))}
    for name in ("default_weights.yaml", "v1_recipe_cmu.yaml"):
        path = REPO / "tools" / name
        if path.is_file():
            out[name] = path.read_bytes()
    fixture = _fixture("V02_fixture", "V02_fixture.yaml")
    if fixture:
        out["V02_fixture.yaml"] = fixture
    out["small.yaml"] = (b"recipe: v1\ndata:\n  prepared_dir: prepared\n  mirror: true\n"
                         b"train_parms:\n  batch_size: 64\n  num_epochs: 2\n"
                         b"trainer:\n  accelerator: cpu\n  devices: 1\n")
    return out


IMPORT_RECIPE = """\
target_fps: 30
dedup_threshold: 0.05
sources:
  - path: ../data/cmu
    val_takes: 1
  - path: ../data/mocap/cmu_bvh_dance
    name: dance
    fps: {salsa: 60}
    test_takes: 0.15
    val_takes: 0.1
    groups: [[salsa/01, salsa/16]]
    take_id: stem
    asf: skeleton.asf
    character: humanoid.json
    split: train
"""


def seeds_import_recipe() -> Seeds:
    out = {"recipe.yaml": IMPORT_RECIPE.encode(),
           "mapping.yaml": b"sources:\n  - path: data\n    mapping: mapping.json\n"}
    path = REPO / "tools" / "open_prior_data.yaml"
    if path.is_file():
        out["open_prior_data.yaml"] = path.read_bytes()
    return out


def mapping_json() -> bytes:
    from vposer.data.skeleton import SMPL_JOINTS

    return json.dumps({name: f"src_{k}" for k, name in enumerate(SMPL_JOINTS)}, indent=1).encode()


def seeds_split_recipe() -> Seeds:
    return {
        "splits.yaml": b"splits:\n  train: [CMU, BMLrub_train, \"*\"]\n  vald: [BMLrub_vald]\n"
                       b"  test: [BMLrub_test]\nsubject_split: {vald: 0.1, test: 0.1}\n",
        "single.yaml": b"splits:\n  train: CMU\n  test: [HumanEva_test]\n",
    }


def seeds_mapping() -> Seeds:
    table = json.loads(mapping_json())
    return {"mapping.json": mapping_json(),
            "partial.json": json.dumps(dict(list(table.items())[:5])).encode()}


# ------------------------------------------------------------------------------------ bodies
def tiny_body(kind: str, vertices: int = 12, seed: int = 0, dtype=np.float32) -> dict:
    """A body-model file's arrays with the real kinematic tree of ``kind`` but few vertices."""
    from vposer.body.kinds import KINDS

    k = KINDS[kind]
    rng = np.random.default_rng(seed)
    nj = k.num_joints
    parents = np.asarray(k.parents, dtype=np.int64)
    weights = rng.dirichlet(np.ones(nj), vertices)
    out = {
        "v_template": rng.normal(0, 0.3, (vertices, 3)).astype(dtype),
        "f": rng.integers(0, vertices, (2 * vertices, 3)).astype(np.uint32),
        "weights": weights.astype(dtype),
        "kintree_table": np.stack([np.where(parents < 0, 2**32 - 1, parents),
                                   np.arange(nj)]).astype(np.uint32),
    }
    if kind == "open":
        out["J"] = rng.normal(0, 0.3, (nj, 3)).astype(dtype)
    else:
        out["J_regressor"] = rng.dirichlet(np.ones(vertices), nj).astype(dtype)
        out["shapedirs"] = rng.normal(0, 0.01, (vertices, 3, 4)).astype(dtype)
        out["posedirs"] = rng.normal(0, 0.01, (vertices, 3, 9 * (nj - 1))).astype(dtype)
    return out


def npz_bytes(arrays: dict, compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def seeds_body_npz() -> Seeds:
    from vposer.body import open_body_path

    out = {"open_body.npz": Path(open_body_path()).read_bytes()}
    for kind in ("smpl", "mano", "open"):
        out[f"tiny_{kind}.npz"] = npz_bytes(tiny_body(kind))
    out["tiny_smplh_compressed.npz"] = npz_bytes(tiny_body("smplh", 6), compressed=True)
    out["tiny_smplx_float64.npz"] = npz_bytes(
        {**tiny_body("smplx", 4, dtype=np.float64),
         "joint_names": np.array([f"j{k}" for k in range(55)])})
    return out


def seeds_body_pkl() -> Seeds:
    out = {}
    for kind in ("smpl", "mano"):
        a = tiny_body(kind, 8)
        smpl_1x = smpl_like_pickle(a, regressor_format="csc" if kind == "smpl" else "csr")
        smpl_1x["extra"] = FakeSelect(FakeCh(np.zeros(3)))  # a chumpy expression, unused
        out[f"tiny_{kind}_py2.pkl"] = py2_pickle(smpl_1x)
    out["tiny_smplh_py3.pkl"] = pickle.dumps(tiny_body("smplh", 4), protocol=4)
    return out


# ------------------------------------------------------------------------------------ poses
def seeds_poses() -> Seeds:
    rng = np.random.default_rng(1)
    body = rng.normal(0, 0.3, (5, 63)).astype(np.float32)
    meta = np.array(json.dumps({"vposer_version": "0.1.0", "command": "sample", "seed": 0}))
    return {
        "sample.npz": npz_bytes({"pose_body": body, "root_orient": np.zeros((5, 3), np.float32),
                                 "meta": meta}),
        "compat.npz": npz_bytes({"pose": body.reshape(5, 1, 21, 3)}),
        "amass_like.npz": npz_bytes({"poses": rng.normal(0, 0.3, (4, 156)),
                                     "mocap_framerate": np.array(120.0)}),
        "smpl_body.npz": npz_bytes({"pose_body": rng.normal(0, 0.3, (3, 69))}, compressed=True),
        "poses.npy": _npy(body.reshape(5, 21, 3)),
    }


def seeds_latents() -> Seeds:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 32)).astype(np.float32)
    return {"codes.npz": npz_bytes({"z": z, "z_std": np.abs(z), "meta": np.array("{}")}),
            "one.npz": npz_bytes({"z": z[0]}, compressed=True)}


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def seeds_amass_take() -> Seeds:
    rng = np.random.default_rng(3)
    out = {
        "smplh_poses.npz": npz_bytes({
            "poses": rng.normal(0, 0.3, (6, 156)), "trans": rng.normal(size=(6, 3)),
            "betas": np.zeros(16), "gender": np.array("neutral"),
            "mocap_framerate": np.array(120.0), "dmpls": np.zeros((6, 8))}),
        "smplx_stageii.npz": npz_bytes({
            "poses": rng.normal(0, 0.3, (5, 165)).astype(np.float32),
            "mocap_frame_rate": np.array(60.0), "surface_model_type": np.array("smplx")},
            compressed=True),
        "smpl_poses.npz": npz_bytes({"poses": rng.normal(0, 0.3, (3, 72)),
                                     "mocap_framerate": np.array([30.0])}),
    }
    return out


# ------------------------------------------------------------------------------------ mocap
def _cmu_synthetic() -> tuple[bytes, bytes]:
    rng = np.random.default_rng(4)
    joints = ["root"] + [f"j{k}" for k in range(1, 38)]
    parents = [-1] + [max(0, k - 1 - (k % 3 == 0)) for k in range(1, 38)]
    spec = {"joints": joints, "parents": parents,
            "offsets": rng.normal(0, 5, (38, 3)).round(4).tolist(),
            "frame_rate_hz": "captured at 120 Hz"}
    takes = {f"{split}/walking/walking_{k}": rng.normal(0, 0.2, (4, 117)).astype(np.float32)
             for k, split in ((1, "test"), (2, "train"))}
    return json.dumps(spec).encode(), npz_bytes(takes)


def seeds_cmu() -> Seeds:
    out = {"synthetic": pack(*_cmu_synthetic())}
    if (CMU / "skeleton.json").is_file() and (CMU / "cmu_expmap.npz").is_file():
        with np.load(CMU / "cmu_expmap.npz") as data:
            keys = data.files[:2]
            takes = {k: data[k][:30] for k in keys}
        out["shared_slice"] = pack((CMU / "skeleton.json").read_bytes(), npz_bytes(takes))
    return out


BVH = """\
HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.9 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT LeftUpLeg
  {
    OFFSET 0.1 -0.05 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftLeg
    {
      OFFSET 0.0 -0.4 0.0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0.0 -0.4 0.0
      }
    }
  }
  JOINT Spine
  {
    OFFSET 0.0 0.1 0.0
    CHANNELS 1 Yrotation
    End Site
    {
      OFFSET 0.0 0.5 0.0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0083333
0.0 0.9 0.0 1.0 2.0 3.0 10.0 -20.0 5.0 30.0 1.5 -2.5 45.0
0.1 0.9 0.0 1.5 2.5 3.5 11.0 -21.0 5.5 31.0 1.6 -2.4 44.0
0.2 0.9 0.1 2.0 3.0 4.0 12.0 -22.0 6.0 32.0 1.7 -2.3 43.0
"""


def _first_frames(text: str, frames: int = 30) -> str:
    """A BVH's hierarchy and its first ``frames`` frames."""
    lines = text.split("\n")
    k = next(i for i, line in enumerate(lines) if line.strip().upper() == "MOTION")
    body = [line for line in lines[k + 3:] if line.strip()][:frames]
    return "\n".join(lines[:k + 1] + [f"Frames: {len(body)}", lines[k + 2]] + body) + "\n"


def seeds_bvh() -> Seeds:
    out = {"small.bvh": BVH.encode(), "small_crlf.bvh": BVH.replace("\n", "\r\n").encode(),
           "small.bvh.gz": gzip.compress(BVH.encode(), mtime=0)}
    files = sorted((MOCAP / "cmu_bvh_dance").glob("*/*.bvh*")) if MOCAP.is_dir() else []
    if files:
        text = gzip.decompress(files[0].read_bytes()).decode() if files[0].suffix == ".gz" \
            else files[0].read_text()
        out["shared_slice.bvh"] = _first_frames(text).encode()
    return out


AMC = """\
# made for the fuzzer
:FULLY-SPECIFIED
:RADIANS
1
root 0.1 -0.2 0.3 1.0 2.0 3.0
thigh 0.5 -0.4
shin 0.1 0.2 0.3 0.4 0.5
spine 0.01 0.02 0.03
2
root 0.2 -0.1 0.35 1.1 2.1 3.1
thigh 0.45 -0.35
shin 0.15 0.25 0.35 0.45 0.55
spine 0.02 0.03 0.04
"""


def _cmu_asfamc() -> tuple[bytes, bytes] | None:
    folder = MOCAP / "cmu_asfamc" / "01"
    asf, amc = folder / "01.asf", folder / "01_01.amc.gz"
    if not (asf.is_file() and amc.is_file()):
        return None
    lines = gzip.decompress(amc.read_bytes()).decode().split("\n")
    starts = [k for k, line in enumerate(lines) if line.strip().isdigit()]
    head = lines[:starts[30]] if len(starts) > 30 else lines
    return asf.read_bytes(), ("\n".join(head) + "\n").encode()


def seeds_asf() -> Seeds:
    out = {"test.asf": ASF.encode(), "test.asf.gz": gzip.compress(ASF.encode(), mtime=0)}
    real = _cmu_asfamc()
    if real:
        out["cmu_01.asf"] = real[0]
    return out


def seeds_amc() -> Seeds:
    partial = AMC.replace(":FULLY-SPECIFIED\n", "").replace("thigh 0.45 -0.35\n", "")
    degrees = AMC.replace(":RADIANS", ":DEGREES")
    out = {"test": pack(ASF.encode(), AMC.encode()),
           "test_partial": pack(ASF.encode(), partial.encode()),
           "test_degrees_gz": pack(ASF.encode(), gzip.compress(degrees.encode(), mtime=0))}
    real = _cmu_asfamc()
    if real:
        out["cmu_01_01_30_frames"] = pack(*real)
    return out


CHARACTER = DEEPMIMIC_CHARACTER


def _dm_frames(n: int = 4) -> list:
    rng = np.random.default_rng(5)
    return [[0.02 if t < n - 1 else 0.0, *rng.normal(size=3).round(4),
             *rng.normal(size=4).round(4), *rng.normal(size=4).round(4),
             round(float(rng.uniform(-3, 3)), 4)] for t in range(n)]


def _real_deepmimic() -> tuple[bytes, bytes] | None:
    folder = MOCAP / "cmu_deepmimic"
    char, motion = folder / "humanoid3d.json", folder / "02_02.json"
    if not (char.is_file() and motion.is_file()):
        return None
    doc = json.loads(motion.read_text())
    doc["Frames"] = doc["Frames"][:30]
    return char.read_bytes(), json.dumps(doc).encode()


def seeds_deepmimic_character() -> Seeds:
    out = {"small.json": json.dumps(CHARACTER, indent=1).encode()}
    real = _real_deepmimic()
    if real:
        out["humanoid3d.json"] = real[0]
    return out


def seeds_deepmimic_motion() -> Seeds:
    char = json.dumps(CHARACTER).encode()
    motion = {"Loop": "none", "Frames": _dm_frames()}
    out = {"small": pack(char, json.dumps(motion).encode()),
           "small_gz": pack(char, gzip.compress(json.dumps(motion).encode(), mtime=0))}
    real = _real_deepmimic()
    if real:
        out["humanoid3d_02_02_30_frames"] = pack(*real)
    return out


def seeds_exported() -> Seeds:
    from vposer.export import export_onnx

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in (("v2_export", tiny_model("v2")),
                            ("v2_prior_export", with_prior(tiny_model("v2")))):
            folder = export_onnx(model, Path(tmp) / name)
            out[name] = pack(*[(folder / file).read_bytes() for file in
                               ("vposer_export.json", "decoder.onnx", "encoder.onnx")])
    return out


BUILDERS: dict[str, Callable[[], Seeds]] = {
    name[len("seeds_"):]: fn for name, fn in sorted(globals().items())
    if name.startswith("seeds_") and callable(fn)}


def build(target: str) -> Seeds:
    """The seed files of ``target`` (name -> bytes), made fresh."""
    return BUILDERS[target]()


__all__ = ["BUILDERS", "SEPARATOR", "build", "pack"]
