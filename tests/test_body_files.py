"""Reading body-model files: Python-2 chumpy pickles without chumpy, npz, and every bad file.

The ``.pkl`` files are written the way Python 2 wrote SMPL 1.x and MANO (tests/chumpy_pickles.py:
protocol 2, BINSTRING ``str``, chumpy ``Ch`` objects and old scipy sparse matrices, each only
*named* like the real classes in the stream).
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from vposer.body import UnsafeBodyFileError, load_body, read_arrays, read_body_file
from vposer.body.synthetic import random_body_arrays
from vposer.errors import BodyModelError, UnsafePickleError

from chumpy_pickles import FakeCh, FakeSelect, py2_pickle, smpl_like_pickle


@pytest.fixture(scope="module")
def smpl_arrays() -> dict:
    return random_body_arrays("smpl", seed=11)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, smpl_arrays) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("files")
    paths = {"npz": root / "smpl.npz", "pkl": root / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"}
    np.savez(paths["npz"], **smpl_arrays)
    paths["pkl"].write_bytes(py2_pickle(smpl_like_pickle(smpl_arrays)))
    mano = random_body_arrays("mano", seed=12)
    paths["mano_npz"] = root / "mano.npz"
    np.savez(paths["mano_npz"], **mano)
    paths["mano_pkl"] = root / "MANO_RIGHT.pkl"
    mano_pkl = smpl_like_pickle(mano, regressor_format="csr")
    mano_pkl.update(hands_components=np.eye(45), hands_mean=np.zeros(45), hands_coeffs=np.zeros(3))
    paths["mano_pkl"].write_bytes(py2_pickle(mano_pkl))
    return paths


def test_stream_is_python2_style(model_files):
    data = model_files["pkl"].read_bytes()
    assert data[:2] == b"\x80\x02"
    assert b"cchumpy.ch\nCh\n" in data and b"cscipy.sparse.csc\ncsc_matrix\n" in data
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in data and b"c__builtin__\nset\n" in data
    assert b"_codecs" not in data and b"builtins" not in data  # bytes as py2 str, py2 names
    with pytest.raises(ModuleNotFoundError, match="chumpy"):
        pickle.loads(data, encoding="latin1")  # what the plain pickle module does


@pytest.mark.parametrize("pkl, npz", [("pkl", "npz"), ("mano_pkl", "mano_npz")])
def test_pickle_loads_like_npz(model_files, pkl, npz):
    a, b = load_body(model_files[pkl], dtype=torch.float64), load_body(model_files[npz],
                                                                          dtype=torch.float64)
    assert a.model_type == b.model_type
    g = torch.Generator().manual_seed(0)
    params = {"root_orient": torch.randn(2, 3, generator=g, dtype=torch.float64),
              "pose_hand": torch.randn(2, a.pose_width("pose_hand"), generator=g,
                                       dtype=torch.float64),
              "betas": torch.randn(2, 10, generator=g, dtype=torch.float64)}
    if a.pose_width("pose_body"):
        params["pose_body"] = torch.randn(2, 63, generator=g, dtype=torch.float64)
    va, vb = a(**params).vertices, b(**params).vertices
    assert (va - vb).abs().max() < 1e-5  # npz arrays are float32, pickle ones float64
    assert (va[0] - va[1]).abs().max() > 0.05


def test_pickle_contents(model_files, smpl_arrays):
    raw = read_arrays(model_files["pkl"])
    assert isinstance(raw["v_template"], np.ndarray)
    assert sp.issparse(raw["J_regressor"]) and raw["J_regressor"].format == "csc"
    assert sp.issparse(raw["J_regressor_prior"]) and raw["J_regressor_prior"].format == "csr"
    np.testing.assert_array_equal(raw["J_regressor"].toarray(), smpl_arrays["J_regressor"])
    assert raw["bs_style"] == "lbs" and raw["pose_training_info"]["set"] == {1, 2}
    data = read_body_file(model_files["pkl"])
    assert data.parents.tolist() == [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16,
                                     17, 18, 19, 20, 21]


def test_chumpy_expression_only_fails_when_used(tmp_path, smpl_arrays):
    content = smpl_like_pickle(smpl_arrays)
    content["unused"] = FakeSelect(FakeCh(np.ones(3)))
    path = tmp_path / "ok.pkl"
    path.write_bytes(py2_pickle(content))
    assert load_body(path).model_type == "smpl"
    content["weights"] = FakeSelect(FakeCh(np.ones(3)))
    path.write_bytes(py2_pickle(content))
    with pytest.raises(BodyModelError, match="'weights' holds a chumpy expression.*Select"):
        load_body(path)


def _evil_pickle(marker: Path) -> bytes:
    return (b"\x80\x02cposix\nsystem\nq\x00X" + struct.pack("<I", len(f"touch {marker}"))
            + f"touch {marker}".encode() + b"\x85R.")


def test_unsafe_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(_evil_pickle(marker))
    with pytest.raises(UnsafeBodyFileError, match="refusing to unpickle posix.system") as info:
        load_body(path)
    assert isinstance(info.value, BodyModelError) and isinstance(info.value, UnsafePickleError)
    assert str(path) in str(info.value) and not marker.exists()
    # a subclass of ndarray or an arbitrary global are refused too
    path.write_bytes(b"\x80\x02cbuiltins\neval\nq\x00.")
    with pytest.raises(UnsafeBodyFileError, match="builtins.eval"):
        read_arrays(path)


def test_object_member_of_npz_goes_through_the_allow_list(tmp_path, smpl_arrays):
    path = tmp_path / "obj.npz"
    arrays = dict(smpl_arrays)
    arrays["J_regressor"] = np.array(sp.csc_matrix(smpl_arrays["J_regressor"]), dtype=object)
    np.savez(path, **arrays)
    assert load_body(path).num_joints == 24
    # the same, with a dangerous object inside: refused, not executed
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": ()})
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in arrays.items():
            if key != "posedirs":
                member = io.BytesIO()
                np.save(member, value, allow_pickle=True)
                zf.writestr(f"{key}.npy", member.getvalue())
        zf.writestr("posedirs.npy", header.getvalue() + _evil_pickle(tmp_path / "x"))
    with pytest.raises(UnsafeBodyFileError, match="posix.system"):
        load_body(path)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("drop", ["weights", "v_template", "f", "J_regressor", "shapedirs"])
def test_missing_key_is_named(tmp_path, smpl_arrays, drop):
    path = tmp_path / "m.npz"
    np.savez(path, **{k: v for k, v in smpl_arrays.items() if k != drop})
    with pytest.raises(BodyModelError, match=f"missing key '{drop}'") as info:
        load_body(path)
    assert str(path) in str(info.value)


def test_posedirs_missing_is_named(tmp_path, smpl_arrays):
    path = tmp_path / "m.npz"
    np.savez(path, **{k: v for k, v in smpl_arrays.items() if k != "posedirs"})
    with pytest.raises(BodyModelError, match="missing key 'posedirs'"):
        load_body(path)


@pytest.mark.parametrize("key, value, message", [
    ("posedirs", np.zeros((6890, 3, 100), np.float32), "'posedirs' has shape"),
    ("weights", np.zeros((6890, 23), np.float32), "'weights' has 23 joint columns"),
    ("J_regressor", np.zeros((24, 100), np.float32), "'J_regressor' has shape"),
    ("f", np.full((10, 3), 7000), "'f' indexes vertices outside"),
    ("kintree_table", np.zeros((2, 24), np.int64), "not a tree rooted at joint 0"),
    ("v_template", np.full((6890, 3), np.nan, np.float32), "'v_template' contains NaN"),
])
def test_inconsistent_file(tmp_path, smpl_arrays, key, value, message):
    path = tmp_path / "m.npz"
    np.savez(path, **dict(smpl_arrays, **{key: value}))
    with pytest.raises(BodyModelError, match=message):
        load_body(path)


def test_not_a_body_model(tmp_path, smpl_arrays):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(os.urandom(200))
    with pytest.raises(BodyModelError, match="junk.pkl"):
        load_body(junk)
    listing = tmp_path / "list.pkl"
    listing.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(BodyModelError, match="holds a list"):
        load_body(listing)
    with pytest.raises(BodyModelError, match="no such file"):
        load_body(tmp_path / "absent.npz")
    with pytest.raises(BodyModelError, match="is a folder"):
        load_body(tmp_path)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(BodyModelError, match="missing key 'v_template'"):
        load_body(other)
    path = tmp_path / "m.npz"
    np.savez(path, **smpl_arrays)
    with pytest.raises(BodyModelError, match="unknown model_type 'smpl-y'"):
        load_body(path, model_type="smpl-y")
    with pytest.raises(BodyModelError, match="a smplx model has 55"):
        load_body(path, model_type="smplx")
    assert load_body(path, model_type="SMPL").model_type == "smpl"


def test_python3_pickle_and_kintree_root_variants(tmp_path, smpl_arrays):
    arrays = dict(smpl_arrays, J_regressor=sp.csc_matrix(smpl_arrays["J_regressor"]))
    table = arrays["kintree_table"].astype(np.int64)
    table[0, 0] = -1
    arrays["kintree_table"] = table
    path = tmp_path / "py3.pkl"
    with open(path, "wb") as fh:
        pickle.dump(arrays, fh, protocol=4)
    body = load_body(path)
    assert body.parents[0].item() == -1 and body.model_type == "smpl"


def _op_global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _op_str(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text)) + text.encode()


def test_pickle_cannot_allocate_arrays_by_calling_numpy(tmp_path):
    """A 100-byte pickle calling ``numpy.ndarray((3e7, 16), 'u1')`` would make the reader
    convert 480 million values to float64 (3.8 GB)."""
    call = (_op_global("numpy", "ndarray") + b"(J" + struct.pack("<i", 30_000_000) + b"K\x10t"
            + _op_str("u1") + b"\x86R")
    bomb = tmp_path / "bomb.pkl"
    bomb.write_bytes(b"\x80\x02}" + _op_str("weights") + call + b"s.")
    with pytest.raises(BodyModelError, match="ndarray directly") as err:
        read_arrays(bomb)
    assert "bomb.pkl" in str(err.value)


def test_pickle_may_not_change_or_inflate_what_it_names(tmp_path):
    """BUILD on a helper the reader hands out (it would change it for later loads), bytearray(n)
    (2 GB from 35 bytes), arrays pre-allocated by _reconstruct, and nesting deeper than Python's
    recursion limit: all refused with the package's errors."""
    from vposer.body.legacy_pickle import UnsafeBodyFileError

    poison = (_op_global("_codecs", "encode") + b"N}" + _op_str("__defaults__") + b"(K\x01t"
              + b"s\x86b0")
    inflate = _op_global("__builtin__", "bytearray") + b"(J\x00\x00\x00\x80tR"
    prealloc = (_op_global("numpy.core.multiarray", "_reconstruct")
                + _op_global("numpy", "ndarray") + b"(J\x00\xe1\xf5\x05t" + _op_str("b")
                + b"\x87R")
    for name, body, error, message in [
        ("poison", poison + b"}", UnsafeBodyFileError, "set attributes of codecs_encode"),
        ("inflate", b"}" + _op_str("v") + inflate + b"s", UnsafeBodyFileError, "bytearray"),
        ("prealloc", b"}" + _op_str("v") + prealloc + b"s", BodyModelError, "pre-allocated"),
        ("deep", b"]" * 100_000 + b"a" * 99_999, BodyModelError, "not a body-model file"),
    ]:
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(b"\x80\x02" + body + b".")
        with pytest.raises(error, match=message) as err:
            read_arrays(path)
        assert f"{name}.pkl" in str(err.value)


