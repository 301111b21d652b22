"""Every ``bash`` and ``python`` block of README.md runs as written, in README order, in one
scratch folder (later blocks use the files earlier ones made).

``vposer`` command lines run in-process (``vposer.cli.main``) and must exit 0; any other command
needs a marker. An HTML comment right before a block tells this test about it:

* ``<!-- readme-test: skip REASON -->``: not run (installs, servers, hour-long runs), with REASON.
* ``<!-- readme-test: needs ~/models/NAME ... -->``: the block reads licensed downloads; they are
  stood in for by the project's shared fixtures (``../shared``) under a scratch ``$HOME``, and
  the block is skipped where those are absent.

Sections being rewritten by other work (listed in :data:`PENDING`) are skipped until it lands.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
#: Sections whose snippets other work in progress is (re)writing, and why they wait.
PENDING: dict[str, str] = {}
#: Licensed downloads the README names, and the shared fixtures that stand in for them.
STAND_INS = {"~/models/V02_05": "fixtures/vposer/V02_fixture",
             "~/models/vposer_v1_0": "fixtures/vposer/vposer_v1_snapshot"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|needs)\b\s*(.*?)\s*-->")


@dataclass
class Block:
    section: str
    language: str
    code: str
    line: int
    marker: tuple[str, str] | None

    @property
    def id(self) -> str:
        return f"L{self.line}-{re.sub(r'[^a-z0-9]+', '-', self.section.lower()).strip('-')}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced ``bash`` and ``python`` blocks with their section and the marker before them."""
    blocks, section, marker, fence = [], "", None, None
    for number, line in enumerate(text.splitlines(), 1):
        if fence is not None:
            if line.startswith("```"):
                if fence[0] in ("bash", "python"):
                    blocks.append(Block(section, fence[0], "\n".join(fence[2]), fence[1], marker))
                fence, marker = None, None
            else:
                fence[2].append(line)
        elif line.startswith("```"):
            fence = (line[3:].strip(), number, [])
        elif line.startswith("#"):
            section, marker = line.lstrip("#").strip(), None
        elif MARKER.search(line):
            found = MARKER.search(line)
            marker = (found.group(1), found.group(2))
        elif line.strip() and marker is not None and not line.startswith("<!--"):
            marker = None  # a marker applies to the block right after it only
    return blocks


BLOCKS = readme_blocks((REPO / "README.md").read_text(encoding="utf-8"))


def command_lines(code: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped, ``&&`` split."""
    joined = re.sub(r"\\\n", " ", code)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1:]
    return commands


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One scratch folder for the whole README, and a scratch ``$HOME`` whose ``~/models`` holds
    the shared fixtures that stand in for the licensed downloads (where present)."""
    home = tmp_path_factory.mktemp("home")
    (home / "models").mkdir()
    for name, fixture in STAND_INS.items():
        if (SHARED / fixture).exists():
            (home / name[2:]).symlink_to(SHARED / fixture)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        yield tmp_path_factory.mktemp("readme")


def test_the_readme_has_snippets_to_run():
    runnable = [b for b in BLOCKS if b.section not in PENDING and (b.marker or ("",))[0] != "skip"]
    assert len(runnable) >= 6, [b.id for b in BLOCKS]
    markers = [b.marker for b in BLOCKS if b.marker]
    assert all(reason for _, reason in markers), "a readme-test marker without its reason"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_snippet_runs_as_written(block: Block, workdir: Path, monkeypatch, capsys):
    if block.section in PENDING:
        pytest.skip(f"section '{block.section}' is {PENDING[block.section]}")
    kind, reason = block.marker or ("", "")
    if kind == "skip":
        pytest.skip(f"README.md:{block.line}: {reason}")
    if kind == "needs":
        missing = [n for n in reason.split() if not Path(os.path.expanduser(n)).exists()]
        if missing:
            pytest.skip(f"README.md:{block.line} needs licensed files ({', '.join(missing)}); the "
                        f"shared fixtures that stand in for them are absent")
    monkeypatch.chdir(workdir)
    if block.language == "python":
        exec(compile(block.code, f"README.md:{block.line}", "exec"), {"__name__": "__readme__"})
        return
    from vposer.cli import main

    for words in command_lines(block.code):
        assert words[0] == "vposer", (f"README.md:{block.line}: '{' '.join(words)}' is not a vposer "
                                      "command; mark the block <!-- readme-test: skip REASON -->")
        code = main(words[1:])
        assert code == 0, f"README.md:{block.line}: {' '.join(words)} exited {code}: " \
                          f"{capsys.readouterr().err}"
