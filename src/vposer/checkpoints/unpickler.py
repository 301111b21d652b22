"""Reading ``torch.save`` files without executing anything, and without ``torch.load``.

A legitimate checkpoint's pickle names torch's tensor-rebuilding functions, storages,
``collections.OrderedDict`` and plain containers; a 2020 Lightning checkpoint also names
Lightning classes, but only as dictionary keys (``callbacks``), never calling them. The rule:

- a global on the allow-list resolves normally;
- any other global resolves to an *inert placeholder* class, so that it can sit in the data
  (for example as a dict key) without the module being imported;
- calling a placeholder (``REDUCE``), instantiating it (``NEWOBJ``) or setting attributes of
  anything the pickle did not make (``BUILD``, see :mod:`vposer.safe_pickle`) is refused with
  :class:`~vposer.errors.UnsafePickleError`, which names the global.

Both file formats are read here rather than by ``torch.load``, which would hand TorchScript
archives to ``torch.jit.load`` (running their code), open tar files, follow a zip's records as
its own reader sees them, or write ``.patch`` files for pickled modules:

- the zip format (torch >= 1.6): ``<name>/data.pkl`` and one record ``<name>/data/<key>`` per
  storage, read with :mod:`zipfile` (which checks every record's CRC);
- the legacy format: pickles of the magic number, protocol version and system info, the data
  pickle, the list of storage keys, then each storage as an int64 element count and its bytes.

Every storage is created on the CPU from bytes the file holds, so declared sizes are bounded by
the file's size before anything is allocated.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any, BinaryIO
from collections.abc import Callable

import numpy as np
import torch

from .._types import PathLike
from ..errors import CheckpointError, UnsafePickleError, reads_file
from ..safe_pickle import (ARRAY_CLASS, GuardedUnpickler, checked, codecs_encode, make_dtype, numpy_scalar,
                           reconstruct_array)

__all__ = ["load_torch_file"]

_NUMPY_ARRAY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")

# (module, name) -> what it resolves to: data constructors only.
def _tensor_from_numpy(data: Any, dtype: Any, device: Any, requires_grad: bool) -> torch.Tensor:
    """``torch._utils._rebuild_device_tensor_from_numpy`` on the CPU, whatever device the pickle
    names (a CUDA device would initialise CUDA in this process; 'meta' holds no data)."""
    if not isinstance(data, np.ndarray) or data.dtype.hasobject:
        raise pickle.UnpicklingError("a tensor rebuilt from something other than a numeric array")
    tensor = torch.from_numpy(data).to(dtype=dtype)
    tensor.requires_grad = bool(requires_grad)
    return tensor


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): checked(collections.OrderedDict),
    ("collections", "defaultdict"): checked(collections.defaultdict),
    **{(module, name): value for module in ("builtins", "__builtin__") for name, value in (
        ("set", checked(set)), ("frozenset", checked(frozenset)), ("slice", slice),
        ("complex", complex))},
    ("_codecs", "encode"): codecs_encode,  # bytes in protocol-2 pickles
    ("torch", "Size"): torch.Size, ("torch", "device"): torch.device,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("numpy", "ndarray"): ARRAY_CLASS, ("numpy", "dtype"): make_dtype,
    **{(m, "_reconstruct"): reconstruct_array for m in _NUMPY_ARRAY_MODULES},
    **{(m, "scalar"): numpy_scalar for m in _NUMPY_ARRAY_MODULES},
    **{("torch._utils", name): getattr(torch._utils, name) for name in (
        "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
        "_rebuild_parameter_with_state") if hasattr(torch._utils, name)},
    ("torch._utils", "_rebuild_device_tensor_from_numpy"): _tensor_from_numpy,
}
_TORCH_DTYPES = {name: getattr(torch, name) for name in dir(torch)
                 if isinstance(getattr(torch, name, None), torch.dtype)}
#: Storage classes of the pickles (``torch.FloatStorage``, ``torch.cuda.HalfStorage``, ...).
_STORAGE_DTYPES = {"Double": torch.float64, "Float": torch.float32, "Half": torch.float16,
                   "BFloat16": torch.bfloat16, "Long": torch.int64, "Int": torch.int32,
                   "Short": torch.int16, "Char": torch.int8, "Byte": torch.uint8,
                   "Bool": torch.bool, "ComplexDouble": torch.complex128,
                   "ComplexFloat": torch.complex64, "Untyped": torch.uint8}
_LEGACY_MAGIC, _LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001


class _InertMeta(type):
    """Metaclass of placeholders: calling one is refused."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickleError(
            f"the pickle tries to call {cls.__qualname__!s}, which is not on the allow-list of "
            "data constructors; refusing to load it"
        )

    def __repr__(cls) -> str:
        return f"<inert placeholder for {cls.__qualname__}>"