def test_oversized_and_non_numeric_arrays_are_refused(tmp_path, smpl_arrays):
    """An .npy header declaring more than the member holds; complex, string or fractional
    values where real numbers or vertex indices belong."""
    path = tmp_path / "m.npz"
    np.savez(path, **smpl_arrays)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = members["weights.npy"]
    members["weights.npy"] = header.replace(b"(6890, 24)", b"(6890000000, 24)", 1)
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(huge, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(BodyModelError, match="key 'weights' is unreadable.*declares") as err:
        read_body_file(huge)
    assert "huge.npz" in str(err.value)
    for key, value, message in [
        ("v_template", smpl_arrays["v_template"].astype(np.complex64), "expected real numbers"),
        ("weights", smpl_arrays["weights"].astype(str), "expected real numbers"),
        ("f", smpl_arrays["f"] + 0.5, "not an array of vertex indices"),
    ]:
        bad = tmp_path / f"bad_{key}.npz"
        np.savez(bad, **dict(smpl_arrays, **{key: value}))
        with pytest.raises(BodyModelError, match=message):
            read_body_file(bad)
    whole = tmp_path / "whole.npz"
    np.savez(whole, **dict(smpl_arrays, f=smpl_arrays["f"].astype(np.float64)))
    assert read_body_file(whole).faces.dtype == np.int64


def test_truncated_npz_and_broken_sparse_matrix_are_named(tmp_path, smpl_arrays):
    path = tmp_path / "m.npz"
    np.savez(path, **smpl_arrays)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(BodyModelError, match="damaged or truncated .npz"):
        read_body_file(cut)
    # a csc_matrix rebuilt without its state (REDUCE of copy_reg._reconstructor, no BUILD)
    stub = (_op_global("copy_reg", "_reconstructor") + _op_global("scipy.sparse.csc", "csc_matrix")
            + _op_global("__builtin__", "object") + b"N\x87R")
    sparse = tmp_path / "sparse.pkl"
    sparse.write_bytes(b"\x80\x02}" + _op_str("J_regressor") + stub + b"s.")
    with pytest.raises(BodyModelError, match="unreadable csc sparse matrix"):
        read_arrays(sparse)


def test_dmpl_with_an_object_member_is_refused(tmp_path):
    from vposer.body.files import read_dmpl

    path = tmp_path / "dmpl.npz"
    np.savez(path, eigvec=np.array([None, 1], dtype=object))
    with pytest.raises(BodyModelError, match="dmpl.npz"):
        read_dmpl(path, 6890)


def test_python3_protocol2_empty_arrays_and_shared_structures(tmp_path):
    """Empty arrays pickled by Python 3 at protocol 2 name builtins.bytes; a tuple shared 60
    levels deep is converted once per object, not once per path."""
    path = tmp_path / "empty.pkl"
    path.write_bytes(pickle.dumps({"extra": np.zeros((0, 3))}, protocol=2))
    assert read_arrays(path)["extra"].shape == (0, 3)
    dag = b"K\x01" + b"q\x000h\x00h\x00\x86" * 24  # memo, pop, (t, t): 2**24 paths
    shared = tmp_path / "shared.pkl"
    shared.write_bytes(b"\x80\x02}" + _op_str("extra") + dag + b"s.")
    start = time.perf_counter()
    assert "extra" in read_arrays(shared)
    assert time.perf_counter() - start < 2.0  # once per object (walking every path: ~30 s)
