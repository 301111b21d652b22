"""Loading every release layout safely, and every refusal naming the file and the problem."""
import collections
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import vposer
from vposer.checkpoints import load_model, save_model
from vposer.checkpoints.unpickler import load_torch_file
from vposer.errors import CheckpointError, UnsafePickleError



def decode_ref(model, ref):
    return model.decode(torch.tensor(ref["z"])).matrices


def test_v1_release_picks_highest_epoch_not_mtime(v1_dir, v1_ref, tmp_path):
    release = tmp_path / "release"
    shutil.copytree(v1_dir, release)
    # make the older snapshot the newest file on disk: a mtime-based loader would take it
    os.utime(release / "snapshots" / "TR00_E009.pt", (2e9, 2e9))
    model = load_model(release)
    assert Path(model.info["snapshot"]).name == "TR00_E096.pt"
    assert model.info["format"] == "v1-release" and model.info["training_config"]["latentD"] == 32
    ref = torch.tensor(v1_ref["decode_matrot"]).reshape(16, 21, 3, 3)
    assert (decode_ref(model, v1_ref) - ref).abs().max() < 5e-5
    older = load_model(release / "snapshots" / "TR00_E009.pt")  # zip format, other weights
    assert (decode_ref(older, v1_ref) - ref).abs().max() > 1e-2


def test_v2_release_loads_lightning_checkpoint_without_lightning(v2_dir, v2_ref):
    model = load_model(v2_dir)
    assert model.info["epoch"] == 13 and model.config.architecture == "v2"
    # in a fresh interpreter (other tests import lightning): loading imports no Lightning
    probe = ("import sys, vposer; vposer.load_model(sys.argv[1]); "
             "print(any(m.split('.')[0] in ('lightning', 'pytorch_lightning') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe, str(v2_dir)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
    ref = torch.tensor(v2_ref["decode_pose_body_matrot"]).reshape(16, 21, 3, 3)
    assert (decode_ref(model, v2_ref) - ref).abs().max() < 5e-5
    epoch8 = load_model(next((v2_dir / "snapshots").glob("*epoch=08*")))
    assert epoch8.info["epoch"] == 8


def test_planted_model_code_is_never_executed(v1_dir):
    # the fixture's vposer_smpl.py raises when executed; loading must not touch it
    load_model(v1_dir)
    vposer.load_model(v1_dir / "snapshots" / "TR00_E096.pt")
    # (the compat layer's own modules, human_body_prior.*vposer_smpl*, are the package's code)
    assert not any("vposer_smpl" in name and not name.startswith("human_body_prior.")
                   for name in sys.modules)


def test_legacy_cuda_tagged_storages_map_to_cpu(v1_dir):
    sd = load_torch_file(v1_dir / "snapshots" / "TR00_E096.pt")
    assert all(t.device.type == "cpu" for t in sd.values())


@pytest.mark.parametrize("target", ["dir", "file"])
def test_native_round_trip_is_identical(v1_dir, v2_dir, v2_ref, tmp_path, target):
    for source in (v1_dir, v2_dir):
        model = load_model(source)
        dest = tmp_path / (f"{source.name}.safetensors" if target == "file" else source.name)
        vposer.convert(source, dest)
        again = load_model(dest)
        assert again.info["format"] == "native"
        assert again.info["converted_from"]["format"] == model.info["format"]
        for key, value in model.state_dict().items():
            assert torch.equal(value, again.state_dict()[key]), key
        z = torch.tensor(v2_ref["z"])
        assert torch.equal(model.decode(z).matrices, again.decode(z).matrices)


def test_native_save_is_atomic_and_leaves_no_temporaries(v2_dir, tmp_path):
    save_model(load_model(v2_dir), tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]


def test_native_save_interrupted_between_its_files_loads_the_new_model(v1_dir, v2_dir, tmp_path):
    """The weights carry the config in their metadata and are written first: a stale
    config.json beside them (the process died before replacing it) does not matter."""
    target = tmp_path / "m"
    save_model(load_model(v1_dir), target)
    stale = (target / "config.json").read_text()
    v2 = load_model(v2_dir)
    save_model(v2, target)
    (target / "config.json").write_text(stale)
    again = load_model(target)
    assert again.config == v2.config
    for key, value in v2.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)


