"""AMASS on disk: finding takes, dataset aliases, split recipes, reading one take.

Layout: ``AMASS_ROOT/<dataset>/.../<subject>/<take>_poses.npz`` (or ``_stageii.npz``); the
dataset is the first folder under the root and the subject the folder holding the file. A take
holds ``poses`` (T x 156 SMPL+H, T x 165 SMPL-X, or T x 72 SMPL) and ``mocap_framerate`` (or
``mocap_frame_rate``); body pose = ``poses[:, 3:66]``, root orientation = ``poses[:, :3]``.
``shape.npz`` and ``*_stagei.npz`` are not takes and are skipped without a word; any other
``.npz`` that cannot be read as a take is reported with the reason.

Splits. ``v2`` (V02_05): train = CMU + BMLrub_train, vald = BMLrub_vald, test = BMLrub_test.
``v1`` (the paper): vald = HumanEva, HDM05, SFU, MoSh; test = Transitions, SSM; train = the rest.
BMLrub's train/vald/test subject lists were never published; here a subject goes to a part by a
hash: ``u = int(sha256("<dataset>/<subject>")[:16], 16) / 2**64``, test if ``u < 0.1``, vald if
``u < 0.2``, train otherwise (fractions configurable). ``<Dataset>_train`` / ``_vald`` /
``_test`` in a recipe selects that part of any dataset the same way. A YAML recipe::

    splits:
      train: [CMU, BMLrub_train, "*"]     # "*": every dataset not named anywhere else
      vald: [BMLrub_vald]
      test: [BMLrub_test]
    subject_split: {vald: 0.1, test: 0.1} # optional
"""
from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._archive import ARCHIVE_ERRORS, describe
from ..errors import ConfigError, InputError, reads_file
from .._types import PathLike


#: Old AMASS folder names -> current names (matching ignores case, '_' and '-').
ALIASES: dict[str, str] = {
    "BioMotionLab_NTroje": "BMLrub",
    "MPI_HDM05": "HDM05",
    "SSM_synced": "SSM",
    "Transitions_mocap": "Transitions",
    "MPI_mosh": "MoSh",
    "MPI_Limits": "PosePrior",
    "DFaust_67": "DFaust",
    "Eyes_Japan_Dataset": "EyesJapanDataset",
    "TCD_handMocap": "TCDHands",
    "BMLmovi": "BMLmovi",
    "BMLhandball": "BMLhandball",
}

RECIPES: dict[str, dict[str, list[str]]] = {
    "v2": {"train": ["CMU", "BMLrub_train"], "vald": ["BMLrub_vald"], "test": ["BMLrub_test"]},
    "v1": {"train": ["*"], "vald": ["HumanEva", "HDM05", "SFU", "MoSh"],
           "test": ["Transitions", "SSM"]},
}
DEFAULT_SUBJECT_SPLIT = {"vald": 0.1, "test": 0.1}
POSE_WIDTHS = {72: "SMPL", 156: "SMPL+H", 165: "SMPL-X"}
_PARTS = ("train", "vald", "test")


def _key(name: str) -> str:
    return re.sub(r"[_\-\s]", "", name).lower()


_ALIAS_KEYS = {_key(old): new for old, new in ALIASES.items()}


def canonical_dataset(name: str) -> str:
    """The current AMASS name of a dataset folder (``MPI_HDM05`` -> ``HDM05``); others unchanged."""
    return _ALIAS_KEYS.get(_key(name), name)


def subject_part(dataset: str, subject: str, fractions: dict[str, float]) -> str:
    """The deterministic part (``train``/``vald``/``test``) of a subject (see the module doc)."""
    digest = hashlib.sha256(f"{canonical_dataset(dataset)}/{subject}".encode()).hexdigest()
    u = int(digest[:16], 16) / 2.0**64
    test, vald = fractions.get("test", 0.0), fractions.get("vald", 0.0)
    return "test" if u < test else "vald" if u < test + vald else "train"


@dataclass
class SplitRecipe:
    """Which split each (dataset, subject) goes to.

    Attributes:
        splits: split name -> dataset entries (``Name``, ``Name_train|_vald|_test`` or ``*``).
        subject_split: fractions of subjects for the ``_vald`` and ``_test`` parts.
        name: the recipe's name (``v2``, ``v1`` or the YAML path).
    """

    splits: dict[str, list[str]]
    subject_split: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SUBJECT_SPLIT))
    name: str = "custom"

    def __post_init__(self) -> None:
        self._whole: dict[str, str] = {}
        self._parts: dict[tuple[str, str], str] = {}
        self._rest: str | None = None
        for split, entries in self.splits.items():
            for entry in entries:
                if entry == "*":
                    if self._rest is not None:
                        raise ConfigError(f"'*' appears in two splits ({self._rest}, {split})")
                    self._rest = split
                    continue
                base, _, part = str(entry).rpartition("_")
                target = (canonical_dataset(base), part) if base and part in _PARTS else None
                if target:
                    self._parts[(_key(target[0]), part)] = split
                else:
                    self._whole[_key(canonical_dataset(entry))] = split
        if sum(self.subject_split.values()) > 1:
            raise ConfigError(f"subject_split fractions sum above 1: {self.subject_split}")

    def assign(self, dataset: str, subject: str) -> str | None:
        """The split of a take of ``subject`` in ``dataset``, or None when the recipe omits it."""
        key = _key(canonical_dataset(dataset))
        if key in self._whole:
            return self._whole[key]
        if any(k == key for k, _ in self._parts):
            part = subject_part(dataset, subject, self.subject_split)
            if (key, part) in self._parts:
                return self._parts[(key, part)]
            return None
        return self._rest

    def to_json(self) -> dict:
        return {"name": self.name, "splits": self.splits, "subject_split": self.subject_split}


