"""How the CLI reports a file it cannot read: one line naming the file, exit 1, a traceback only
with ``--debug`` or ``VPOSER_DEBUG=1`` (also for an unexpected exception inside a reader)."""
from __future__ import annotations

import pytest

from vposer import cli
from vposer.errors import CheckpointError, VPoserError, file_of, reads_file


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.err


@pytest.fixture
def broken_reader(monkeypatch, tmp_path):
    """A checkpoint whose reading hits a bug (an exception no reader expects)."""
    import vposer.checkpoints.unpickler as unpickler

    def boom(path):
        raise ZeroDivisionError("a bug in a reader")

    monkeypatch.setattr(unpickler, "_load_zip", boom)
    monkeypatch.delenv("VPOSER_DEBUG", raising=False)
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    return path


def test_unexpected_exception_names_the_file_on_one_line(capsys, broken_reader):
    code, err = _run(capsys, "info", str(broken_reader))
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    line = err.strip()
    assert line.startswith(f"vposer info: error: {broken_reader}: unexpected error while reading")
    assert "ZeroDivisionError: a bug in a reader" in line and "--debug" in line


@pytest.mark.parametrize("how", ["--debug", "VPOSER_DEBUG"])
def test_traceback_only_when_asked(capsys, broken_reader, monkeypatch, how):
    argv = ["info", str(broken_reader)]
    if how == "--debug":
        argv.insert(0, "--debug")
    else:
        monkeypatch.setenv("VPOSER_DEBUG", "1")
    code, err = _run(capsys, *argv)
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err
    assert str(broken_reader) in err.strip().splitlines()[-1]


def test_vposer_debug_zero_means_off(capsys, broken_reader, monkeypatch):
    monkeypatch.setenv("VPOSER_DEBUG", "0")
    code, err = _run(capsys, "info", str(broken_reader))
    assert code == 1 and "Traceback" not in err


def test_package_error_is_one_line_and_exit_1(capsys, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x02garbage")
    code, err = _run(capsys, "info", str(bad))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"vposer info: error: {bad}: ") and "Traceback" not in err


def test_error_messages_are_one_line_and_bounded():
    """Names quoted from a damaged file cannot break the line or flood the terminal."""
    err = CheckpointError("refusing to unpickle 'a\nb\rc\x00d\u2028e' " + "x" * 5000, "f.pt")
    text = str(err)
    assert text.splitlines() == [text] and len(text) <= 1100
    assert "'a\\nb\\rc\\x00d\\u2028e'" in text and "more characters" in text
    assert err.path == "f.pt" and err.problem in text


def test_reads_file_records_the_innermost_path():
    @reads_file
    def inner(path):
        raise KeyError("x")

    @reads_file
    def outer(path):
        return inner(path + "/inner")

    with pytest.raises(KeyError) as info:
        outer("folder")
    assert file_of(info.value) == "folder/inner"

    @reads_file
    def proper(path):
        raise VPoserError("named", path)

    with pytest.raises(VPoserError) as info:
        proper("p")
    assert file_of(info.value) is None
