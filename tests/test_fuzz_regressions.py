"""The fuzz harness (``fuzz/``): its regression corpus replayed, its guards, a short smoke run.

Every input that ever broke a reader's contract (see ``fuzz/contract.py``: a stray exception, an
error that does not name the file or spans lines, an invalid result, a hang, a crash, too much
memory, a write outside a temporary folder) is kept in ``tests/fuzz_regressions/<target>/`` and
must now be read or refused with a one-line :class:`~vposer.errors.VPoserError` naming the file.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz.contract import Sandbox, run_one  # noqa: E402
from fuzz.targets import TARGETS, available  # noqa: E402

CORPUS = Path(__file__).parent / "fuzz_regressions"
CASES = sorted((p.parent.name, p) for p in CORPUS.glob("*/*") if p.is_file())


def _replay(target: str, data: bytes):
    if available(target):
        pytest.skip(f"target {target} needs {available(target)}")
    box = Sandbox(TARGETS[target], guard=False)  # the write guard: test_guards, in a child
    try:
        return run_one(TARGETS[target], data, box), box
    finally:
        box.cleanup()


def test_corpus_is_small_and_known():
    assert CASES, "the regression corpus is empty"
    assert {t for t, _ in CASES} <= set(TARGETS)
    assert sum(p.stat().st_size for _, p in CASES) < 4 << 20  # a few MB at most


@pytest.mark.parametrize("target,path", CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_regression_input_keeps_the_contract(target, path):
    outcome, _ = _replay(target, path.read_bytes())
    assert not outcome.broken, f"{outcome.signature}\n{outcome.detail}\n{outcome.traceback}"


def test_damaged_compressed_open_body_is_a_body_model_error(tmp_path):
    """The issue's case: a damaged copy of the (deflated) open body made numpy raise a raw
    ``zlib.error`` ("invalid distance ...") from ``vposer.load_body``. The fuzzer's input is in
    the corpus; here a damaged copy is also made by hand, checked to break numpy itself."""
    import zipfile
    import zlib

    import numpy as np

    import vposer
    from vposer.body import open_body_path
    from vposer.errors import BodyModelError

    assert list(CORPUS.glob("body_npz/exception-aa99faf1-*.npz")), "the fuzzer's zlib input"
    data = Path(open_body_path()).read_bytes()
    with zipfile.ZipFile(open_body_path()) as zf:
        members = [i for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED]
    path = tmp_path / "damaged_open_body.npz"

    def damaged_copies():
        for member in sorted(members, key=lambda i: i.compress_size / i.file_size):
            head = member.header_offset  # the local header's own name and extra lengths
            start = head + 30 + int.from_bytes(data[head + 26:head + 28], "little") \
                + int.from_bytes(data[head + 28:head + 30], "little")
            for frac in (0.5, 0.3, 0.7):
                at = start + int(member.compress_size * frac)
                for pattern in (b"\xff" * 64, b"\x00" * 64, bytes(range(64))):
                    yield member, data[:at] + pattern + data[at + 64:]

    for member, copy in damaged_copies():
        path.write_bytes(copy)
        try:
            with np.load(path) as npz:
                npz[member.filename[:-4]]
        except zlib.error:  # the failure, straight from numpy
            break
        except Exception:  # another damage (a CRC): the next copy
            continue
    else:
        pytest.skip("could not make numpy raise zlib.error on this numpy")
    with pytest.raises(BodyModelError, match="zlib.error") as err:
        vposer.load_body(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_guards_catch_every_kind_of_break():
    """Stand-in readers that raise, hang, allocate, write outside the sandbox: each is caught
    and classified (a child process: the audit hook and the memory cap stay there)."""
    proc = subprocess.run([sys.executable, "-m", "fuzz.selftest"], cwd=REPO, text=True,
                          capture_output=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.fuzz
def test_smoke_every_target_briefly(tmp_path):
    """CI's short fuzzing run: every target, the built-in mutator, a fixed seed, at most about
    2 s or 400 inputs each; any break fails it (the input is kept under tmp_path)."""
    found = tmp_path / "found"
    cmd = [sys.executable, str(REPO / "fuzz" / "run.py"), "--all", "--engine", "mutate",
           "--seconds", "2", "--max-inputs", "400", "--seed", "0", "--findings", str(found),
           "--work", str(tmp_path / "work"), "--no-log"]
    proc = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, report
    assert "0 new break(s)" in proc.stdout.splitlines()[-1], report
    assert not found.exists() or not any(found.rglob("*")), report
    lines = [line for line in proc.stdout.splitlines() if " inputs in " in line]
    assert len(lines) == len([t for t in TARGETS if not available(t)]), report


def test_worker_saves_a_fixed_breaks_signature_when_it_comes_back(tmp_path, monkeypatch):
    """A break whose signature is already in the corpus (all fixed) has a new cause: the worker
    saves it (once per run) instead of skipping it. A 10-minute run once counted 821 stray
    ``TypeError`` escapes of ``poses`` and saved none, as their signature matched a fixed one."""
    import argparse

    from fuzz import worker
    from fuzz.contract import input_id

    new = CORPUS / "poses" / "exception-8d9b7c4a-b9ff32bf3fe8.npz"
    old = next(p for p in (CORPUS / "poses").glob("exception-8d9b7c4a-*") if p != new)
    findings = tmp_path / "findings"
    (findings / "poses").mkdir(parents=True)
    (findings / "poses" / old.name).write_bytes(old.read_bytes())
    args = argparse.Namespace(work=str(tmp_path / "work"), findings=str(findings),
                              hang_seconds=60, time_limit=5, engine="mutate", seed=0, memory_mb=2048)
    runner = worker.Runner("poses", args, "test")
    # the fixed reader refuses the input; put the old one back to see the break come again
    from vposer import _archive
    monkeypatch.setattr(_archive, "ARCHIVE_ERRORS",
                        tuple(e for e in _archive.ARCHIVE_ERRORS if e is not TypeError))
    import vposer.posefiles
    monkeypatch.setattr(vposer.posefiles, "ARCHIVE_ERRORS", _archive.ARCHIVE_ERRORS)
    for _ in range(2):
        assert runner.one(new.read_bytes()).kind == "exception"
    assert [b["recurs"] for b in runner.breaks] == [True]
    assert (findings / "poses" / f"exception-8d9b7c4a-{input_id(new.read_bytes())}.npz").is_file()