@reads_file
def load_recipe(spec: str) -> SplitRecipe:
    """``v2``, ``v1`` or the path of a YAML recipe (see the module doc)."""
    if spec in RECIPES:
        return SplitRecipe({k: list(v) for k, v in RECIPES[spec].items()}, name=spec)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"not a recipe name ({', '.join(RECIPES)}) nor a YAML file", spec)
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"unreadable ({describe(exc)})", path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", path) from None
    except (ValueError, TypeError, AttributeError, LookupError, RecursionError,
            OverflowError) as exc:  # yaml's own bugs: !!timestamp, empty !!float
        raise ConfigError(f"not a usable recipe ({describe(exc)})", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
        raise ConfigError("expected a mapping with a 'splits' mapping of split -> datasets", path)
    splits = {}
    for split, entries in data["splits"].items():
        if isinstance(entries, str):
            entries = [entries]
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ConfigError(f"split {split!r}: expected a list of dataset names", path)
        splits[str(split)] = entries
    fractions = data.get("subject_split", DEFAULT_SUBJECT_SPLIT)
    if not isinstance(fractions, dict) or not all(
            isinstance(v, (int, float)) and 0 <= v <= 1 for v in fractions.values()):
        raise ConfigError("subject_split: expected {vald: fraction, test: fraction}", path)
    try:
        return SplitRecipe(splits, {str(k): float(v) for k, v in fractions.items()}, name=str(path))
    except ConfigError as exc:
        raise ConfigError(exc.problem, path) from exc


def is_ignored(name: str) -> bool:
    """Files that sit beside takes but are not takes (skipped without a report)."""
    return name == "shape.npz" or name.endswith("_stagei.npz")


def find_takes(root: PathLike) -> list[Path]:
    """Every candidate take under ``root``, as relative paths in sorted (deterministic) order."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if name.endswith(".npz") and not is_ignored(name):
                found.append(Path(dirpath, name).relative_to(root))
    return sorted(found, key=lambda p: p.as_posix())


def dataset_and_subject(rel: Path) -> tuple[str, str]:
    """(canonical dataset, subject) of a take's path relative to the AMASS root."""
    parts = rel.parts
    dataset = canonical_dataset(parts[0]) if len(parts) > 1 else ""
    subject = parts[-2] if len(parts) > 2 else ""
    return dataset, subject


class TakeError(InputError):
    """A file that is not a readable take: ``problem`` is the reason, ``path`` the file."""


@dataclass
class Take:
    """One AMASS take: ``pose_body`` (T, 63), ``root_orient`` (T, 3) float32, ``fps``."""

    pose_body: np.ndarray
    root_orient: np.ndarray
    fps: float
    model: str


@reads_file
def read_take(path: PathLike) -> Take:
    """Read one take file; raises :class:`TakeError` (an :class:`~vposer.errors.InputError`
    naming the file) with the reason when it is not one."""
    try:
        with open(path, "rb") as fh:
            zipped = fh.read(4) == b"PK\x03\x04"
    except OSError as exc:
        raise TakeError(f"unreadable ({describe(exc)})", path) from None
    if not zipped or not zipfile.is_zipfile(path):
        raise TakeError("unreadable: not an .npz archive (damaged, truncated or another format)",
                        path)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "poses" not in keys:
                raise TakeError(f"no 'poses' array (keys: {', '.join(sorted(keys)) or 'none'})",
                                path)
            rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in keys), None)
            if rate_key is None:
                raise TakeError("no 'mocap_framerate' or 'mocap_frame_rate'", path)
            poses = np.asarray(data["poses"])
            rate = np.asarray(data[rate_key])
    except TakeError:
        raise
    except MemoryError:
        raise TakeError("unreadable: it declares more data than fits in memory", path) from None
    except ARCHIVE_ERRORS as exc:  # zlib.error, NotImplementedError, ... of a damaged archive
        raise TakeError(f"unreadable: {describe(exc)}", path) from None
    if poses.ndim != 2 or poses.shape[1] not in POSE_WIDTHS:
        raise TakeError(f"'poses' has shape {poses.shape}; expected (T, 72|156|165)", path)
    if not np.issubdtype(poses.dtype, np.floating):
        raise TakeError(f"'poses' has dtype {poses.dtype}", path)
    if rate.dtype.kind not in "biuf" or rate.size != 1 or \
            not np.isfinite(float(rate.reshape(()))) or float(rate.reshape(())) <= 0:
        raise TakeError(f"invalid frame rate {rate.reshape(-1)[:3]!r}", path)
    if poses.shape[0] == 0:
        raise TakeError("no frames", path)
    with np.errstate(over="ignore"):
        pose_body, root_orient = (poses[:, 3:66].astype(np.float32),
                                  poses[:, :3].astype(np.float32))
    if not (np.isfinite(pose_body).all() and np.isfinite(root_orient).all()):
        raise TakeError("non-finite values in 'poses' (NaN, Inf, or beyond float32)", path)
    return Take(pose_body, root_orient, float(rate.reshape(())), POSE_WIDTHS[poses.shape[1]])
