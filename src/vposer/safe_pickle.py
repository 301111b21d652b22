"""The unpickler both of the package's pickle readers build on: data in, nothing executed.

A pickle is a small program: ``GLOBAL`` names objects, ``REDUCE`` calls them, ``BUILD`` sets an
object's attributes. Subclasses say which globals resolve (``find_class``); this base adds what
an allow-list alone does not cover:

- ``BUILD`` may only fill in objects the pickle itself made: on a function, a class, a module or
  a placeholder it is refused (it would change them for the whole process), and a numpy dtype
  only takes the state it reports itself (other states can crash numpy or forge objects);
- dict keys and set elements must be names, small ints or flat tuples of them (hashing a tuple
  that shares itself 60 levels deep, or ints that all hash alike, never ends), and a pickle may
  run at most :data:`MAX_OPCODES` opcodes;
- the helpers a subclass hands out for numpy arrays and bytes are bounded: arrays are rebuilt
  from their stored data only (:data:`ARRAY_CLASS` stands for ``numpy.ndarray`` and cannot be
  called) and ``_codecs.encode`` takes only the codecs Python writes for bytes.

It is the pure-Python unpickler (``pickle._Unpickler``), whose opcodes can be intercepted; the
pickles read here hold metadata or a few arrays, so its speed does not matter.
"""
from __future__ import annotations

import pickle
import types
from typing import Any
from collections.abc import Callable

import numpy as np

__all__ = ["ARRAY_CLASS", "MAX_OPCODES", "GuardedUnpickler", "check_key", "checked",
           "codecs_encode", "make_dtype", "numpy_scalar", "reconstruct_array"]

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy < 1.26
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

#: ``numpy.core.multiarray.scalar``: a numpy scalar from its dtype and bytes.
numpy_scalar = _multiarray.scalar


class ARRAY_CLASS:  # noqa: N801  (stands for numpy.ndarray, which pickles name but never call)
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


def make_dtype(*args: Any) -> np.dtype[Any]:
    """``numpy.dtype`` as pickles call it (``dtype('f8', False, True)``). numpy parses some type
    strings with :func:`ast.literal_eval`, so a damaged one can raise ``SyntaxError`` and more:
    every failure becomes an :class:`pickle.UnpicklingError`."""
    try:
        return np.dtype(*args)
    except Exception as exc:  # noqa: BLE001  (numpy's parser raises many kinds)
        raise pickle.UnpicklingError(f"a numpy dtype from {str(args[:1])[:60]}: "
                                     f"{type(exc).__name__}") from None


