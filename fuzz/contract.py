"""The contract every file reader keeps, checked on one input at a time.

For any input, the reader either returns a valid result (the target's ``check``: finite arrays of
the documented shapes) or raises a :class:`vposer.errors.VPoserError` subclass whose message
names the file (or the folder) and fits on one line (at most :data:`MAX_MESSAGE` characters).
Anything else is a *break*, of one of these kinds:

- ``exception``: another exception type escaped (a ``zlib.error``, a ``KeyError``, ...);
- ``message``: a VPoserError that does not name the file, spans lines or is too long;
- ``invalid``: the result is not valid (NaN or Inf, wrong shape or type);
- ``timeout``: one input took more than :data:`TIME_LIMIT` seconds of CPU (a per-input
  ``SIGPROF`` timer raises inside the reader; a process stuck in C code is killed by the
  watchdog of :mod:`fuzz.worker` and reported as a ``hang``);
- ``memory``: a ``MemoryError`` escaped: the reader asked for more than the fuzzing process's
  address-space limit (``RLIMIT_AS``, set by :mod:`fuzz.worker`: :data:`MEMORY_LIMIT_MB` above
  what the process held after its imports);
- ``write``: the reader opened a file for writing, or created, renamed or removed one, outside
  the sandbox (a temporary folder that is the current folder and ``TMPDIR`` while the reader
  runs); the audit hook refuses the operation before it happens.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .targets import Invalid, Target

#: CPU seconds one input may take.
TIME_LIMIT = 5.0
#: Memory one input may make the process use, above its size after the imports (MiB).
MEMORY_LIMIT_MB = 2048
#: Characters a one-line error message may have.
MAX_MESSAGE = 2000

BREAK_KINDS = ("exception", "message", "invalid", "timeout", "memory", "write", "hang", "crash")


class InputTimeout(BaseException):
    """Raised inside the reader when an input runs past :data:`TIME_LIMIT` (a BaseException:
    a reader's ``except Exception`` cannot swallow it)."""


class WriteOutside(BaseException):
    """Raised by the audit hook when the reader writes outside the sandbox."""


@dataclass
class Outcome:
    """What one input did. ``kind``: ``ok`` (a valid result), ``refused`` (a proper
    VPoserError), or one of :data:`BREAK_KINDS`."""

    kind: str
    detail: str = ""
    signature: str = ""
    seconds: float = 0.0
    traceback: str = ""

    @property
    def broken(self) -> bool:
        return self.kind not in ("ok", "refused")


# ------------------------------------------------------------------------------------ sandbox
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
                "os.symlink": (1,), "os.link": (1,), "os.truncate": (0,), "os.chmod": (0,),
                "os.chown": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
                "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (1,),
                "tempfile.mkstemp": (0,), "tempfile.mkdtemp": (0,)}


