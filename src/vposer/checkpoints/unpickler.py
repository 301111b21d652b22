"""Reading pickled torch checkpoints without executing anything.

A legitimate checkpoint's pickle names torch's tensor-rebuilding functions, storages,
``collections.OrderedDict`` and plain containers; a 2020 Lightning checkpoint also names
Lightning classes, but only as dictionary keys (``callbacks``), never calling them.

The rule implemented here:

- a global on the allow-list resolves normally;
- any other global resolves to an *inert placeholder* class, so that it can sit in the data
  (for example as a dict key) without the module being imported;
- calling a placeholder (``REDUCE``), instantiating it (``NEWOBJ``) or building on it is refused
  with :class:`~vposer.errors.UnsafePickleError`, which names the global.

:func:`load_torch_file` hands this unpickler to ``torch.load`` (both the zip format and the
legacy pre-1.6 format go through ``pickle_module``), mapping every storage to the CPU.
"""
from __future__ import annotations

import os
import pickle
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


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
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
    if head == _ZIP_MAGIC and not zipfile.is_zipfile(path):
        raise CheckpointError("the checkpoint is a damaged or truncated zip archive", path)
    if head != _ZIP_MAGIC and head[:1] != b"\x80":
        raise CheckpointError("not a PyTorch checkpoint (neither zip nor pickle format)", path)
    try:
        return torch.load(path, map_location="cpu", pickle_module=restricted_pickle,
                          weights_only=False)
    except UnsafePickleError as exc:
        raise UnsafePickleError(exc.problem, path) from None
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, ValueError,
            KeyError, IndexError, TypeError, AttributeError, OSError) as exc:
        raise CheckpointError(
            f"cannot read the checkpoint, it is truncated or corrupt ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
            path,
        ) from None
