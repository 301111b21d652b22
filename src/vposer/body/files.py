"""Reading body-model files (``.npz``, chumpy-era ``.pkl``) into checked numpy arrays.

The kind (SMPL, SMPL+H, SMPL-X, MANO) is detected from the width of ``posedirs``, which holds 9
numbers per non-root joint; a file without blend shapes but with 22 fixed rest joints ``J`` is
the open body. Every problem raises :class:`~vposer.errors.BodyModelError` naming the file and,
where it applies, the missing or inconsistent key.
"""
from __future__ import annotations

import contextlib
import importlib.resources
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._archive import ARCHIVE_ERRORS, describe
from ..errors import BodyModelError, reads_file
from ..fileio import expand_path
from .kinds import KINDS, Kind, get_kind, kind_from_posedirs
from .legacy_pickle import load_legacy_pickle, unconverted, unpickle_restricted
from .._types import PathLike

__all__ = [
    "BodyModelData",
    "open_body_file",
    "open_body_path",
    "read_arrays",
    "read_body_file",
    "read_dmpl",
    "shape_layout",
]


#: Values one array of a body-model file may hold: several times SMPL-X's ``posedirs`` (15
#: million), far below what would exhaust memory once converted to float64.
MAX_ARRAY_VALUES = 100_000_000
#: Bytes an object (pickled) member of an ``.npz`` may hold: chumpy-era leftovers are small.
MAX_OBJECT_MEMBER_BYTES = 64 << 20
_NEEDED_KEYS = ("v_template", "f", "weights", "kintree_table", "J_regressor", "J", "shapedirs",
                "posedirs", "joint_names")


@dataclass
class BodyModelData:
    """The arrays of one body model, checked and in float64 / int64.

    Shapes: ``v_template`` (V, 3); ``faces`` (F, 3); ``weights`` (V, J); ``parents`` (J,) with
    -1 for the root; ``J_regressor`` (J, V) or None; ``joints`` (J, 3) fixed rest joints or None
    (then regressed); ``shapedirs`` (V, 3, S) or None; ``posedirs`` (V, 3, 9 (J - 1)) or None.
    """

    path: str
    kind: Kind
    v_template: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    J_regressor: np.ndarray | None
    joints: np.ndarray | None
    shapedirs: np.ndarray | None
    posedirs: np.ndarray | None
    joint_names: tuple

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_joints(self) -> int:
        return self.parents.shape[0]


def _npz_member(path: str, npz: Any, zf: zipfile.ZipFile, key: str) -> Any:
    """One member of an ``.npz``: numeric arrays by numpy, object arrays (pickled inside the
    ``.npy``) through the restricted unpickler."""
    try:
        stored = zf.getinfo(f"{key}.npy").file_size
        with zf.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            if dtype.hasobject:
                if stored > MAX_OBJECT_MEMBER_BYTES:
                    raise ValueError(f"its pickled object array holds {stored} bytes, more than "
                                     f"a body model needs (at most {MAX_OBJECT_MEMBER_BYTES:,})")
                payload = fh.read()
        if not dtype.hasobject:
            count = int(np.prod(shape, dtype=np.float64))
            if count > MAX_ARRAY_VALUES:
                raise ValueError(f"its header declares shape {shape}: more values than any body "
                                 f"model holds (at most {MAX_ARRAY_VALUES:,})")
            if count * dtype.itemsize > stored:
                raise ValueError(f"its header declares {shape} {dtype}, more than the member holds")
            return npz[key]
    except MemoryError:
        raise BodyModelError(f"key '{key}' declares more data than fits in memory", path) from None
    except ARCHIVE_ERRORS as exc:  # a damaged member: zlib.error, NotImplementedError, ...
        raise BodyModelError(f"key '{key}' is unreadable ({describe(exc)})", path) from None
    value = unpickle_restricted(payload, path)
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        value = value.item()
    return value


