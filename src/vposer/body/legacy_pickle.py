"""A restricted unpickler for body-model ``.pkl`` files (SMPL 1.x, MANO, converted SMPL-X).

Those files were written by Python 2 (protocol 2) and hold ``chumpy.ch.Ch`` objects, scipy
sparse matrices under module paths that no longer exist (``scipy.sparse.csc``), numpy arrays and a
few ``__builtin__`` names. chumpy does not install on current numpy, and a pickle can run any
code, so this reader resolves only an allow-list of globals:

- numpy array, dtype and scalar reconstruction (``numpy.core`` and ``numpy._core`` paths);
- ``__builtin__``/``builtins`` containers (``set``, ``frozenset``, ``object`` ...), the
  ``copy_reg`` reconstructor for those, ``_codecs.encode`` for bytes written by Python 3;
- chumpy classes (``chumpy.*``): turned into plain arrays from the ``x`` of their state
  (chumpy expressions without a stored ``x`` are kept as opaque stubs, an error only if used);
- scipy sparse matrices under any ``scipy.sparse`` path: rebuilt as current scipy matrices.

Everything else raises :class:`UnsafeBodyFileError` naming the file and the refused global.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
from typing import Any

import numpy as np

from .._archive import describe
from .._types import PathLike
from ..errors import BodyModelError, UnsafePickleError
from ..safe_pickle import ARRAY_CLASS, GuardedUnpickler, checked, codecs_encode, make_dtype, numpy_scalar, \
    reconstruct_array

__all__ = ["UnsafeBodyFileError", "load_legacy_pickle", "unconverted", "unpickle_restricted"]


class UnsafeBodyFileError(BodyModelError, UnsafePickleError):
    """A body-model pickle asked for a global outside the allow-list."""


class _ChumpyStub:
    """Stands for any chumpy object while unpickling; keeps its state dict."""

    chumpy_name = "chumpy.ch.Ch"

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _SparseStub:
    """Stands for a pickled scipy sparse matrix; keeps its state dict."""

    sparse_format = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _numpy_globals() -> dict[str, Any]:
    """The numpy names a body-model pickle may use (arrays only from their stored data)."""
    try:
        from numpy._core import numeric
    except ImportError:  # numpy < 1.26
        from numpy.core import numeric  # type: ignore[no-redef]

    def frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        return numeric._frombuffer(buf, dtype, shape, order)

    return {"_reconstruct": reconstruct_array, "scalar": numpy_scalar, "_frombuffer": frombuffer,
            "ndarray": ARRAY_CLASS, "dtype": make_dtype}


_NUMPY = _numpy_globals()


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copy_reg._reconstructor`` for the allowed stub classes only."""
    if base is not object or not issubclass(cls, (_ChumpyStub, _SparseStub)):
        raise pickle.UnpicklingError(f"cannot reconstruct {cls!r} from {base!r}")
    return object.__new__(cls)


def _bytes(*args: Any) -> bytes:
    """``bytes`` as Python 3 pickles it at protocol 2 (``bytes()`` for empty data); never
    ``bytes(n)``, which would allocate n zero bytes."""
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    raise pickle.UnpicklingError("bytes() is only rebuilt from bytes")


# builtins a pickle may name; none can inflate a small input (no list(), bytes(n), ...)
_BUILTINS = {
    "object": object, "set": checked(set), "frozenset": checked(frozenset), "complex": complex,
    "slice": slice, "bool": bool, "int": int, "float": float, "str": str, "bytes": _bytes,
}
_SPARSE_FORMATS = ("csc", "csr", "coo", "bsr", "dia", "lil", "dok")


def _chumpy_class(module: str, name: str) -> type:
    return type(name, (_ChumpyStub,), {"chumpy_name": f"{module}.{name}"})


def _sparse_class(module: str, name: str) -> type:
    fmt = name.split("_")[0]
    return type(name, (_SparseStub,), {"sparse_format": fmt})


class _RestrictedUnpickler(GuardedUnpickler):
    """Resolves only the allow-listed globals; see the module docstring."""

    def __init__(self, file: io.BufferedIOBase, path: str):
        super().__init__(file, encoding="latin1")
        self._path = path
        self._stub_types: dict[tuple[str, str], type] = {}

    def _refuse(self, problem: str) -> None:
        raise UnsafeBodyFileError(f"{problem}; refusing to load it", self._path)

    def find_class(self, module: str, name: str) -> Any:
        if module in ("__builtin__", "builtins") and name in _BUILTINS:
            return _BUILTINS[name]
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module == "_codecs" and name == "encode":
            return codecs_encode
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                      "numpy.core.numeric", "numpy._core.numeric") and name in _NUMPY:
            return _NUMPY[name]
        if module == "chumpy" or module.startswith("chumpy."):
            key = (module, name)
            if key not in self._stub_types:
                self._stub_types[key] = _chumpy_class(module, name)
            return self._stub_types[key]
        if module.startswith("scipy.sparse") and name.split("_")[0] in _SPARSE_FORMATS \
                and name.endswith(("_matrix", "_array")):
            key = (module, name)
            if key not in self._stub_types:
                self._stub_types[key] = _sparse_class(module, name)
            return self._stub_types[key]
        raise UnsafeBodyFileError(
            f"refusing to unpickle {module}.{name}: a body-model pickle may only hold arrays, "
            "sparse matrices and chumpy arrays",
            self._path,
        )


