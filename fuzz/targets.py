"""The fuzz targets: one per file reader, each with its seeds and what a valid result is.

A target turns one fuzzer input (bytes) into the file, or the folder of files, its reader takes,
calls the reader, and checks what it returns (:class:`Invalid` when the result is not a valid
object: wrong types or shapes, non-finite numbers). The contract around it (only
:class:`~vposer.errors.VPoserError` naming the file, time, memory, writes) is
:mod:`fuzz.contract`'s.

Folder targets fuzz several files at once: the input is split at :data:`fuzz.seeds.SEPARATOR`
into the target's ``files`` in order (fewer parts: the later files are absent); ``fixed`` files
(a valid snapshot beside fuzzed settings, a valid skeleton beside fuzzed motion) are written once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from . import seeds as seedlib


class Invalid(Exception):
    """The reader returned something that is not a valid result (the message says what)."""


@dataclass
class Target:
    """One reader under fuzzing.

    Attributes:
        name: the target's name (``python fuzz/run.py NAME``).
        reader: what is called, for people.
        files: the fuzzed file names (one: the reader takes that file; several, or ``folder``:
            the reader takes the folder holding them).
        call: ``call(path)`` reads the input (``path``: the file, or the folder) and returns
            the result (or raises).
        check: ``check(result)`` raises :class:`Invalid` unless the result is valid.
        fixed: files written beside the fuzzed ones once (name -> bytes), made lazily.
        tokens: words the built-in mutator inserts (numbers, keywords of the format).
        requires: modules the target needs (skipped when one is missing).
    """

    name: str
    reader: str
    files: tuple[str, ...]
    call: Callable[[Path], Any]
    check: Callable[[Any], None]
    fixed: Callable[[], dict[str, bytes]] | None = None
    folder: bool = False
    tokens: tuple[bytes, ...] = ()
    requires: tuple[str, ...] = ()
    _fixed_cache: dict[str, bytes] | None = field(default=None, init=False, repr=False)

    @property
    def is_folder(self) -> bool:
        return self.folder or len(self.files) > 1

    @property
    def suffix(self) -> str:
        """The file-name suffix of this target's regression inputs."""
        return ".bin" if self.is_folder else "".join(Path(self.files[0]).suffixes) or ".bin"

    def seeds(self) -> dict[str, bytes]:
        return seedlib.build(self.name)

    def fixed_files(self) -> dict[str, bytes]:
        if self._fixed_cache is None:
            self._fixed_cache = self.fixed() if self.fixed else {}
        return self._fixed_cache

    def prepare(self, workdir: Path) -> Path:
        """The input folder under ``workdir``, with the fixed files in place."""
        folder = workdir / "input"
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.fixed_files().items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return folder

    def materialise(self, data: bytes, folder: Path) -> Path:
        """Write ``data`` as this target's file(s) in ``folder``; returns what the reader takes."""
        if not self.is_folder:
            path = folder / self.files[0]
            path.write_bytes(data)
            return path
        parts = data.split(seedlib.SEPARATOR, len(self.files) - 1)
        for k, name in enumerate(self.files):
            path = folder / name
            if k < len(parts):
                path.write_bytes(parts[k])
            elif path.exists():
                path.unlink()
        return folder