@pytest.mark.parametrize("change, problem", [
    ({"num_neurons": 10_000_000}, "declares"),
    ({"architecture": "v3"}, "architecture is 'v3'"),
    ({"num_neurons": -5}, "not a positive integer"),
    ({"format_version": "abc"}, "not a version number"),
    ({"source": [1]}, "'source' is not a mapping"),
])
def test_native_config_is_checked_before_building(v1_dir, tmp_path, change, problem):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    target = tmp_path / "m.safetensors"
    save_model(load_model(v1_dir), target)
    with safe_open(str(target), framework="pt") as fh:
        doc = json.loads(fh.metadata()["vposer_config"])
    doc.update(change)
    save_file(load_file(str(target)), str(target), metadata={"vposer_config": json.dumps(doc)})
    with pytest.raises(CheckpointError, match=problem) as err:
        load_model(target)
    assert "m.safetensors" in str(err.value)


def test_release_settings_with_yaml_aliases_are_refused(v2_dir, tmp_path):
    from vposer.errors import ConfigError

    release = tmp_path / "V02_fixture"
    shutil.copytree(v2_dir, release)
    settings = next(release.glob("*.yaml"))
    levels = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7))
    settings.write_text(settings.read_text() + levels)
    with pytest.raises(ConfigError, match="aliases") as err:
        load_model(release)
    assert settings.name in str(err.value)


# -- refusals ------------------------------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="no such file") as err:
        load_model(tmp_path / "nowhere")
    assert "nowhere" in str(err.value)


def test_empty_snapshots_folder(tmp_path):
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "model.ini").write_text("[All]\nlatentD : 32\n")
    (tmp_path / "snapshots" / "._TR00_E096.pt").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 4092)
    with pytest.raises(CheckpointError, match="no checkpoint found") as err:
        load_model(tmp_path)
    assert "snapshots" in str(err.value)


def test_resource_fork_given_directly(v1_dir):
    with pytest.raises(CheckpointError, match="resource-fork") as err:
        load_model(v1_dir / "snapshots" / "._TR00_E096.pt")
    assert "._TR00_E096.pt" in str(err.value)


@pytest.mark.parametrize("name", ["TR00_E096.pt", None])
def test_truncated_checkpoints(v1_dir, v2_dir, tmp_path, name):
    source = v1_dir / "snapshots" / name if name else next((v2_dir / "snapshots").glob("*13*"))
    data = source.read_bytes()
    bad = tmp_path / source.name
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt") as err:
        load_model(bad)
    assert source.name in str(err.value)


def test_garbage_and_empty_files(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_model(junk)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty") as err:
        load_model(empty)
    assert "empty.pt" in str(err.value)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="safetensors") as err:
        load_model(broken)
    assert "broken.safetensors" in str(err.value)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_pickle_that_calls_anything_is_refused(tmp_path, fmt):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "x": _Exploit(marker)}, evil,
               _use_new_zipfile_serialization=(fmt == "zip"))
    with pytest.raises(UnsafePickleError, match="system") as err:
        load_model(evil)
    assert "evil.pt" in str(err.value)
    assert not marker.exists()


def test_instantiating_unknown_class_is_refused(tmp_path):
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "cb": torch.nn.Linear(2, 2)}, evil)
    with pytest.raises(UnsafePickleError, match="torch.nn.modules.linear.Linear"):
        load_model(evil)