def _to_sparse(stub: _SparseStub, path: str) -> Any:
    import scipy.sparse as sp

    state = getattr(stub, "state", None)
    state = state if isinstance(state, dict) else {}
    shape = state.get("_shape", state.get("shape"))
    fmt = stub.sparse_format
    try:
        if fmt in ("csc", "csr", "bsr"):
            cls = {"csc": sp.csc_matrix, "csr": sp.csr_matrix, "bsr": sp.bsr_matrix}[fmt]
            matrix = cls((state["data"], state["indices"], state["indptr"]), shape=shape)
        elif fmt == "coo":
            rows = state.get("row", state.get("coords", (None, None))[0])
            cols = state.get("col", state.get("coords", (None, None))[1])
            matrix = sp.coo_matrix((state["data"], (rows, cols)), shape=shape)
        else:
            raise BodyModelError(f"unsupported sparse matrix format {fmt!r} in the pickle", path)
        # every index within the shape, index pointers in order: scipy's own constructor checks
        # neither, and densifying a damaged matrix writes outside its array (a crash)
        if fmt == "coo":
            _check_coo(matrix)
        else:
            matrix.check_format(full_check=True)
        return matrix
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise BodyModelError(f"unreadable {fmt} sparse matrix in the pickle ({exc})", path) from exc


def _check_coo(matrix: Any) -> None:
    """Raise ValueError unless every (row, column) of a COO matrix lies within its shape."""
    for index, size in zip((matrix.row, matrix.col), matrix.shape):
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= size):
            raise ValueError("an index lies outside the matrix's shape")


def _to_array(stub: _ChumpyStub, path: str) -> Any:
    """The array of a plain ``Ch``; other chumpy expressions stay stubs (see :func:`unconverted`)."""
    state = stub.state if isinstance(getattr(stub, "state", None), dict) else {}
    if "x" not in state:
        return stub
    return np.asarray(_plain(state["x"], path))


def unconverted(value: Any) -> str | None:
    """The chumpy class name when ``value`` is a chumpy expression that could not be turned into
    an array (it has no stored ``x``), else None."""
    return value.chumpy_name if isinstance(value, _ChumpyStub) else None


def _plain(obj: Any, path: str, done: dict[int, Any] | None = None) -> Any:
    """Replace the stubs inside ``obj`` (recursively through containers) by plain values; an
    object shared by several containers is converted once (a pickle can share one tuple 60
    levels deep, 2**60 paths)."""
    done = {} if done is None else done
    key = id(obj)
    if key in done:
        return done[key][1]
    if isinstance(obj, _ChumpyStub):
        value: Any = _to_array(obj, path)
    elif isinstance(obj, _SparseStub):
        value = _to_sparse(obj, path)
    elif isinstance(obj, dict):
        value = {k: _plain(v, path, done) for k, v in obj.items()}
    elif isinstance(obj, (list, tuple)):
        value = type(obj)(_plain(v, path, done) for v in obj)
    elif isinstance(obj, np.ndarray) and obj.dtype == object:  # e.g. an .npz object member
        if obj.shape == ():
            value = _plain(obj.item(), path, done)
        else:
            value = np.empty(obj.shape, dtype=object)
            for index, item in np.ndenumerate(obj):
                value[index] = _plain(item, path, done)
    else:
        return obj
    done[key] = (obj, value)  # keeps obj alive, so its id is not reused meanwhile
    return value


def unpickle_restricted(data: bytes, path: PathLike = "<bytes>") -> Any:
    """Unpickle ``data`` through the allow-list, chumpy objects and sparse matrices converted.

    Raises:
        UnsafeBodyFileError: a refused global.
        BodyModelError: not a pickle, or a corrupt one.
    """
    path = os.fspath(path)
    try:
        return _plain(_RestrictedUnpickler(io.BytesIO(data), path).load(), path)
    except (UnsafeBodyFileError, BodyModelError):
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, RecursionError, OverflowError, LookupError,
            struct.error) as exc:
        raise BodyModelError("not a body-model file: neither an .npz archive nor a readable "
                             f"pickle ({describe(exc)})", path) from None


def load_legacy_pickle(path: PathLike) -> Any:
    """Read a ``.pkl`` body-model file safely (see the module docstring)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise BodyModelError(f"cannot read the file ({exc.strerror})", path) from exc
    return unpickle_restricted(data, path)

