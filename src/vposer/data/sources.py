"""Motion-capture sources: finding the takes under a path, telling their formats apart, reading them.

A *source* is one path given to ``vposer import-mocap``: a file, or a folder searched recursively.
Formats are told from the files (``.gz`` files read as their plain names)::

    cmu_expmap.npz + skeleton.json   the CMU exponential-map set (keeps its train/test split)
    *.bvh                            BVH (any joint naming of vposer.data.mapping, or --mapping)
    *.amc  (+ *.asf)                 ASF/AMC: each AMC with its skeleton (see pair_asf)
    *.json                           DeepMimic motion (a "Frames" list) with its character file
                                     (a "Skeleton"): the only one in the motion's folder, else
                                     the only one in the source, or --character

Other files are ignored. Every take is read into one :class:`MocapTake` (source-skeleton global
rotations and positions), which :mod:`vposer.data.mocap` retargets.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .mapping import resolve_mapping
from .skeleton import Skeleton
from .textfiles import plain_name, read_text
from .._types import PathLike


__all__ = ["MocapTake", "SourceOptions", "TakeFile", "find_takes", "read_take"]

#: Formats of a take file, by its plain suffix.
SUFFIXES = {".bvh": "bvh", ".amc": "amc", ".json": "json"}
#: Frame rate of AMC files, which do not state one (CMU captured at 120 Hz).
AMC_DEFAULT_FPS = 120.0


@dataclass
class SourceOptions:
    """How to read one source.

    Attributes:
        name: the source's name in provenance and reports (default: the folder or file name).
        fps: frame rate overriding the files' own: a number for every take, or
            ``{folder: rate}`` for the takes under a folder of the source (``{"salsa": 60}``).
        mapping: ``{SMPL joint: source joint}`` for skeletons with other names.
        asf: the ASF skeleton of every AMC file (default: paired by name, :func:`pair_asf`).
        character: the DeepMimic character of every motion file (default: found beside it).
    """

    name: str | None = None
    fps: None | float | dict[str, float] = None
    mapping: dict[str, str] | None = None
    asf: PathLike | None = None
    character: PathLike | None = None

    def rate_for(self, rel: str, own: float) -> float:
        """The frame rate of the take at ``rel`` (relative path in the source), given its own."""
        if self.fps is None:
            return own
        if isinstance(self.fps, (int, float)):
            return float(self.fps)
        parts = Path(rel).parts
        for folder, rate in self.fps.items():
            prefix = Path(folder).parts
            if tuple(parts[:len(prefix)]) == prefix:
                return float(rate)
        return own


@dataclass
class TakeFile:
    """One take found in a source.

    Attributes:
        source: the source's name; root: the source path (a folder or the file itself).
        path: the file (for the CMU set: its ``cmu_expmap.npz``); rel: its path relative to the
            source folder (for the CMU set: the take key ``train/walking/1``).
        fmt: ``'cmu-expmap'``, ``'bvh'``, ``'amc'`` or ``'deepmimic'``.
        folder: the folder holding it, relative to the source (``''`` at the top); for the CMU
            set, the action.
        source_split: the split the source assigns (CMU: ``train``/``test``), else ``''``.
        skeleton_file: the ASF or character file (AMC and DeepMimic), once paired.
    """

    source: str
    root: Path
    path: Path
    rel: str
    fmt: str
    folder: str
    source_split: str = ""
    skeleton_file: Path | None = None


@dataclass
class MocapTake:
    """One source take, ready to retarget.

    Attributes:
        file: where it came from.
        fps: frame rate (after any override).
        skeleton: the source skeleton; mapping: the source joint driving each SMPL joint;
            profile: the naming profile that matched (``'user'`` for a mapping file).
        global_rot: ``(T, J, 3, 3)`` column-convention source globals.
        positions: ``(T, J, 3)`` source joint positions from the source's own forward kinematics.
    """

    file: TakeFile
    fps: float
    skeleton: Skeleton
    mapping: Sequence[int]
    profile: str
    global_rot: np.ndarray
    positions: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def _source_name(path: Path, options: SourceOptions) -> str:
    return options.name or (path.name if path.is_dir() else Path(plain_name(path)).stem)


def find_takes(source: PathLike, options: SourceOptions | None = None,
               skipped: list[dict[str, str]] | None = None) -> list[TakeFile]:
    """Every take under ``source``, in sorted order, formats told and skeleton files paired.

    Files that cannot be classified or paired (a JSON that does not parse, an AMC without an
    ASF) are appended to ``skipped`` as ``{"dataset", "path", "reason"}`` (or raise when
    ``skipped`` is None).

    Raises:
        InputError: the source does not exist or holds no takes.
    """
    options = options or SourceOptions()
    root = Path(source)
    if not root.exists():
        raise InputError("no such file or directory", root)
    name = _source_name(root, options)
    if root.is_dir() and (root / "cmu_expmap.npz").exists():
        return _cmu_takes(root, name)
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    base = root.parent if root.is_file() else root
    by_kind: dict[str, list[Path]] = {"bvh": [], "amc": [], "asf": [], "json": []}
    for path in files:
        suffix = Path(plain_name(path)).suffix
        kind = SUFFIXES.get(suffix) or ("asf" if suffix == ".asf" else None)
        if kind:
            by_kind[kind].append(path)
    takes: list[TakeFile] = []

    def add(path: Path, fmt: str, skeleton_file: Path | None = None) -> None:
        rel = path.relative_to(base).as_posix()
        folder = Path(rel).parent.as_posix()
        takes.append(TakeFile(name, root, path, rel, fmt, "" if folder == "." else folder,
                              skeleton_file=skeleton_file))

    def skip(path: Path, exc: InputError) -> None:
        if skipped is None:
            raise exc
        skipped.append({"dataset": name, "path": path.relative_to(base).as_posix(),
                        "reason": exc.problem})

    for path in by_kind["bvh"]:
        add(path, "bvh")
    asf_files = [Path(options.asf)] if options.asf else by_kind["asf"]
    for path in by_kind["amc"]:
        try:
            add(path, "amc", _pair_asf(path, asf_files))
        except InputError as exc:
            skip(path, exc)
    characters, motions = _classify_json(by_kind["json"], skip)
    if options.character:
        characters = [Path(options.character)]
    for path in motions:
        try:
            add(path, "deepmimic", _pair_character(path, characters, root))
        except InputError as exc:
            skip(path, exc)
    takes.sort(key=lambda t: t.rel)
    if not takes and not (skipped or []):
        raise InputError("no motion-capture takes found (.bvh, .amc with .asf, DeepMimic .json, "
                         "or a CMU cmu_expmap.npz folder)", root)
    return takes


def _cmu_takes(root: Path, name: str) -> list[TakeFile]:
    from . import cmu as cmu_io

    data = cmu_io.load_cmu(root)
    out = []
    for key in data.keys:
        split, action = cmu_io.take_action(key)
        out.append(TakeFile(name, root, root / "cmu_expmap.npz", key, "cmu-expmap", action,
                            split if split in ("train", "test") else "train"))
    return out


def _pair_asf(amc: Path, asf_files: Sequence[Path]) -> Path:
    from .amc import pair_asf

    return Path(pair_asf(amc, asf_files))


def _classify_json(paths: Sequence[Path], skip: Any) -> tuple:
    from .deepmimic import is_character, is_motion

    characters, motions = [], []
    for path in paths:
        try:
            obj = json.loads(read_text(path))
        except InputError as exc:
            skip(path, exc)
            continue
        except ValueError as exc:
            skip(path, InputError(f"not valid JSON ({exc})", path))
            continue
        if is_character(obj):
            characters.append(path)
        elif is_motion(obj):
            motions.append(path)
        else:
            skip(path, InputError("a JSON file that is neither a DeepMimic motion ('Frames') nor "
                                  "a character ('Skeleton')", path))
    return characters, motions


def _pair_character(motion: Path, characters: Sequence[Path], root: Path) -> Path:
    """The only character beside the motion, else the only one in the source."""
    beside = [c for c in characters if c.parent == motion.parent]
    for group in (beside, list(characters)):
        if len(group) == 1:
            return group[0]
        if len(group) > 1:
            names = ", ".join(sorted(c.name for c in group))
            raise InputError(f"several DeepMimic character files ({names}); choose one with "
                             "--character", motion)
    raise InputError(f"no DeepMimic character file (a JSON with 'Skeleton') in {root}; "
                     "give one with --character", motion)


def read_take(take: TakeFile, options: SourceOptions | None = None, cache: dict | None = None
              ) -> MocapTake:
    """Read one take and resolve its joint mapping.

    Args:
        take: from :func:`find_takes`.
        options: the source's options (frame rate, mapping).
        cache: parsed skeleton files by path (ASF, character), shared between takes.

    Raises:
        InputError: the file (or its skeleton file) is malformed, or its joints do not map.
    """
    options = options or SourceOptions()
    cache = {} if cache is None else cache
    if take.fmt == "cmu-expmap":
        return _read_cmu(take, cache)
    if take.fmt == "bvh":
        from .bvh import read_bvh

        motion = read_bvh(take.path)
    elif take.fmt == "amc":
        from .amc import read_amc
        from .asf import read_asf

        asf = cache.get(take.skeleton_file) or cache.setdefault(
            take.skeleton_file, read_asf(take.skeleton_file))
        motion = read_amc(take.path, asf, fps=AMC_DEFAULT_FPS)
    elif take.fmt == "deepmimic":
        from .deepmimic import read_character, read_deepmimic

        character = cache.get(take.skeleton_file) or cache.setdefault(
            take.skeleton_file, read_character(take.skeleton_file))
        motion = read_deepmimic(take.path, character)
    else:  # pragma: no cover - find_takes makes only the formats above
        raise InputError(f"unknown format {take.fmt!r}", take.path)
    mapping, profile = resolve_mapping(motion.skeleton.names, options.mapping, where=str(take.path))
    glob, positions = motion.global_rotations()
    if len(glob) == 0:
        raise InputError("holds no frames", take.path)
    return MocapTake(take, options.rate_for(take.rel, float(motion.fps)), motion.skeleton, mapping,
                     profile, glob, positions)


def _read_cmu(take: TakeFile, cache: dict) -> MocapTake:
    from . import cmu as cmu_io

    key = ("cmu", take.root)
    if key not in cache:
        data = cmu_io.load_cmu(take.root)
        mapping, profile = resolve_mapping(data.skeleton.names, profile="cmu-expmap",
                                           where=str(take.root / "skeleton.json"))
        cache[key] = (data, mapping, profile)
    data, mapping, profile = cache[key]
    frames = data.take(take.rel)
    glob, _ = cmu_io.column_fk(data.skeleton, frames)
    positions = cmu_io.row_fk_positions(data.skeleton, frames)
    return MocapTake(take, data.fps, data.skeleton, mapping, profile, glob, positions)