def _rewrite_pickle(source, target, edit):
    """Copy a zip checkpoint, passing its ``data.pkl`` through ``edit(bytes) -> bytes``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for name in src.namelist():
            data = src.read(name)
            out.writestr(name, edit(data) if name.endswith("data.pkl") else data)


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _unicode(text):
    return b"X" + struct.pack("<I", len(text)) + text.encode()


def test_build_on_anything_the_pickle_did_not_make_is_refused(v1_dir, tmp_path):
    """BUILD with a slot state on ``torch._utils._rebuild_tensor_v2`` would set its
    ``__defaults__`` (negating every tensor rebuilt afterwards in the process)."""
    genuine = v1_dir / "snapshots" / "TR00_E009.pt"
    before = load_torch_file(genuine)["bodyprior_dec_out.weight"].clone()
    side = (_global("torch._utils", "_rebuild_tensor_v2") + b"N}" + _unicode("__defaults__")
            + b"(}" + _unicode("neg") + b"\x88st" + b"s\x86b0")
    poisoned = tmp_path / "TR00_E100.pt"
    _rewrite_pickle(genuine, poisoned, lambda data: data[:-1] + side + b".")
    with pytest.raises(UnsafePickleError, match="set attributes of _rebuild_tensor_v2") as err:
        load_torch_file(poisoned)
    assert "TR00_E100.pt" in str(err.value)
    assert torch._utils._rebuild_tensor_v2.__defaults__ != ({"neg": True},)
    assert torch.equal(load_torch_file(genuine)["bodyprior_dec_out.weight"], before)
    # a structured dtype's state (which crashes some numpy versions) is refused too
    dtype = (_global("numpy", "dtype") + _unicode("M8") + b"\x89\x88\x87R"
             + b"(K\x03" + _unicode("<") + b"N(" + _unicode("a") + b"t}" + _unicode("a")
             + b"(" + _global("numpy", "dtype") + _unicode("f8") + b"\x89\x88\x87RK\x00tsJ"
             + struct.pack("<i", 8) + b"K\x01K\x00tb")
    crash = tmp_path / "crash.pt"
    _rewrite_pickle(genuine, crash, lambda data: data[:2] + dtype + b".")
    with pytest.raises(UnsafePickleError, match="numpy dtype with a state of its own"):
        load_torch_file(crash)


def _legacy_file(path, main: bytes, keys=(), storages=b""):
    """A legacy (pre-1.6) torch file around a hand-made data pickle."""
    head = b"".join(pickle.dumps(v, protocol=2) for v in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}))
    path.write_bytes(head + b"\x80\x02" + main + b"." + pickle.dumps(list(keys), protocol=2)
                     + storages)
    return path


@pytest.mark.parametrize("main, problem", [
    # a pickled module reference, which torch.load answers by writing a .patch file
    (b"(" + _unicode("module") + b"NNNtQ", "only tensor storages"),
    # a storage of 2**40 floats declared by a 100-byte file
    (b"(" + _unicode("storage") + _global("torch", "FloatStorage") + _unicode("0")
     + _unicode("cpu") + b"\x8a\x06\x00\x00\x00\x00\x00\x01NtQ", "impossible"),
    # a quadratic codec (punycode) as CPU bomb; an array allocated by calling numpy.ndarray
    (_global("_codecs", "encode") + _unicode("x" * 100) + _unicode("punycode") + b"\x86R",
     "punycode"),
    (_global("numpy", "ndarray") + b"(J\x00\xe1\xf5\x05t\x85R", "ndarray directly"),
])
def test_legacy_files_cannot_reach_torch_loaders_or_inflate(tmp_path, main, problem):
    bad = _legacy_file(tmp_path / "bad.pt", main)
    with pytest.raises(CheckpointError, match=problem) as err:
        load_torch_file(bad)
    assert "bad.pt" in str(err.value)
    tar = tmp_path / "old.tar.pt"  # torch's tar format: never opened
    tar.write_bytes(b"\x80" + bytes(511))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_torch_file(tar)


def test_settings_files_with_unusable_values_give_config_errors(v1_dir, v2_dir, tmp_path):
    from vposer.errors import ConfigError

    release = tmp_path / "V02_fixture"
    shutil.copytree(v2_dir, release)
    settings = next(release.glob("*.yaml"))
    original = settings.read_text()
    for extra, problem in [("deep: " + "[" * 5000 + "]" * 5000, "nested too deeply|Recursion"),
                           ("when: 2020-13-45", "month")]:
        settings.write_text(original + extra + "\n")
        with pytest.raises(ConfigError, match=problem):
            load_model(release)
    v1 = tmp_path / "vposer_v1_0"
    shutil.copytree(v1_dir, v1)
    ini = next(v1.glob("*.ini"))
    ini.write_text(ini.read_text() + "\nnum_neurons : " + "1+" * 100_000 + "1\n")
    with pytest.raises(CheckpointError, match="declares num_neurons = 1\\+1") as err:
        load_model(v1)
    assert len(str(err.value)) < 400


class _Scripted(torch.nn.Module):
    def forward(self, x):
        return x


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_archive_is_refused_before_anything_runs(tmp_path):
    scripted = tmp_path / "TR00_E100.pt"
    torch.jit.save(torch.jit.script(_Scripted()), scripted)
    with pytest.raises(CheckpointError, match="TorchScript") as err:
        load_torch_file(scripted)
    assert "TR00_E100.pt" in str(err.value)


def test_zip_bomb_and_crc_damage_are_refused(v1_dir, tmp_path):
    genuine = v1_dir / "snapshots" / "TR00_E009.pt"
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(genuine) as src, \
            zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for name in src.namelist():
            out.writestr(name, src.read(name))
        out.writestr(src.namelist()[0].split("/")[0] + "/data/999", bytes(200 << 20))
    with pytest.raises(CheckpointError, match="compressed") as err:  # torch stores records
        load_torch_file(bomb)
    assert "bomb.pt" in str(err.value)

    damaged = tmp_path / "damaged.pt"
    data = bytearray(genuine.read_bytes())
    with zipfile.ZipFile(genuine) as src:
        record = next(r for r in src.infolist() if r.filename.endswith("/data/12"))
    # the record's data follows its 30-byte local header, name and extra field
    start = record.header_offset + 30 + len(record.filename.encode()) + len(record.extra)
    data[start + record.file_size // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="CRC") as err:
        load_torch_file(damaged)
    assert "damaged.pt" in str(err.value)


@pytest.mark.parametrize("tail, problem", [
    # BINBYTES8 of 4 TiB: a MemoryError, or refused by the unpickler first on some Pythons
    (b"\x8e" + struct.pack("<Q", 1 << 42), "more data than fits|corrupt"),
    (_unicode("xyz") + b"Q", "corrupt"),  # a persistent id that is not a tuple
])
def test_malformed_pickles_give_checkpoint_errors(v1_dir, tmp_path, tail, problem):
    bad = tmp_path / "bad.pt"
    _rewrite_pickle(v1_dir / "snapshots" / "TR00_E009.pt", bad,
                    lambda data: data[:2] + tail + b".")
    with pytest.raises(CheckpointError, match=problem) as err:
        load_torch_file(bad)
    assert "bad.pt" in str(err.value)


def test_shapes_matching_no_architecture(v1_dir, tmp_path):
    sd = load_torch_file(v1_dir / "snapshots" / "TR00_E009.pt")
    sd["bodyprior_enc_fc1.weight"] = torch.zeros(512, 69)
    bad = tmp_path / "wide.pt"
    torch.save(sd, bad)
    with pytest.raises(CheckpointError, match="match no VPoser architecture") as err:
        load_model(bad)
    assert "wide.pt" in str(err.value)
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(CheckpointError, match="no VPoser architecture"):
        load_model(other)
    sd = load_torch_file(v1_dir / "snapshots" / "TR00_E009.pt")
    sd["bodyprior_dec_fc2.weight"] = torch.zeros(512, 100)
    torch.save(sd, bad)
    with pytest.raises(CheckpointError, match="bodyprior_dec_fc2.weight' has shape"):
        load_model(bad)


def test_nan_and_inf_weights(v1_dir, tmp_path):
    sd = load_torch_file(v1_dir / "snapshots" / "TR00_E009.pt")
    sd["bodyprior_dec_out.bias"][3] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(sd, bad)
    with pytest.raises(CheckpointError, match="bodyprior_dec_out.bias' contains NaN") as err:
        load_model(bad)
    assert "nan.pt" in str(err.value)


def test_several_snapshots_without_epoch_are_listed(v1_dir, tmp_path):
    (tmp_path / "snapshots").mkdir()
    for name in ("best.pt", "last.pt"):
        shutil.copy(v1_dir / "snapshots" / "TR00_E009.pt", tmp_path / "snapshots" / name)
    with pytest.raises(CheckpointError, match="best.pt, last.pt"):
        load_model(tmp_path)


def test_settings_that_contradict_the_weights(v1_dir, tmp_path):
    release = tmp_path / "r"
    shutil.copytree(v1_dir, release)
    ini = release / "TR00_004_00_WO_accad.ini"
    ini.write_text(ini.read_text().replace("latentD : 32", "latentD : 16"))
    with pytest.raises(CheckpointError, match="latentD = 16") as err:
        load_model(release)
    assert ".ini" in str(err.value)


def test_no_default_weights_message(monkeypatch, tmp_path):
    from vposer import checkpoints

    monkeypatch.setattr(checkpoints, "default_model_path", lambda: tmp_path)
    with pytest.raises(CheckpointError, match="default weights"):
        load_model(None)


def test_torch_save_files_load_as_torch_load_reads_them(tmp_path):
    """Genuine files written today, zip and legacy: dtypes (uint16 and float8 through untyped
    storages), views sharing a storage, strides, builtins of protocol 2."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    obj = {"t": base.t(), "view": base[1:, 2:], "half": base.half(), "bf16": base.bfloat16(),
           "bool": base > 3, "p": torch.nn.Parameter(torch.ones(2)), "size": torch.Size([2, 3]),
           "slice": slice(1, 5, 2), "complex": complex(1, 2), "frozen": frozenset({1, 2}),
           "empty": torch.zeros(0)}
    if hasattr(torch, "uint16"):  # torch >= 2.3
        obj["u16"] = torch.tensor([1, 2, 60000]).to(torch.uint16)
    if hasattr(torch, "float8_e4m3fn"):
        obj["f8"] = torch.ones(3).to(torch.float8_e4m3fn)
    for zip_format in (True, False):
        path = tmp_path / f"trusted_{zip_format}.pt"
        if not zip_format:  # torch.load itself cannot read these back from the legacy format
            obj = {k: v for k, v in obj.items() if k not in ("u16", "f8")}
        torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
        ours, theirs = load_torch_file(path), torch.load(path, weights_only=False)
        assert set(ours) == set(theirs)
        for key, value in theirs.items():
            if isinstance(value, torch.Tensor):
                assert ours[key].dtype == value.dtype and ours[key].stride() == value.stride(), key
                assert torch.equal(ours[key].contiguous().view(torch.uint8),
                                   value.contiguous().view(torch.uint8)), key
            else:
                assert ours[key] == value, key
        assert ours["t"].untyped_storage().data_ptr() == ours["view"].untyped_storage().data_ptr()


