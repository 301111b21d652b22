"""Body-model pickles written the way Python 2 wrote SMPL 1.x and MANO, shared by the tests
(tests/test_body_files.py) and the fuzz seeds (fuzz/seeds.py).

Protocol 2, byte strings as ``str`` (BINSTRING), ``__builtin__`` / ``copy_reg`` names, arrays
through ``numpy.core.multiarray._reconstruct``, ``chumpy.ch.Ch`` objects whose state holds the
array under ``x``, and sparse matrices under the old ``scipy.sparse.csc`` / ``csr`` module paths.
The stand-in classes below are only *named* like chumpy's and scipy's in the pickle stream.
"""
from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import scipy.sparse as sp

class FakeCh:
    """Pickles like a chumpy ``Ch``: NEWOBJ of ``chumpy.ch.Ch`` and its attribute dict."""

    def __init__(self, x: np.ndarray):
        self.x = np.asarray(x, dtype=np.float64)
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False


class FakeSelect:
    """A chumpy expression (``chumpy.reordering.Select``): no stored ``x``."""

    def __init__(self, a: FakeCh):
        self.a = a
        self.idxs = np.arange(3)


class FakeSparse:
    """Pickles like a scipy sparse matrix of 2015 (attribute dict with ``_shape``)."""

    fmt = ""

    def __init__(self, matrix):
        m = matrix.tocsc() if self.fmt == "csc" else matrix.tocsr()
        self._shape = m.shape
        self.maxprint = 50
        self.format = self.fmt
        self.indices, self.indptr, self.data = m.indices, m.indptr, m.data
        self.has_sorted_indices = True


class FakeCsc(FakeSparse):
    fmt = "csc"


class FakeCsr(FakeSparse):
    fmt = "csr"


_NAMES = {
    FakeCh: ("chumpy.ch", "Ch"),
    FakeSelect: ("chumpy.reordering", "Select"),
    FakeCsc: ("scipy.sparse.csc", "csc_matrix"),
    FakeCsr: ("scipy.sparse.csr", "csr_matrix"),
}
_MODULES = {"numpy._core.multiarray": "numpy.core.multiarray", "builtins": "__builtin__",
            "copyreg": "copy_reg"}


class Py2Pickler(pickle._Pickler):
    """Writes protocol-2 streams as Python 2 did: ``str`` as BINSTRING, Python 2 module names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None) -> None:
        if obj in _NAMES:
            module, qualname = _NAMES[obj]
        else:
            module = _MODULES.get(obj.__module__, obj.__module__)
            qualname = name or obj.__qualname__
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("ascii"))
        self.memoize(obj)


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def smpl_like_pickle(arrays: dict, regressor_format: str = "csc") -> dict:
    """The structure of an SMPL 1.x / MANO pickle around the given arrays."""
    out = {
        "v_template": FakeCh(arrays["v_template"]),
        "shapedirs": FakeCh(arrays["shapedirs"]),
        "posedirs": arrays["posedirs"].astype(np.float64),
        "weights": FakeCh(arrays["weights"]),
        "J_regressor": (FakeCsc if regressor_format == "csc" else FakeCsr)(
            sp.csc_matrix(arrays["J_regressor"].astype(np.float64))),
        "J_regressor_prior": FakeCsr(sp.csr_matrix(arrays["J_regressor"])),
        "kintree_table": arrays["kintree_table"].astype(np.int64),
        "f": arrays["f"].astype(np.uint32),
        "J": FakeCh(np.zeros((arrays["weights"].shape[1], 3))),
        "weights_prior": FakeCh(arrays["weights"]),
        "vert_sym_idxs": np.arange(arrays["v_template"].shape[0]),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "pose_training_info": {"lambda": 1.0, "set": {1, 2}},
    }
    return out
