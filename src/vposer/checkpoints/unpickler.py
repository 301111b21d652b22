"""Reading pickled torch checkpoints without executing anything.

A legitimate checkpoint's pickle names torch's tensor-rebuilding functions, storages,
``collections.OrderedDict`` and plain containers; a 2020 Lightning checkpoint also names
Lightning classes, but only as dictionary keys (``callbacks``), never calling them.

The rule implemented here:

- a global on the allow-list resolves normally;
- any other global resolves to an *inert placeholder* class, so that it can sit in the data
  (for example as a dict key) without the module being imported;
- calling a placeholder (``REDUCE``), instantiating it (``NEWOBJ``) or building on it is refused
  with :class:`~vposer.errors.UnsafePickleError`, which names the global;
- an allow-listed Python function resolves to a fresh copy for each load, so that ``BUILD`` on it
  (which sets attributes such as ``__defaults__``) cannot change torch for later loads.

:func:`load_torch_file` hands this unpickler to ``torch.load`` (both the zip format and the
legacy pre-1.6 format go through ``pickle_module``), mapping every storage to the CPU. Zip
archives are checked first: TorchScript archives (which ``torch.load`` would hand to
``torch.jit.load``, running their code) are refused, declared sizes must be plausible for the
file's size, and every record's CRC must match.
"""
from __future__ import annotations

import os
import pickle
import types
import zipfile
from typing import Any

import torch

from ..errors import CheckpointError, PathLike, UnsafePickleError

# (module, name) pairs that may be resolved and called: data constructors only.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "slice"),
        ("builtins", "complex"),
        ("__builtin__", "set"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v3"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch._utils", "_rebuild_device_tensor_from_numpy"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch.nn.parameter", "Parameter"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)
_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: built-in and extension types
_TORCH_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}
_NUMPY_DTYPE_MODULES = {"numpy.dtypes"}


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


def private_copy(obj: Any) -> Any:
    """A Python function as a new function object sharing its code (anything else unchanged):
    what a pickle's ``BUILD`` sets on the copy stays with the copy."""
    if not isinstance(obj, types.FunctionType):
        return obj
    copy = types.FunctionType(obj.__code__, obj.__globals__, obj.__name__, obj.__defaults__,
                              obj.__closure__)
    copy.__kwdefaults__ = dict(obj.__kwdefaults__) if obj.__kwdefaults__ else None
    copy.__qualname__ = obj.__qualname__
    return copy


def _construct(cls: type) -> Any:
    """A constructor for a Python class (whose attributes ``BUILD`` could otherwise change)."""
    def construct(*args: Any, **kwargs: Any) -> Any:
        return cls(*args, **kwargs)
    return construct


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            obj = super().find_class(module, name)
            if isinstance(obj, type) and not obj.__flags__ & _IMMUTABLE_TYPE:
                return _construct(obj)
            return private_copy(obj)
        if module == "torch" and name in _TORCH_DTYPES:
            return getattr(torch, name)
        if module in _NUMPY_DTYPE_MODULES and name.endswith("DType"):
            return super().find_class(module, name)
        return _placeholder(module, name)


# torch.load(pickle_module=...) expects a module-like object with Unpickler and load.
class _PickleModule:
    Unpickler = RestrictedUnpickler
    __name__ = "vposer.checkpoints.unpickler"

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()


restricted_pickle = _PickleModule()

_ZIP_MAGIC = b"PK\x03\x04"
#: Uncompressed bytes a zip checkpoint may declare beyond its own size (torch stores records
#: uncompressed, so a real checkpoint declares about its size; a zip bomb declares far more).
_ZIP_SLACK = 64 << 20


def check_zip_checkpoint(path: str) -> None:
    """Refuse a zip checkpoint that ``torch.load`` should not open.

    Raises:
        CheckpointError: damaged or truncated; a TorchScript archive (it holds code, which
            ``torch.load`` would run through ``torch.jit.load``); records declaring far more
            data than the file holds (a zip bomb); a record whose CRC does not match.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
            names = [r.filename.split("/", 1)[-1] for r in records]
            if "constants.pkl" in names or any(n.startswith("code/") for n in names):
                raise CheckpointError("this is a TorchScript archive, which holds code; refusing "
                                      "to load it (a checkpoint holds only data)", path)
            declared = sum(r.file_size for r in records)
            if declared > 2 * os.path.getsize(path) + _ZIP_SLACK:
                raise CheckpointError(f"its records declare {declared} bytes, far more than the "
                                      "file holds; refusing to unpack it", path)
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CheckpointError(f"the checkpoint is a damaged or truncated zip archive ({exc})",
                              path) from None
    if damaged is not None:
        raise CheckpointError(f"the checkpoint is corrupt: record {damaged!r} fails its CRC "
                              "check", path)


def load_torch_file(path: PathLike) -> Any:
    """Load a ``torch.save`` file (zip or legacy format) safely, tensors on the CPU.

    Raises:
        CheckpointError: the file is missing, empty, truncated, corrupt or not a torch file.
        UnsafePickleError: its pickle tries to call or build something not on the allow-list.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError("no such checkpoint file", path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise CheckpointError("the checkpoint file is empty", path)
    if head == _ZIP_MAGIC:
        check_zip_checkpoint(path)
    elif head[:1] != b"\x80":
        raise CheckpointError("not a PyTorch checkpoint (neither zip nor pickle format)", path)
    try:
        return torch.load(path, map_location="cpu", pickle_module=restricted_pickle,
                          weights_only=False)
    except UnsafePickleError as exc:
        raise UnsafePickleError(exc.problem, path) from None
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError("the checkpoint declares more data than fits in memory; it is "
                              "corrupt or malicious", path) from None
    except (EOFError, pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, ValueError,
            KeyError, IndexError, TypeError, AttributeError, AssertionError, OSError) as exc:
        raise CheckpointError(
            f"cannot read the checkpoint, it is truncated or corrupt ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
            path,
        ) from None