def codecs_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to what Python 3 writes for bytes in protocol-2 pickles."""
    if not isinstance(text, str) or not isinstance(encoding, str) or errors != "strict" or \
            encoding.lower().replace("-", "") not in ("latin1", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"codec {encoding!r} (errors {errors!r}) is not allowed")
    return text.encode(encoding, errors)


_SHARED = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
           types.MethodType)
#: Opcodes one pickle may execute: far more than a checkpoint or body file needs (thousands),
#: far fewer than it takes to fill gigabytes with tiny objects.
MAX_OPCODES = 2_000_000
_HASH_MODULUS = 2**61 - 1  # ints equal modulo this hash alike (quadratic dicts and sets)


def check_key(key: Any) -> None:
    """Raise :class:`pickle.UnpicklingError` unless ``key`` may be a dict key or set element:
    a string, bytes, a bool, None, an int of less than 61 bits, a class (a placeholder), or a
    short flat tuple of those. Anything else could make hashing exponential (tuples sharing
    themselves) or dict insertion quadratic (colliding hashes)."""
    if key is None or isinstance(key, (str, bytes, bool, type)):
        return
    if isinstance(key, int):
        if -_HASH_MODULUS < key < _HASH_MODULUS:
            return
    elif isinstance(key, tuple) and len(key) <= 16 and not any(
            isinstance(k, tuple) for k in key):
        for k in key:
            check_key(k)
        return
    raise pickle.UnpicklingError(f"a dict key or set element of type {type(key).__name__} "
                                 "(only names, numbers and flat tuples of them are allowed)")


def checked(make: Callable[..., Any]) -> Callable[..., Any]:
    """``set``/``frozenset``/``OrderedDict``/``defaultdict`` for pickles: at most one argument,
    and every element or key checked by :func:`check_key` before anything is hashed."""
    def build(*args: Any) -> Any:
        if len(args) > 1:
            raise pickle.UnpicklingError(f"{make.__name__} with {len(args)} arguments")
        if args and make in (set, frozenset):
            items = list(args[0]) if isinstance(args[0], (list, tuple)) else None
            if items is None:
                raise pickle.UnpicklingError(f"{make.__name__} of a {type(args[0]).__name__}")
            for item in items:
                check_key(item)
            return make(items)
        if args and args[0] is not None and not isinstance(args[0], type):
            raise pickle.UnpicklingError(f"{make.__name__} of a {type(args[0]).__name__}")
        return make(*args)
    build.__name__ = make.__name__
    return build


def _plain_dtype_state(dtype: np.dtype, state: Any) -> bool:
    """True when ``state`` is exactly what ``dtype`` (a dtype the pickle just made from its
    type string) reports as its own, up to byte order: anything else (other sizes, fields, flags)
    can make numpy read memory as objects or crash."""
    own = dtype.__reduce__()[2]
    if not isinstance(state, tuple) or len(state) != len(own):
        return False
    if own[1] in "<>" and state[1] in ("<", ">", "="):
        state = state[:1] + (own[1],) + state[2:]
    return state == own


def _counted(handler: Callable[..., None]) -> Callable[..., None]:
    def run(self: GuardedUnpickler) -> None:
        self._opcodes += 1
        if self._opcodes > MAX_OPCODES:
            self._refuse(f"the pickle runs more than {MAX_OPCODES:,} opcodes")
        handler(self)
    return run


class GuardedUnpickler(pickle._Unpickler):
    """``pickle._Unpickler`` whose ``BUILD`` only fills in objects of the pickle's own making,
    whose dict keys and set elements are checked (:func:`check_key`) and which stops after
    :data:`MAX_OPCODES` opcodes (see the module docstring). Subclasses define ``find_class``
    and ``persistent_load``."""

    _opcodes = 0

    def _refuse(self, problem: str) -> None:
        raise pickle.UnpicklingError(problem)

    def load_build(self) -> None:
        target = self.stack[-2]
        name = getattr(target, "__qualname__", type(target).__name__)
        if isinstance(target, _SHARED):
            self._refuse(f"the pickle tries to set attributes of {name}, which it did not make")
        if isinstance(target, np.dtype) and not _plain_dtype_state(target, self.stack[-1]):
            self._refuse("the pickle builds a numpy dtype with a state of its own (fields, "
                         "sizes or flags); only plain dtypes are allowed")
        super().load_build()

    def load_setitem(self) -> None:
        check_key(self.stack[-2])
        super().load_setitem()

    # after a MARK the pure-Python unpickler collects the marked items in ``self.stack``
    def load_setitems(self) -> None:
        for key in self.stack[::2]:
            check_key(key)
        super().load_setitems()

    def load_dict(self) -> None:
        for key in self.stack[::2]:
            check_key(key)
        super().load_dict()

    def load_additems(self) -> None:
        for item in self.stack:
            check_key(item)
        super().load_additems()

    def load_frozenset(self) -> None:
        for item in self.stack:
            check_key(item)
        super().load_frozenset()

    dispatch: dict[int, Callable[..., None]] = {
        code: _counted(handler) for code, handler in pickle._Unpickler.dispatch.items()}
    for _op, _handler in ((pickle.BUILD, load_build), (pickle.SETITEM, load_setitem),
                          (pickle.SETITEMS, load_setitems), (pickle.ADDITEMS, load_additems),
                          (pickle.FROZENSET, load_frozenset), (pickle.DICT, load_dict)):
        dispatch[_op[0]] = _counted(_handler)
    del _op, _handler