def test_pickles_that_would_hang_crash_or_forge_data_are_refused(v1_dir, tmp_path, monkeypatch):
    from vposer import safe_pickle

    genuine = v1_dir / "snapshots" / "TR00_E009.pt"
    dag = b"K\x01" + b"q\x00h\x00h\x00\x86" * 60  # t = (t, t), 60 levels: 2**60 paths
    cases = {
        "dagkey": b"}" + dag + b"K\x00s",  # the DAG as a dict key: hashing never ends
        "collide": b"}" + b"".join(b"\x8a\x09" + (k * (2**61 - 1)).to_bytes(9, "little")
                                   + b"K\x00s" for k in range(1, 4)),  # ints hashing alike
        "objdtype": (_global("numpy", "dtype") + _unicode("O8") + b"\x89\x88\x87R"
                     + b"(K\x03" + _unicode("|") + b"NNNK\x08K\x08K\x00tb"),  # flags 0: forged objects
        "codec": _global("_codecs", "encode") + _unicode("x") + _unicode("ascii")
        + _unicode("no-such-handler") + b"\x87R",
    }
    for name, body in cases.items():
        bad = tmp_path / f"{name}.pt"
        _rewrite_pickle(genuine, bad, lambda data, body=body: data[:2] + body + b".")
        with pytest.raises(CheckpointError) as err:
            load_torch_file(bad)
        assert f"{name}.pt" in str(err.value), name
    monkeypatch.setattr(safe_pickle, "MAX_OPCODES", 50)
    with pytest.raises(CheckpointError, match="more than 50 opcodes"):
        load_torch_file(genuine)