def _read_npz(path: str, keys: tuple[str, ...] = _NEEDED_KEYS) -> dict[str, Any]:
    """The members of an ``.npz`` named in ``keys`` (those present)."""
    npz = None
    try:
        try:
            npz = np.load(path, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):  # a .npy whose bytes end like a zip
                raise ValueError("an .npy array, not an .npz archive")
            zf = zipfile.ZipFile(path)
        except BaseException:
            if isinstance(npz, np.lib.npyio.NpzFile):
                npz.close()
            raise
    except MemoryError:
        raise BodyModelError("not a readable .npz body-model file (it declares more data than "
                             "fits in memory)", path) from None
    except ARCHIVE_ERRORS as exc:
        raise BodyModelError(f"not a readable .npz body-model file ({describe(exc)})",
                             path) from None
    with npz, zf:
        return {key: _npz_member(path, npz, zf, key) for key in keys if key in npz.files}


@reads_file
def read_arrays(path: PathLike) -> dict[str, Any]:
    """The raw key -> value mapping of a body-model file (``.npz`` or ``.pkl``, by content).

    ``.npz`` files yield only the keys a body model uses; ``.pkl`` files go through the
    restricted unpickler (chumpy arrays become numpy arrays, old sparse matrices current scipy).
    """
    path = os.fspath(expand_path(path))
    if os.path.isdir(path):
        raise BodyModelError("is a folder; pass the model file itself (.npz or .pkl)", path)
    if not os.path.exists(path):
        raise BodyModelError("no such file", path)
    if zipfile.is_zipfile(path):
        return _read_npz(path)
    with open(path, "rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            raise BodyModelError("a damaged or truncated .npz (zip) archive", path)
    data = load_legacy_pickle(path)
    if not isinstance(data, dict):
        raise BodyModelError(f"not a body-model file (the pickle holds a {type(data).__name__}, "
                             "not a dict of arrays)", path)
    return data


def _dense(value: Any, key: str = "", path: str = "") -> np.ndarray:
    """``value`` as a numpy array (scipy sparse matrices densified), at most
    :data:`MAX_ARRAY_VALUES` values."""
    try:
        shape = np.shape(value)
    except (TypeError, ValueError) as exc:  # a ragged nest of sequences
        raise BodyModelError(f"key '{key}' is not an array ({exc})", path) from None
    size = int(np.prod(shape, dtype=np.float64))
    if size > MAX_ARRAY_VALUES:
        raise BodyModelError(f"key '{key}' has shape {shape}: more values than any body "
                             f"model holds (at most {MAX_ARRAY_VALUES:,})", path)
    if hasattr(value, "toarray"):  # scipy sparse
        value = value.toarray()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise BodyModelError(f"key '{key}' is not an array ({exc})", path) from None


def _float_array(arrays: dict, key: str, path: str, ndim: int) -> np.ndarray:
    chumpy_name = unconverted(arrays[key])
    if chumpy_name:
        raise BodyModelError(f"key '{key}' holds a chumpy expression ({chumpy_name}) that cannot "
                             "be evaluated without chumpy; re-save the model as .npz", path)
    raw = arrays[key]
    kind = getattr(raw, "dtype", np.dtype(np.float64)).kind
    if kind not in "biuf":
        raise BodyModelError(f"key '{key}' has dtype {raw.dtype}; expected real numbers", path)
    try:
        value = np.asarray(_dense(raw, key, path), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BodyModelError(f"key '{key}' is not a numeric array ({exc})", path) from exc
    if value.ndim != ndim:
        raise BodyModelError(f"key '{key}' has shape {value.shape}, expected {ndim} dimensions",
                             path)
    if not np.isfinite(value).all():
        raise BodyModelError(f"key '{key}' contains NaN or Inf", path)
    return value


def _require(arrays: dict, keys: tuple, path: str, what: str) -> None:
    for key in keys:
        if key not in arrays:
            raise BodyModelError(f"missing key '{key}': not a {what} body-model file", path)


def _parents(arrays: dict, kind: Kind, num_joints: int, path: str) -> np.ndarray:
    if "kintree_table" not in arrays:
        return np.asarray(kind.parents, dtype=np.int64)
    table = np.asarray(_dense(arrays["kintree_table"], "kintree_table", path))
    if table.ndim != 2 or table.shape[0] != 2 or table.shape[1] != num_joints:
        raise BodyModelError(f"key 'kintree_table' has shape {table.shape}, expected "
                             f"(2, {num_joints})", path)
    parents = table[0].astype(np.int64)
    parents[parents >= 2**31 - 1] = -1  # uint32 4294967295 or int max for the root
    parents[parents < 0] = -1
    if parents[0] != -1 or (parents[1:] < 0).any() or (parents[1:] >= num_joints).any():
        raise BodyModelError("key 'kintree_table' is not a tree rooted at joint 0", path)
    for j in range(num_joints):  # every chain must reach the root without cycles
        seen, p = 0, j
        while p != -1 and seen <= num_joints:
            p, seen = parents[p], seen + 1
        if seen > num_joints:
            raise BodyModelError("key 'kintree_table' has a cycle", path)
    return parents


def _detect_kind(arrays: dict, model_type: str | None, path: str) -> Kind:
    if model_type is not None:
        try:
            return get_kind(model_type)
        except KeyError:
            raise BodyModelError(f"unknown model_type {model_type!r} (expected one of "
                                 f"{', '.join(KINDS)})", path) from None
    if "posedirs" in arrays:
        shape = np.shape(arrays["posedirs"])
        name = kind_from_posedirs(shape[-1]) if len(shape) == 3 else None
        if name is None:
            raise BodyModelError(f"key 'posedirs' has shape {shape}: not SMPL, SMPL+H, SMPL-X or "
                                 "MANO (expected V x 3 x 207, 459, 486 or 135)", path)
        return KINDS[name]
    if "J" in arrays and "shapedirs" not in arrays:
        return KINDS["open"]
    missing = "v_template" if "v_template" not in arrays else "posedirs"
    raise BodyModelError(f"missing key '{missing}': not a SMPL-family body-model file", path)


def _check_shapes(data: BodyModelData) -> None:
    path, V, J = data.path, data.num_vertices, data.num_joints
    checks = [("v_template", data.v_template, (V, 3)), ("weights", data.weights, (V, J))]
    if data.J_regressor is not None:
        checks.append(("J_regressor", data.J_regressor, (J, V)))
    if data.joints is not None:
        checks.append(("J", data.joints, (J, 3)))
    if data.posedirs is not None:
        checks.append(("posedirs", data.posedirs, (V, 3, 9 * (J - 1))))
    if data.shapedirs is not None:
        checks.append(("shapedirs", data.shapedirs, (V, 3, data.shapedirs.shape[2])))
    for key, value, shape in checks:
        if value.shape != shape:
            raise BodyModelError(f"key '{key}' has shape {value.shape}, expected {shape} for a "
                                 f"{data.kind.name} model with {V} vertices and {J} joints", path)
    if data.faces.ndim != 2 or data.faces.shape[1] != 3:
        raise BodyModelError(f"key 'f' has shape {data.faces.shape}, expected (F, 3)", path)
    if data.faces.size and (data.faces.min() < 0 or data.faces.max() >= V):
        raise BodyModelError(f"key 'f' indexes vertices outside 0..{V - 1}", path)


def arrays_to_data(arrays: dict, path: str, model_type: str | None = None) -> BodyModelData:
    """Check a key -> array mapping of a body model and convert it (see :func:`read_body_file`)."""
    kind = _detect_kind(arrays, model_type, path)
    needed = ("v_template", "f", "weights") + (
        ("J",) if not kind.has_blendshapes else ("J_regressor", "shapedirs", "posedirs"))
    _require(arrays, needed, path, "open-body" if kind.name == "open" else kind.name)
    weights = _float_array(arrays, "weights", path, 2)
    num_joints = weights.shape[1]
    if num_joints != kind.num_joints:
        raise BodyModelError(f"key 'weights' has {num_joints} joint columns but a {kind.name} "
                             f"model has {kind.num_joints}", path)
    shapedirs = None
    if "shapedirs" in arrays and kind.has_blendshapes:
        shapedirs = _float_array(arrays, "shapedirs", path, 3)
    names = kind.joint_names
    if "joint_names" in arrays and np.shape(arrays["joint_names"]) == (num_joints,):
        names = tuple(str(n) for n in np.asarray(arrays["joint_names"]).tolist())
    faces = np.asarray(_dense(arrays["f"], "f", path))
    integral = faces.dtype.kind in "iu" or (
        faces.dtype.kind == "f" and bool(np.all(np.isfinite(faces) & (faces == np.round(faces)))))
    if not integral:
        raise BodyModelError(f"key 'f' is not an array of vertex indices (dtype {faces.dtype})",
                             path)
    faces = faces.astype(np.int64)
    data = BodyModelData(
        path=path,
        kind=kind,
        v_template=_float_array(arrays, "v_template", path, 2),
        faces=faces,
        weights=weights,
        parents=_parents(arrays, kind, num_joints, path),
        J_regressor=_float_array(arrays, "J_regressor", path, 2) if kind.has_blendshapes
        else None,
        joints=None if kind.has_blendshapes else _float_array(arrays, "J", path, 2),
        shapedirs=shapedirs,
        posedirs=_float_array(arrays, "posedirs", path, 3) if kind.has_blendshapes else None,
        joint_names=names,
    )
    _check_shapes(data)
    return data


@reads_file
def read_body_file(path: PathLike, model_type: str | None = None) -> BodyModelData:
    """Read and check a body-model file.

    Args:
        path: an ``.npz`` or ``.pkl`` file of SMPL, SMPL+H, SMPL-X, MANO or the open body.
        model_type: ``'smpl'``, ``'smplh'``, ``'smplx'``, ``'mano'`` or ``'open'``; None detects
            it from the width of ``posedirs``.

    Raises:
        BodyModelError: unreadable file, missing key, inconsistent shapes, NaN values.
    """
    path = os.fspath(path)
    return arrays_to_data(read_arrays(path), path, model_type)


@reads_file
def read_dmpl(path: PathLike, num_vertices: int) -> np.ndarray:
    """Read DMPL soft-tissue components: ``eigvec`` (V, 3, D) float64."""
    path = os.fspath(expand_path(path))
    if not os.path.isfile(path):
        raise BodyModelError("no such file" if not os.path.isdir(path) else
                             "is a folder; expected a DMPL file", path)
    arrays = _read_npz(path, ("eigvec",)) if zipfile.is_zipfile(path) else read_arrays(path)
    if "eigvec" not in arrays:
        raise BodyModelError("missing key 'eigvec': not a DMPL file", path)
    eig = _float_array(arrays, "eigvec", path, 3)
    if eig.shape[:2] != (num_vertices, 3):
        raise BodyModelError(f"key 'eigvec' has shape {eig.shape}, expected ({num_vertices}, 3, D)",
                             path)
    return eig


def shape_layout(kind: Kind, num_components: int) -> tuple[int, int, int]:
    """Split ``shapedirs``' S columns into shape and expression blocks.

    Returns ``(num_shape, expression_start, num_expression)``. SMPL-X files hold 300 shape
    components then expressions when S > 300, otherwise 10 shape components then expressions
    (older files have S = 20); other kinds hold only shape components.
    """
    S = num_components
    if kind.name != "smplx":
        return S, S, 0
    if S > 300:
        return 300, 300, S - 300
    return min(S, 10), 10, max(S - 10, 0)


def open_body_path() -> str:
    """The filesystem path of the shipped open body (``open_body.npz``), for code that takes a
    body-model file name (the original ``BodyModel(bm_fname)``; ``vposer paths`` prints it).

    Raises:
        BodyModelError: the asset is not installed, or not as a plain file (a zipped install:
            use :func:`open_body_file`).
    """
    resource = importlib.resources.files("vposer") / "assets" / "open_body.npz"
    path = os.fspath(resource) if isinstance(resource, os.PathLike) else ""
    if not path or not os.path.isfile(path):
        raise BodyModelError("the open default body is not installed as a file (missing package "
                             "data vposer/assets/open_body.npz)", str(resource))
    return path


@contextlib.contextmanager
def open_body_file() -> Iterator[str]:
    """Context manager giving a filesystem path of the shipped open body (``open_body.npz``).

    Raises:
        BodyModelError: the asset is not installed.
    """
    resource = importlib.resources.files("vposer") / "assets" / "open_body.npz"
    if not resource.is_file():
        raise BodyModelError("the open default body is not installed (missing package data "
                             "vposer/assets/open_body.npz)", str(resource))
    with importlib.resources.as_file(resource) as real_path:
        yield os.fspath(real_path)