def _placeholder(module: str, name: str) -> type:
    def _refuse_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickleError(
            f"the pickle tries to instantiate {module}.{name}, which is not on the allow-list; "
            "refusing to load it"
        )

    qualname = f"{module}.{name}"
    return _InertMeta(name, (), {"__new__": _refuse_new, "__qualname__": qualname,
                                 "__module__": "vposer.checkpoints.placeholders",
                                 "pickled_module": module, "pickled_name": name})


class _StorageKind:
    """What a pickled storage class (``torch.FloatStorage``) stands for: its dtype."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class _Refused(Exception):
    """A pickle asked for something this reader refuses (a safety problem, not corruption)."""


class RestrictedUnpickler(GuardedUnpickler):
    """Resolves only allow-listed globals; storages come from ``storage(pid)`` (see the module
    docstring)."""

    def __init__(self, file: BinaryIO, storage: Callable[[tuple], Any] | None = None):
        super().__init__(file, encoding="utf-8")
        self._storage = storage

    def _refuse(self, problem: str) -> None:
        raise _Refused(problem)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[module, name]
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        if module in ("torch", "torch.cuda", "torch.storage") and name.endswith("Storage") \
                and name[:-len("Storage")] in _STORAGE_DTYPES:
            return _StorageKind(_STORAGE_DTYPES[name[:-len("Storage")]])
        if module == "numpy.dtypes" and name.endswith("DType"):
            return getattr(getattr(np, "dtypes", None), name, None) or _placeholder(module, name)
        return _placeholder(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if self._storage is None or not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"an unexpected persistent id (a {type(pid).__name__}): "
                                         "only tensor storages may be referenced")
        if len(pid) < 5 or not isinstance(pid[2], str) or len(pid[2]) > 64:
            raise pickle.UnpicklingError("a malformed storage reference")
        return self._storage(pid)


def _typed(untyped: torch.UntypedStorage, dtype: torch.dtype) -> torch.storage.TypedStorage:
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def _element_size(kind: Any) -> tuple[torch.dtype, int]:
    if not isinstance(kind, _StorageKind):
        raise pickle.UnpicklingError(f"a storage of unknown type {kind!r}")
    return kind.dtype, kind.dtype.itemsize


def _count(value: Any, limit: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise pickle.UnpicklingError(f"{what} {value!r} is impossible in a file of this size")
    return value


_NUMPY_SWAP = {torch.float64: "f8", torch.float32: "f4", torch.float16: "f2",
               torch.bfloat16: "u2", torch.int64: "i8", torch.int32: "i4", torch.int16: "i2",
               torch.complex128: "c16", torch.complex64: "c8"}


def _storage_from_bytes(data: bytes, dtype: torch.dtype, little_endian: bool) -> torch.UntypedStorage:
    """A CPU storage holding ``data``, byte-swapped to this machine's order if needed."""
    if not little_endian and dtype in _NUMPY_SWAP:
        code = _NUMPY_SWAP[dtype]
        data = np.frombuffer(data, dtype=">" + code).astype("<" + code).tobytes()
    if not data:
        return torch.UntypedStorage(0)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).untyped_storage()


