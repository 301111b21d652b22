"""Checks that the contract machinery catches what it claims to (run by the test suite).

``python -m fuzz.selftest`` runs stand-in readers that break the contract in each way a real
reader could (a stray exception, an unnamed file, a two-line message, an invalid result, a write
outside the sandbox, an endless loop, a huge allocation under the memory cap) and exits 0 when
every one is classified as the break it is, with nothing written outside the sandbox.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    from fuzz.contract import Sandbox, run_one
    from fuzz.targets import Invalid, Target
    from fuzz.worker import limit_memory
    from vposer.errors import InputError

    outside = Path(tempfile.gettempdir()) / f"vposer-fuzz-selftest-{id(main)}.txt"

    def write_outside(path: Path) -> None:
        with open(outside, "w") as fh:
            fh.write("x")

    def spin(path: Path) -> None:
        while True:
            pass

    def allocate(path: Path) -> None:
        bytearray(64 << 30)

    def invalid(result: object) -> None:
        raise Invalid("NaN in the result")

    cases = {
        "exception": lambda path: {}["missing"],
        "message": lambda path: (_ for _ in ()).throw(InputError("no file named here")),
        "invalid": lambda path: 1.0,
        "write": write_outside,
        "timeout": spin,
        "memory": allocate,
        "refused": lambda path: (_ for _ in ()).throw(InputError("a proper error", path)),
        "ok": lambda path: 1.0,
    }
    limit_memory(1024)
    failures = 0
    for expected, call in cases.items():
        target = Target(f"selftest_{expected}", "a stand-in", ("input.bin",), call,
                        invalid if expected == "invalid" else (lambda result: None))
        box = Sandbox(target)
        try:
            outcome = run_one(target, b"data", box, time_limit=1.0)
        finally:
            box.cleanup()
        ok = outcome.kind == expected
        failures += not ok
        print(f"{expected:10s} -> {outcome.kind:10s} {'ok' if ok else 'WRONG'} "
              f"{outcome.detail[:100]}")
    if outside.exists():
        outside.unlink()
        print("the write outside the sandbox happened")
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