def test_incomplete_legacy_data_and_complex_weights_are_refused(v1_dir, tmp_path):
    sd = load_torch_file(v1_dir / "snapshots" / "TR00_E009.pt")
    partial = tmp_path / "partial.pt"
    torch.save(sd, partial, _use_new_zipfile_serialization=False)
    data = partial.read_bytes()
    # the list of stored storages: the fifth pickle; drop its last key, keep the file's length
    stream = io.BytesIO(data)
    for _ in range(4):
        pickle.load(stream) if _ < 3 else safe_skip(stream)
    head = stream.tell()
    listed = pickle.load(stream)
    tail = stream.tell()
    partial.write_bytes(data[:head] + pickle.dumps(listed[:-1], protocol=2) + data[tail:]
                        + bytes(64))
    with pytest.raises(CheckpointError, match="does not match"):
        load_torch_file(partial)
    complex_sd = dict(sd)
    complex_sd["bodyprior_enc_fc1.weight"] = sd["bodyprior_enc_fc1.weight"].to(torch.complex64)
    torch.save(complex_sd, tmp_path / "complex.pt")
    with pytest.raises(CheckpointError, match="complex64 values"):
        load_model(tmp_path / "complex.pt")


class _Skipper(pickle.Unpickler):
    """Reads past one pickle (of trusted test data) without building its tensors."""

    def find_class(self, module, name):
        if name == "OrderedDict":
            return collections.OrderedDict
        return lambda *args, **kwargs: None

    def persistent_load(self, pid):
        return None


def safe_skip(stream):
    _Skipper(stream).load()