def _load_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        records = {info.filename: info for info in archive.infolist()}
        pickles = [n for n in records if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise CheckpointError("a zip archive without exactly one <name>/data.pkl: not a "
                                  "torch checkpoint", path)
        prefix = pickles[0][: -len("data.pkl")]
        if prefix + "constants.pkl" in records or any(
                n.startswith(prefix + "code/") for n in records):
            raise CheckpointError("this is a TorchScript archive, which holds code; refusing to "
                                  "load it (a checkpoint holds only data)", path)
        # torch stores records as they are, so none can hold more than the file (no zip bombs)
        if any(r.compress_type != zipfile.ZIP_STORED or r.file_size != r.compress_size
               for r in records.values()):
            raise CheckpointError("its records are compressed, which torch never does; refusing "
                                  "to unpack them", path)
        order = prefix + "byteorder"
        little = order not in records or archive.read(order).strip() == b"little"
        storages: dict[Any, torch.UntypedStorage] = {}

        def storage(pid: tuple) -> Any:
            _, kind, key, _location, numel = pid[:5]
            dtype, size = _element_size(kind)
            if key not in storages:
                info = records.get(f"{prefix}data/{key}")
                if info is None:
                    raise pickle.UnpicklingError(f"storage record data/{key} is missing")
                nbytes = _count(numel, info.file_size // size, "a storage of") * size
                storages[key] = _storage_from_bytes(archive.read(info)[:nbytes], dtype, little)
            return _typed(storages[key], dtype)

        return RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storage).load()


def _load_legacy(path: str) -> Any:
    file_size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if RestrictedUnpickler(fh).load() != _LEGACY_MAGIC:
            raise CheckpointError("not a PyTorch checkpoint (no legacy magic number)", path)
        if RestrictedUnpickler(fh).load() != _LEGACY_PROTOCOL:
            raise CheckpointError("an unknown legacy torch protocol version", path)
        info = RestrictedUnpickler(fh).load()
        little = not isinstance(info, dict) or info.get("little_endian", True) is not False
        roots: dict[Any, tuple[torch.UntypedStorage, torch.dtype, int]] = {}

        def storage(pid: tuple) -> Any:
            if len(pid) != 6:
                raise pickle.UnpicklingError("a malformed storage reference")
            _, kind, key, _location, numel, view = pid
            dtype, size = _element_size(kind)
            if key not in roots:
                _count(numel, file_size // size, "a storage of")
                roots[key] = (torch.UntypedStorage(numel * size), dtype, numel)
            untyped = roots[key][0]
            if view is not None:
                _, offset, count = view
                start = _count(offset, roots[key][2], "a view offset")
                count = _count(count, roots[key][2] - start, "a view of")
                untyped = untyped[start * size:(start + count) * size]
            return _typed(untyped, dtype)

        result = RestrictedUnpickler(fh, storage).load()
        keys = RestrictedUnpickler(fh).load()
        if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(roots):
            raise pickle.UnpicklingError("the list of stored storages does not match the "
                                         "storages the tensors use (data would be missing)")
        for key in keys:
            untyped, dtype, numel = roots[key]
            head = fh.read(8)
            if len(head) < 8 or struct.unpack("<q" if little else ">q", head)[0] != numel:
                raise EOFError(f"storage {key!r} is truncated or mislabelled")
            data = fh.read(untyped.nbytes())
            if len(data) < untyped.nbytes():
                raise EOFError(f"storage {key!r} is truncated")
            untyped.copy_(_storage_from_bytes(data, dtype, little))
    return result


@reads_file
def load_torch_file(path: PathLike) -> Any:
    """Load a ``torch.save`` file (zip or legacy format) safely, tensors on the CPU.

    Raises:
        CheckpointError: the file is missing, empty, truncated, corrupt or not a torch file.
        UnsafePickleError: its pickle tries to call or build something not on the allow-list.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError("no such file" if not os.path.isdir(path) else
                              "is a folder; expected a checkpoint file", path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise CheckpointError("the checkpoint file is empty", path)
    if head != b"PK\x03\x04" and head[:1] != b"\x80":
        raise CheckpointError("not a PyTorch checkpoint (neither zip nor pickle format)", path)
    try:
        return _load_zip(path) if head == b"PK\x03\x04" else _load_legacy(path)
    except UnsafePickleError as exc:
        raise UnsafePickleError(exc.problem, path) from None
    except _Refused as exc:
        raise UnsafePickleError(f"{exc}; refusing to load it", path) from None
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError("the checkpoint declares more data than fits in memory; it is "
                              "corrupt or malicious", path) from None
    except (EOFError, pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, ValueError,
            KeyError, IndexError, TypeError, AttributeError, AssertionError, OSError,
            struct.error, RecursionError, OverflowError, LookupError) as exc:
        raise CheckpointError(
            f"cannot read the checkpoint, it is truncated or corrupt ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
            path,
        ) from None