class Sandbox:
    """A temporary folder that is the current folder and ``TMPDIR`` while readers run, with an
    audit hook refusing writes outside it (armed only inside :meth:`run`)."""

    _hooked = False
    _armed: Sandbox | None = None

    def __init__(self, target: Target, guard: bool = True):
        self.target = target
        self.guard = guard
        self.root = Path(tempfile.mkdtemp(prefix=f"vposer-fuzz-{target.name}-")).resolve()
        self.cwd = self.root / "cwd"
        self.tmp = self.root / "tmp"
        self.cwd.mkdir()
        self.tmp.mkdir()
        self.input_dir = target.prepare(self.root)
        self.violation = ""
        if guard and not Sandbox._hooked:
            sys.addaudithook(_audit)
            Sandbox._hooked = True

    def inside(self, path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return True
        try:
            text = os.fsdecode(path)
        except TypeError:
            return True
        if text in (os.devnull, "/dev/stdout", "/dev/stderr"):
            return True
        full = os.path.realpath(os.path.join(os.getcwd(), text))
        return full == str(self.root) or full.startswith(str(self.root) + os.sep)

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


def _audit(event: str, args: tuple) -> None:
    box = Sandbox._armed
    if box is None:
        return
    paths: tuple = ()
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        paths = (path,) if writing else ()
    elif event in _PATH_EVENTS:
        paths = tuple(args[i] for i in _PATH_EVENTS[event] if i < len(args))
    for path in paths:
        if not box.inside(path):
            Sandbox._armed = None  # what follows (the traceback) may write freely
            box.violation = f"{event} {os.fsdecode(path) if not isinstance(path, int) else path}"
            raise WriteOutside(f"the reader tried to write outside the sandbox: {box.violation}")


_limit = [TIME_LIMIT]


def _on_timeout(signum: int, frame: Any) -> None:
    raise InputTimeout(f"more than {_limit[0]:g} s of CPU on one input")


# ------------------------------------------------------------------------------------ checks
_VPOSER = re.compile(r"[/\\](vposer|human_body_prior)[/\\]")


def _frame_key(tb: Any) -> str:
    """``module.py:function`` of the innermost frame in the package (else the innermost)."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return "?"
    ours = [f for f in frames if _VPOSER.search(f.filename) and "/fuzz/" not in f.filename]
    f = (ours or frames)[-1]
    name = f.filename.replace("\\", "/")
    m = re.search(r"(?:vposer|human_body_prior)/.*$", name)
    return f"{m.group(0) if m else Path(name).name}:{f.name}"


def _squash(text: str) -> str:
    """A message with its numbers and quoted values blanked (for signatures)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'_'", text)
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", text)[:120]


def _names_file(message: str, box: Sandbox, path: Path) -> bool:
    candidates = {str(box.input_dir), str(path), os.path.realpath(box.input_dir)}
    return any(c in message for c in candidates)


def run_one(target: Target, data: bytes, box: Sandbox, time_limit: float = TIME_LIMIT
            ) -> Outcome:
    """Run ``target``'s reader on ``data`` inside ``box`` and classify what happened."""
    path = target.materialise(data, box.input_dir)
    old_cwd = os.getcwd()
    old_tmp = os.environ.get("TMPDIR"), tempfile.tempdir
    os.chdir(box.cwd)
    os.environ["TMPDIR"], tempfile.tempdir = str(box.tmp), str(box.tmp)
    timed = time_limit > 0 and hasattr(signal, "SIGPROF")
    if timed:
        _limit[0] = time_limit
        previous = signal.signal(signal.SIGPROF, _on_timeout)
        signal.setitimer(signal.ITIMER_PROF, time_limit)
    box.violation = ""
    if box.guard:
        Sandbox._armed = box
    start = time.perf_counter()
    result: Any = None
    error: BaseException | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = target.call(path)
            target.check(result)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - classified below
        error = exc
    finally:
        Sandbox._armed = None
        if timed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)
        seconds = time.perf_counter() - start
        os.chdir(old_cwd)
        if old_tmp[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp[0]
        tempfile.tempdir = old_tmp[1]
    del result
    return classify(error, box, path, seconds)


def classify(error: BaseException | None, box: Sandbox, path: Path, seconds: float
             ) -> Outcome:
    from vposer.errors import VPoserError

    if error is None:
        return Outcome("ok", seconds=seconds)
    tb = error.__traceback__
    where = _frame_key(tb)
    trace = "".join(traceback.format_exception(type(error), error, tb))[-6000:]
    name = type(error).__module__ + "." + type(error).__qualname__
    name = name.removeprefix("builtins.")
    text = str(error)
    if isinstance(error, WriteOutside) or box.violation:
        return Outcome("write", box.violation or text, f"write:{where}", seconds, trace)
    if isinstance(error, InputTimeout):
        return Outcome("timeout", text, f"timeout:{where}", seconds, trace)
    if isinstance(error, Invalid):
        return Outcome("invalid", text, f"invalid:{_squash(text)}", seconds, trace)
    if isinstance(error, MemoryError):
        return Outcome("memory", f"{name}: {text}", f"memory:{where}", seconds, trace)
    if isinstance(error, VPoserError):
        problems = []
        if not _names_file(text, box, path):
            problems.append("does not name the file")
        if len(text.splitlines()) > 1 or text.endswith(("\n", "\r")):
            problems.append("spans several lines")
        if len(text) > MAX_MESSAGE:
            problems.append(f"has {len(text)} characters")
        if problems:
            return Outcome("message", f"{name} {' and '.join(problems)}: {text[:300]!r}",
                           f"message:{'+'.join(p.split()[0] for p in problems)}:{where}",
                           seconds, trace)
        return Outcome("refused", text[:300], "", seconds)
    return Outcome("exception", f"{name}: {text[:300]}", f"exception:{name}:{where}", seconds,
                   trace)


def signature_id(signature: str) -> str:
    """A short stable id of a break's signature (file names of the regression corpus)."""
    return hashlib.sha1(signature.encode()).hexdigest()[:8]


def input_id(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:12]
