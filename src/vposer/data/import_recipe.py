"""Import recipes: several motion-capture sources and how to read and split each, in one YAML file.

::

    target_fps: 30                 # optional; the command line overrides
    dedup_threshold: 0.05          # radians; optional
    sources:
      - path: ../data/cmu          # relative to this file
        val_takes: 1               # per stratum (>= 1) or a fraction (< 1)
      - path: ../data/mocap/cmu_bvh_dance
        name: dance                # default: the folder's name
        fps: {salsa: 60}           # true frame rates where the files' headers are wrong
        test_takes: 0.15
        val_takes: 0.1
        groups: [[salsa/01, salsa/16]]   # takes that share a split (partners)
        take_id: stem              # same file stem in two such sources = the same take
        mapping: smpl_names.json   # {SMPL joint: source joint}, for other namings
        asf: skeleton.asf          # the ASF of every AMC (default: paired by name)
        character: humanoid.json   # the DeepMimic character (default: found beside)
        split: train               # the split of the rest

``vposer import-mocap --recipe FILE -o DIR`` reads it (:func:`read_recipe`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, reads_file
from .mapping import load_mapping_file
from .mocap import SourceSpec
from .sources import SourceOptions
from .splits import SplitRule
from .._types import PathLike


__all__ = ["read_recipe"]

_TOP = {"target_fps", "dedup_threshold", "sources"}
_SOURCE = {"path", "name", "fps", "test_takes", "val_takes", "groups", "take_id", "mapping", "asf",
           "character", "split"}


def _number(value: Any, what: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{what} must be a number, got {value!r}", path)
    return float(value)


def _fps(value: Any, where: str, path: Path) -> None | float | dict[str, float]:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _positive(v, f"{where}.fps[{k}]", path) for k, v in value.items()}
    return _positive(value, f"{where}.fps", path)


def _positive(value: Any, what: str, path: Path) -> float:
    number = _number(value, what, path)
    if number <= 0:
        raise ConfigError(f"{what} must be positive, got {value!r}", path)
    return number


def _source(entry: Any, k: int, base: Path, path: Path) -> SourceSpec:
    where = f"sources[{k}]"
    if not isinstance(entry, dict) or "path" not in entry:
        raise ConfigError(f"{where} must be a mapping with a 'path'", path)
    unknown = sorted(set(entry) - _SOURCE, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} (known: {sorted(_SOURCE)})", path)

    def rel(value: Any) -> Any:
        if value is None:
            return None
        try:
            return (base / str(value)).resolve()
        except (ValueError, OSError) as exc:  # a NUL byte, a name too long for the system
            raise ConfigError(f"{where}: unusable path {str(value)[:80]!r} ({exc})", path) from None

    groups = entry.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise ConfigError(f"{where}.groups must be a list of lists of take names", path)
    take_id = entry.get("take_id")
    if take_id not in (None, "stem"):
        raise ConfigError(f"{where}.take_id must be 'stem' or absent, got {take_id!r}", path)
    try:
        mapping = load_mapping_file(str(rel(entry["mapping"]))) if entry.get("mapping") else None
    except InputError as exc:  # named after the recipe that points to it
        raise ConfigError(f"{where}.mapping: {exc}", path) from None
    options = SourceOptions(entry.get("name"), _fps(entry.get("fps"), where, path), mapping,
                            rel(entry.get("asf")), rel(entry.get("character")))
    rule = SplitRule(_number(entry.get("test_takes", 0), f"{where}.test_takes", path),
                     _number(entry.get("val_takes", 0), f"{where}.val_takes", path),
                     str(entry.get("split", "train")), [[str(n) for n in g] for g in groups],
                     take_id)
    return SourceSpec(rel(entry["path"]), options, rule)


@reads_file
def read_recipe(path: PathLike) -> tuple[list[SourceSpec], dict[str, float]]:
    """The sources of a recipe file and its settings (``target_fps``, ``dedup_threshold``).

    Raises:
        ConfigError: unreadable YAML, unknown keys, values of the wrong type.
    """
    import yaml

    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"unreadable ({exc.strerror or exc})", path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"unreadable: not UTF-8 text ({exc.reason} at byte {exc.start})",
                          path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    except (ValueError, TypeError, AttributeError, LookupError, RecursionError,
            OverflowError) as exc:  # yaml's own bugs: !!timestamp, empty !!float
        raise ConfigError(f"not a usable recipe ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'nested too deeply'})",
                          path) from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list) \
            or not data["sources"]:
        raise ConfigError("expected a mapping with a non-empty 'sources' list", path)
    unknown = sorted(set(data) - _TOP, key=str)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} (known: {sorted(_TOP)})", path)
    base = path.resolve().parent
    specs = [_source(entry, k, base, path) for k, entry in enumerate(data["sources"])]
    settings = {key: _number(data[key], key, path) for key in ("target_fps", "dedup_threshold")
                if key in data}
    return specs, settings