# ------------------------------------------------------------------------------------ checks
def finite(what: str, array: Any, shape: Sequence[int | None] | None = None,
           dtype: Any = None) -> np.ndarray:
    """``array`` as numpy, checked: finite real numbers of ``shape`` (None: any size)."""
    try:
        import torch

        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(array, np.ndarray):
        raise Invalid(f"{what} is a {type(array).__name__}, not an array")
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise Invalid(f"{what} has dtype {array.dtype}, documented {np.dtype(dtype)}")
    if array.dtype.kind not in "biuf":
        raise Invalid(f"{what} has dtype {array.dtype}, not real numbers")
    if shape is not None and (array.ndim != len(shape) or any(
            s is not None and s != n for s, n in zip(shape, array.shape))):
        raise Invalid(f"{what} has shape {array.shape}, documented {tuple(shape)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise Invalid(f"{what} holds NaN or Inf")
    return array


def number(what: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise Invalid(f"{what} is a {type(value).__name__}, not a number")
    if not math.isfinite(float(value)) or (positive and not float(value) > 0):
        raise Invalid(f"{what} is {value!r}, not a finite{' positive' if positive else ''} number")
    return float(value)


def _check_model(model: Any) -> None:
    from vposer.model import VPoser

    if not isinstance(model, VPoser):
        raise Invalid(f"load_model returned a {type(model).__name__}")
    c = model.config
    if c.architecture not in ("v1", "v2") or c.num_neurons < 1 or c.latent_dim < 1:
        raise Invalid(f"model config {c}")
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            finite(name, tensor)
    if model.training:
        raise Invalid("load_model returned a model in training mode")
    prior = model.latent_prior
    if prior is not None:
        if prior.dim != c.latent_dim:
            raise Invalid(f"a latent prior over {prior.dim}-D codes on a {c.latent_dim}-D model")
        for name, tensor in prior.to_tensors().items():
            finite(name, tensor)


def _load_model(path: Path) -> Any:
    import vposer

    return vposer.load_model(path)


def _check_skeleton(what: str, skeleton: Any) -> int:
    from vposer.data.skeleton import Skeleton

    if not isinstance(skeleton, Skeleton):
        raise Invalid(f"{what} is a {type(skeleton).__name__}, not a Skeleton")
    j = len(skeleton.names)
    finite(f"{what}.offsets", skeleton.offsets, (j, 3))
    finite(f"{what}.parents", skeleton.parents, (j,))
    return j


def _check_motion(motion: Any) -> None:
    """A mocap reader's result as the import uses it: finite global rotations and positions."""
    j = _check_skeleton("skeleton", motion.skeleton)
    number("fps", motion.fps, positive=True)
    glob, pos = motion.global_rotations()
    t = len(glob)
    if t < 1:
        raise Invalid("no frames")
    finite("global rotations", glob, (t, j, 3, 3))
    finite("joint positions", pos, (t, j, 3))


# ------------------------------------------------------------------------------------ bodies
def _load_body(path: Path) -> Any:
    import vposer

    return vposer.load_body(path)


def _check_body(body: Any) -> None:
    from vposer.body import BodyModel

    if not isinstance(body, BodyModel):
        raise Invalid(f"load_body returned a {type(body).__name__}")
    for name, tensor in list(body.named_buffers()) + list(body.named_parameters()):
        if tensor.is_floating_point():
            finite(name, tensor)
    faces = body.faces.detach().cpu().numpy() if hasattr(body.faces, "detach") else body.faces
    faces = finite("faces", np.asarray(faces), (None, 3))
    if faces.size and (faces.min() < 0 or faces.max() >= body.num_vertices):
        raise Invalid("faces index missing vertices")


# ------------------------------------------------------------------------------------ poses
def _poses(path: Path) -> Any:
    from vposer.posefiles import load_poses

    return load_poses(path)


def _latents(path: Path) -> Any:
    from vposer.posefiles import load_latents

    return load_latents(path, 32)


def _check_rows(width: int) -> Callable[[Any], None]:
    def check(array: Any) -> None:
        array = finite("result", array, (None, width), np.float32)
        if len(array) < 1:
            raise Invalid("no rows")
    return check


def _take(path: Path) -> Any:
    from vposer.data.amass import read_take

    return read_take(path)


def _check_take(take: Any) -> None:
    t = len(take.pose_body)
    if t < 1:
        raise Invalid("no frames")
    finite("pose_body", take.pose_body, (t, 63), np.float32)
    finite("root_orient", take.root_orient, (t, 3), np.float32)
    number("fps", take.fps, positive=True)


def _cmu(path: Path) -> Any:
    from vposer.data.cmu import column_fk, load_cmu

    data = load_cmu(path)
    try:
        takes = [(key, data.take(key)) for key in data.keys]
        return data, [(key, frames, column_fk(data.skeleton, frames)) for key, frames in takes]
    finally:
        close = getattr(data._npz, "close", None)
        if close:
            close()


def _check_cmu(result: Any) -> None:
    data, takes = result
    j = _check_skeleton("skeleton", data.skeleton)
    number("fps", data.fps, positive=True)
    for key, frames, (glob, pos) in takes:
        t = len(frames)
        finite(f"take {key}", frames, (t, 3 + 3 * j))
        finite(f"take {key} rotations", glob, (t, j, 3, 3))
        finite(f"take {key} positions", pos, (t, j, 3))


def _bvh(path: Path) -> Any:
    from vposer.data.bvh import read_bvh

    return read_bvh(path)


def _check_bvh(motion: Any) -> None:
    j = _check_skeleton("skeleton", motion.skeleton)
    width = sum(len(c) for c in motion.channels)
    if len(motion.channels) != j:
        raise Invalid("channels per joint do not match the joints")
    finite("motion", motion.motion, (None, width))
    number("frame_time", motion.frame_time, positive=True)
    if len(motion.motion):
        _check_motion(motion)


def _asf(path: Path) -> Any:
    from vposer.data.asf import read_asf

    return read_asf(path)


def _check_asf(asf: Any) -> None:
    j = _check_skeleton("skeleton", asf.skeleton)
    finite("axes", asf.axes, (j, 3, 3))
    number("length unit", asf.length_unit, positive=True)
    finite("root position", asf.root_position, (3,))
    finite("root orientation", asf.root_orientation, (3,))


def _amc(path: Path) -> Any:
    from vposer.data.amc import read_amc
    from vposer.data.asf import read_asf

    return read_amc(path / "motion.amc", read_asf(path / "skeleton.asf"))


def _check_amc(motion: Any) -> None:
    _check_asf(motion.asf)
    finite("motion", motion.motion, (None, len(motion.columns)))
    _check_motion(motion)


def _character(path: Path) -> Any:
    from vposer.data.deepmimic import read_character

    return read_character(path)


def _check_character(char: Any) -> None:
    j = _check_skeleton("skeleton", char.skeleton)
    finite("starts", char.starts, (j,))
    finite("limits", np.nan_to_num(char.limits, nan=0.0), (j, 3, 2))
    if len(char.types) != j or not char.width >= 8:
        raise Invalid("joint types or frame width")


def _deepmimic(path: Path) -> Any:
    from vposer.data.deepmimic import read_character, read_deepmimic

    return read_deepmimic(path / "motion.json", read_character(path / "character.json"))


def _check_deepmimic(motion: Any) -> None:
    _check_character(motion.character)
    finite("frames", motion.frames, (None, motion.character.width))
    _check_motion(motion)


# ------------------------------------------------------------------------------------ configs
def _settings(path: Path) -> Any:
    return _load_model(path)


def _train_config(path: Path) -> Any:
    from vposer.train.config import load_config

    return load_config(path)


def _check_train_config(cfg: Any) -> None:
    from vposer.train.config import TrainConfig

    if not isinstance(cfg, TrainConfig) or not isinstance(cfg.raw, dict):
        raise Invalid(f"load_config returned a {type(cfg).__name__}")
    for key in ("train_parms.batch_size", "train_parms.num_epochs", "model_params.latentD",
                "model_params.num_neurons"):
        value = cfg.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise Invalid(f"{key} is {value!r}")


def _recipe(path: Path) -> Any:
    from vposer.data.import_recipe import read_recipe

    return read_recipe(path)


def _check_recipe(result: Any) -> None:
    specs, settings = result
    if not specs:
        raise Invalid("no sources")
    for key, value in settings.items():
        number(key, value, positive=key == "target_fps")
    for spec in specs:
        fps = spec.options.fps
        for k, v in (fps.items() if isinstance(fps, dict) else [("fps", fps)]):
            if v is not None:
                number(f"fps {k}", v, positive=True)
        for what in ("test", "val"):
            number(f"{what}_takes", getattr(spec.rule, what))


def _split_recipe(path: Path) -> Any:
    from vposer.data.amass import load_recipe

    return load_recipe(str(path))


def _check_split_recipe(recipe: Any) -> None:
    from vposer.data.amass import SplitRecipe

    if not isinstance(recipe, SplitRecipe):
        raise Invalid(f"load_recipe returned a {type(recipe).__name__}")
    for k, v in recipe.subject_split.items():
        if not 0 <= number(f"subject_split {k}", v) <= 1:
            raise Invalid(f"subject_split {k} = {v}")
    recipe.assign("CMU", "01")


def _mapping(path: Path) -> Any:
    from vposer.data.mapping import load_mapping_file

    return load_mapping_file(str(path))


def _check_mapping(mapping: Any) -> None:
    if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise Invalid("not a mapping of names")


def _exported(path: Path) -> Any:
    from vposer.runtime import load_exported

    return load_exported(path, threads=1)


def _check_exported(model: Any) -> None:
    from vposer.runtime import ExportedVPoser

    if not isinstance(model, ExportedVPoser):
        raise Invalid(f"load_exported returned a {type(model).__name__}")
    if model.latent_prior is not None:
        for name, array in zip(("weights", "means", "scale_tril"), model.latent_prior):
            if not np.isfinite(array).all():
                raise Invalid(f"latent prior {name} not finite")
        if model.latent_prior[1].shape[1] != model.latent_dim:
            raise Invalid("latent prior of another size than the codes")


def _fixed_v1_release() -> dict[str, bytes]:
    return {"snapshots/TR00_E001.pt": seedlib.torch_bytes(seedlib.tiny_model("v1").state_dict())}


def _fixed_v2_release() -> dict[str, bytes]:
    return {"snapshots/V02_epoch=01_val_loss=0.03.ckpt":
            seedlib.lightning_checkpoint(seedlib.tiny_model("v2"), 1)}


_NUMBERS = (b"0", b"-1", b"1e308", b"-1e308", b"1e-320", b"nan", b"inf", b"-inf", b"NaN",
            b"Infinity", b"-0", b"4294967295", b"9223372036854775808", b"1" * 30, b"0x10",
            b"1e999", b"3.4e38")
_TEXT = (b"\n", b"\r", b"\x00", b" ", b"\t", b"\xff\xfe", b"#")
_YAML = (b"*a", b"&a ", b"!!python/object:os.system", b"{", b"}", b"[", b"]", b": ", b"- ",
         b"~", b"null", b"true", b".inf", b".nan", b"<<: *a", b"'", b'"', b"? ", b"---", b"...",
         b'"\\0"', b'"\\x00"', b"!!binary ", b"!!timestamp ", b"2001-13-99", b"!!float ")
_JSON = (b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"true", b"[[[[[[[[", b"1" * 5000)
_BVH = (b"ROOT", b"JOINT", b"End Site", b"OFFSET", b"CHANNELS", b"{", b"}", b"MOTION",
        b"Frames:", b"Frame Time:", b"Xrotation", b"Yposition", b"6", b"3")
_ASF = (b":root", b":bonedata", b":hierarchy", b":units", b"begin", b"end", b"name",
        b"direction", b"length", b"axis", b"dof", b"limits", b"(", b")", b"XYZ", b"rx", b"tz",
        b"l", b"angle deg", b"length 0")
_AMC = (b":FULLY-SPECIFIED", b":DEGREES", b":RADIANS", b"root", b"thigh", b"shin", b"spine",
        b"\n3\n", b"\n1\n", b"99999999999999999")
_DEEPMIMIC = (b'"Frames"', b'"Skeleton"', b'"Joints"', b'"Type"', b'"spherical"', b'"revolute"',
              b'"fixed"', b'"none"', b'"Parent"', b'"ID"', b'"AttachThetaX"', b'"Loop"')
_NPZ = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"'descr': '<f8'",
        b"'descr': '|O'", b"'fortran_order': True", b"'shape': (1000000000000,)", b"(0,)",
        b"'<f2'", b"'>f8'", b"'<c16'", b"'|b1'", b"'<U5'")
_PICKLE = (b"\x80\x02", b"c__builtin__\neval\n", b"cchumpy.ch\nCh\n", b"cnumpy\ndtype\n",
           b"cscipy.sparse.csc\ncsc_matrix\n", b"R", b"b", b"(", b"t", b"}", b"]", b"\x94",
           b"\x85", b"\x86", b"s", b"u", b"e", b".")
_TORCH = _PICKLE + _NPZ[1:4] + (b"ctorch._utils\n_rebuild_tensor_v2\n", b"storage",
                                 b"FloatStorage", b"cuda:0", b"cpu", b"data.pkl", b"byteorder",
                                 b"constants.pkl", b"version")
_SAFETENSORS = (b'"dtype":"F32"', b'"dtype":"F64"', b'"shape":[', b'"data_offsets":[',
                b'"__metadata__"', b'"vposer_config"', b'"architecture"', b'"num_neurons"',
                b'"latent_dim"', b'"format_version"')

TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("pt_zip", "vposer.load_model(FILE.pt): torch's zip format (state dict)",
           ("model.pt",), _load_model, _check_model, tokens=_TORCH),
    Target("pt_legacy", "vposer.load_model(FILE.pt): torch's legacy (pre-1.6) format",
           ("model.pt",), _load_model, _check_model, tokens=_TORCH),
    Target("ckpt", "vposer.load_model(FILE.ckpt): a Lightning checkpoint",
           ("model.ckpt",), _load_model, _check_model, tokens=_TORCH),
    Target("safetensors", "vposer.load_model(FILE.safetensors): the native single file",
           ("model.safetensors",), _load_model, _check_model, tokens=_SAFETENSORS + _NUMBERS),
    Target("native_dir", "vposer.load_model(FOLDER): config.json + model.safetensors",
           ("config.json", "model.safetensors"), _load_model, _check_model,
           tokens=_SAFETENSORS + _JSON + _NUMBERS),
    Target("config_ini", "vposer.load_model(FOLDER): a v1 release's settings (.ini)",
           ("settings.ini",), _settings, _check_model, fixed=_fixed_v1_release, folder=True,
           tokens=_NUMBERS + _TEXT + (b"[All]", b" : ", b"latentD", b"num_neurons", b"(",
                                      b"[", b"{", b"'", b"lambda: 1", b"__import__")),
    Target("config_yaml", "vposer.load_model(FOLDER): a v2 release's settings (.yaml)",
           ("settings.yaml",), _settings, _check_model, fixed=_fixed_v2_release, folder=True,
           tokens=_YAML + _NUMBERS + (b"latentD", b"num_neurons", b"model_params")),
    Target("train_config", "vposer.train.load_config(FILE.yaml)",
           ("config.yaml",), _train_config, _check_train_config,
           tokens=_YAML + _NUMBERS + (b"recipe", b"trainer", b"train_parms", b"batch_size")),
    Target("import_recipe", "vposer.data.import_recipe.read_recipe(FILE.yaml)",
           ("recipe.yaml",), _recipe, _check_recipe,
           fixed=lambda: {"mapping.json": seedlib.mapping_json()},
           tokens=_YAML + _NUMBERS + (b"sources", b"path", b"fps", b"mapping", b"groups")),
    Target("split_recipe", "vposer.data.amass.load_recipe(FILE.yaml): AMASS split recipes",
           ("splits.yaml",), _split_recipe, _check_split_recipe,
           tokens=_YAML + _NUMBERS + (b"splits", b"subject_split", b'"*"', b"_train")),
    Target("mapping", "vposer.data.mapping.load_mapping_file(FILE.json)",
           ("mapping.json",), _mapping, _check_mapping, tokens=_JSON + _NUMBERS),
    Target("body_npz", "vposer.load_body(FILE.npz)", ("body.npz",), _load_body, _check_body,
           tokens=_NPZ + _NUMBERS),
    Target("body_pkl", "vposer.load_body(FILE.pkl): chumpy-era pickles, restricted",
           ("body.pkl",), _load_body, _check_body, tokens=_PICKLE, requires=("scipy",)),
    Target("poses", "vposer.posefiles.load_poses(FILE.npz or .npy)", ("poses.npz",), _poses,
           _check_rows(63), tokens=_NPZ + (b"pose_body", b"poses", b"pose")),
    Target("latents", "vposer.posefiles.load_latents(FILE.npz, 32)", ("codes.npz",), _latents,
           _check_rows(32), tokens=_NPZ + (b"z.npy", b"z_std")),
    Target("amass_take", "vposer.data.amass.read_take(FILE.npz): an AMASS take",
           ("take_poses.npz",), _take, _check_take,
           tokens=_NPZ + (b"poses", b"mocap_framerate", b"mocap_frame_rate")),
    Target("cmu", "vposer.data.cmu.load_cmu(FOLDER) and every take: skeleton.json + npz",
           ("skeleton.json", "cmu_expmap.npz"), _cmu, _check_cmu, tokens=_JSON + _NPZ + _NUMBERS),
    Target("bvh", "vposer.data.bvh.read_bvh(FILE) and its global rotations (plain or .gz)",
           ("take.bvh",), _bvh, _check_bvh, tokens=_BVH + _NUMBERS + _TEXT),
    Target("asf", "vposer.data.asf.read_asf(FILE) (plain or .gz)",
           ("skeleton.asf",), _asf, _check_asf, tokens=_ASF + _NUMBERS + _TEXT),
    Target("amc", "read_amc(FILE.amc, read_asf(FILE.asf)) and its global rotations",
           ("skeleton.asf", "motion.amc"), _amc, _check_amc,
           tokens=_AMC + _ASF + _NUMBERS + _TEXT),
    Target("deepmimic_character", "vposer.data.deepmimic.read_character(FILE.json)",
           ("character.json",), _character, _check_character,
           tokens=_DEEPMIMIC + _JSON + _NUMBERS),
    Target("deepmimic_motion", "read_deepmimic(FILE.json, read_character(FILE.json)) and its "
           "global rotations", ("character.json", "motion.json"), _deepmimic, _check_deepmimic,
           tokens=_DEEPMIMIC + _JSON + _NUMBERS),
    Target("exported", "vposer.runtime.load_exported(FOLDER): manifest + ONNX graphs",
           ("vposer_export.json", "decoder.onnx", "encoder.onnx"), _exported, _check_exported,
           tokens=_JSON + _NUMBERS, requires=("onnxruntime", "onnx")),
)}


def available(name: str) -> str | None:
    """None when ``name``'s requirements are installed, else the missing module."""
    import importlib.util

    for module in TARGETS[name].requires:
        if importlib.util.find_spec(module) is None:
            return module
    return None
