"""The unpickler both of the package's pickle readers build on: data in, nothing executed.

A pickle is a small program: ``GLOBAL`` names objects, ``REDUCE`` calls them, ``BUILD`` sets an
object's attributes. Subclasses say which globals resolve (``find_class``); this base adds what
an allow-list alone does not cover:

- ``BUILD`` may only fill in objects the pickle itself made: on a function, a class, a module or
  a placeholder it is refused (it would change them for the whole process), and on a numpy dtype
  only the plain state of a scalar dtype is accepted (structured states can crash numpy);
- the helpers a subclass hands out for numpy arrays and bytes are bounded: arrays are rebuilt
  from their stored data only (:data:`ARRAY_CLASS` stands for ``numpy.ndarray`` and cannot be
  called) and ``_codecs.encode`` takes only the codecs Python writes for bytes.

It is the pure-Python unpickler (``pickle._Unpickler``), whose opcodes can be intercepted; the
pickles read here hold metadata or a few arrays, so its speed does not matter.
"""
from __future__ import annotations

import pickle
import types
from typing import Any, Callable

import numpy as np

__all__ = ["ARRAY_CLASS", "GuardedUnpickler", "codecs_encode", "numpy_scalar",
           "reconstruct_array"]

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy < 1.26
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

#: ``numpy.core.multiarray.scalar``: a numpy scalar from its dtype and bytes.
numpy_scalar = _multiarray.scalar


class ARRAY_CLASS:  # noqa: N801: stands for numpy.ndarray, which pickles name but never call
    """Resolves ``numpy.ndarray``: accepted by :func:`reconstruct_array`, refused if called."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("the pickle calls numpy.ndarray directly; arrays are only "
                                     "rebuilt from their stored data")


def reconstruct_array(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` as pickles use it: an empty array whose ``BUILD``
    then brings shape, dtype and data (numpy checks the data's length)."""
    if subtype is not ARRAY_CLASS:
        raise pickle.UnpicklingError(f"array subclass {subtype!r} is not allowed")
    if not isinstance(shape, tuple) or int(np.prod(shape, dtype=np.float64)) != 0:
        raise pickle.UnpicklingError(f"an array is pre-allocated with shape {shape!r}; pickles "
                                     "of arrays start empty")
    return _multiarray._reconstruct(np.ndarray, shape, dtype)


def codecs_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to what Python 3 writes for bytes in protocol-2 pickles."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") not in (
            "latin1", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return text.encode(encoding, errors)


_SHARED = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
           types.MethodType)


def _plain_dtype_state(state: Any) -> bool:
    """True for the ``BUILD`` state numpy writes for a scalar dtype: ``(version, byte order,
    None, None, None, size, alignment, flags[, metadata])`` with no subarray or fields."""
    return (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=") and state[2] is None and state[3] is None
            and state[4] is None and all(isinstance(v, int) for v in state[5:8])
            and (len(state) == 8 or state[8] is None))


class GuardedUnpickler(pickle._Unpickler):
    """``pickle._Unpickler`` whose ``BUILD`` only fills in objects of the pickle's own making
    (see the module docstring). Subclasses define ``find_class`` and ``persistent_load``."""

    def _refuse(self, problem: str) -> None:
        raise pickle.UnpicklingError(problem)

    def load_build(self) -> None:
        target = self.stack[-2]
        name = getattr(target, "__qualname__", type(target).__name__)
        if isinstance(target, _SHARED):
            self._refuse(f"the pickle tries to set attributes of {name}, which it did not make")
        if isinstance(target, np.dtype) and not _plain_dtype_state(self.stack[-1]):
            self._refuse("the pickle builds a structured numpy dtype; only plain dtypes are "
                         "allowed")
        super().load_build()

    dispatch: dict[int, Callable[..., None]] = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build
