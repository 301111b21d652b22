"""Release directories of the published models: finding the snapshot and reading the settings.

- v1 (``vposer_v1_0``): ``*.ini`` (Configer: an ``[All]`` section of ``key : value`` lines whose
  values are Python literals) and ``snapshots/TR00_E096.pt``.
- v2 (``V02_05``): ``*.yaml`` (OmegaConf) and ``snapshots/V02_05_epoch=13_val_loss=0.03.ckpt``.

Nothing found in a model directory is imported or executed: ``vposer_smpl.py`` is never read.
Snapshots are chosen by the highest epoch in their file names, never by modification time, and
macOS ``._*`` resource-fork files are never taken for checkpoints.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any
from collections.abc import Iterator, Mapping

import yaml

from ..errors import CheckpointError, ConfigError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar")
SNAPSHOT_FOLDERS = ("snapshots", "checkpoints")
_EPOCH = re.compile(r"(?:epoch[=_-]?|_E)(\d+)", re.IGNORECASE)
APPLEDOUBLE_MAGIC = b"\x00\x05\x16\x07"


class ReleaseSettings(Mapping[str, Any]):
    """A read-only tree of settings with attribute access (``ps.latentD``, ``cfg.model_params.latentD``)
    as well as item access, for the v1 ini and the v2 yaml."""

    def __init__(self, data: Mapping[str, Any]):
        object.__setattr__(self, "_data", {k: _wrap(v) for k, v in data.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._data[name] = _wrap(value)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() if isinstance(v, ReleaseSettings) else v for k, v in self._data.items()}

    def __repr__(self) -> str:
        return f"Settings({self.to_dict()!r})"  # the name the original package printed


def _wrap(value: Any) -> Any:
    return ReleaseSettings(value) if isinstance(value, Mapping) and not isinstance(value, ReleaseSettings) else value


def read_ini(path: Path) -> dict[str, Any]:
    """Parse a Configer ini (``key : value`` lines, values as Python literals when they parse)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file ({exc.strerror})", path) from None
    settings: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        try:  # literals only; a long or deeply nested value stays a string
            settings[key.strip()] = ast.literal_eval(value) if len(value) <= 10_000 else value
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            settings[key.strip()] = value
    return settings


class _PlainYamlLoader(yaml.SafeLoader):
    """The safe loader without aliases (``*name``): settings files have no use for them, and
    nested aliases expand exponentially (or circularly) once the tree is walked."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed in settings files",
                event.start_mark)
        return super().compose_node(parent, index)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file with the safe loader, aliases refused; refuses anything but a mapping."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_PlainYamlLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the settings file ({exc})", path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    except (ValueError, TypeError, AttributeError, LookupError, RecursionError,
            OverflowError) as exc:  # yaml's own bugs: !!timestamp, empty !!float
        raise ConfigError(f"not a usable settings file ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'nested too deeply'})",
                          path) from None
    if not isinstance(data, dict):
        raise ConfigError("the YAML file does not hold a mapping of settings", path)
    return data


def is_appledouble(path: Path) -> bool:
    """True for macOS resource-fork files (``._name``, AppleDouble magic)."""
    if path.name.startswith("._"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == APPLEDOUBLE_MAGIC
    except OSError:
        return False


def snapshot_epoch(path: Path) -> int | None:
    """The epoch number in a snapshot's file name (``TR00_E096.pt`` -> 96,
    ``V02_05_epoch=13_val_loss=0.03.ckpt`` -> 13), or None."""
    matches = _EPOCH.findall(path.stem)
    return int(matches[-1]) if matches else None


def list_snapshots(folder: Path) -> list[Path]:
    """Checkpoint files of a folder, resource forks and hidden files excluded, sorted by name."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES
        and not p.name.startswith(".") and not is_appledouble(p)
    )


def choose_snapshot(directory: Path) -> Path:
    """The snapshot of a release or experiment directory: highest epoch in the file name.

    Raises:
        CheckpointError: no snapshot, or several without an epoch (they are listed).
    """
    folders = [directory / name for name in SNAPSHOT_FOLDERS if (directory / name).is_dir()]
    candidates: list[Path] = []
    for folder in folders:
        candidates = list_snapshots(folder)
        if candidates:
            break
    if not candidates:
        candidates = list_snapshots(directory)
    if not candidates:
        where = folders[0] if folders else directory
        raise CheckpointError(
            f"no checkpoint found (looked for {', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}"
            f"{' in ' + where.name + '/' if folders else ''})",
            where,
        )
    if len(candidates) == 1:
        return candidates[0]
    with_epoch = [(snapshot_epoch(p), p) for p in candidates]
    numbered = [(e, p) for e, p in with_epoch if e is not None]
    if not numbered:
        names = ", ".join(p.name for p in candidates)
        raise CheckpointError(
            f"several checkpoints and none names its epoch ({names}); pass the one to load", directory
        )
    best = max(e for e, _ in numbered)
    top = [p for e, p in numbered if e == best]
    if len(top) > 1:
        names = ", ".join(p.name for p in top)
        raise CheckpointError(f"several checkpoints share the highest epoch {best} ({names}); pass one", directory)
    return top[0]


def find_settings(directory: Path) -> tuple[Path | None, dict[str, Any]]:
    """The release's settings file (``*.ini`` for v1, ``*.yaml``/``*.yml`` for v2) and its content."""
    for pattern, reader in (("*.yaml", read_yaml), ("*.yml", read_yaml), ("*.ini", read_ini)):
        files = sorted(p for p in directory.glob(pattern) if not is_appledouble(p))
        if files:
            return files[0], reader(files[0])
    return None, {}


def settings_sizes(settings: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(num_neurons, latentD)`` declared by a v1 ini or a v2 yaml, when present."""
    params = settings.get("model_params", settings)
    if not isinstance(params, Mapping):
        return None, None
    return params.get("num_neurons"), params.get("latentD")


def directory_kind(directory: Path) -> str:
    """``'native'``, ``'v1-release'``, ``'v2-release'`` or ``'experiment'`` (content-based)."""
    if (directory / "config.json").is_file() and (directory / "model.safetensors").is_file():
        return "native"
    if any(not is_appledouble(p) for p in directory.glob("*.ini")):
        return "v1-release"
    if any(not is_appledouble(p) for p in list(directory.glob("*.yaml")) + list(directory.glob("*.yml"))):
        return "v2-release"
    return "experiment"


def ensure_exists(path: Path) -> None:
    if not os.path.exists(path):
        raise CheckpointError("no such file or folder", path)


#: The former name of :class:`ReleaseSettings`, kept for old imports.
Settings = ReleaseSettings
