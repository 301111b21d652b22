"""``human_body_prior.tools.configurations``: the v2 line's yaml settings with attribute access.

``load_config(fname, **overrides)`` returns a :class:`DotMap` (the original used the ``dotmap``
package): nested dicts read and written as attributes, intermediate levels created on
assignment (``ps.logging.best_model_fname = ...``), ``toDict()``. Files are read with the
package's safe yaml reader (no aliases, no tags) and written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Mapping

import yaml

from vposer.checkpoints.release import read_yaml
from vposer.errors import ConfigError
from vposer.fileio import write_text

__all__ = ["DotMap", "dump_config", "load_config"]


class DotMap(dict):
    """A dict whose keys are also attributes; a missing attribute reads as a new, empty level
    (so that ``cfg.a.b = 1`` works on an empty ``cfg``), which is dropped again by
    :meth:`toDict` while still empty."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, Mapping) and not isinstance(value, DotMap):
            value = DotMap(value)
        super().__setitem__(key, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self:
            self[name] = DotMap()
        return self[name]

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]

    def toDict(self) -> dict:  # noqa: N802 (dotmap's name)
        """A plain nested dict (empty levels created by reading are left out)."""
        return {k: v.toDict() if isinstance(v, DotMap) else v for k, v in self.items()
                if not (isinstance(v, DotMap) and not v)}

    to_dict = toDict


def load_config(default_ps_fname: str | None = None, **kwargs: Any) -> DotMap:
    """The ``.yaml`` settings (none when ``default_ps_fname`` is None) updated by ``kwargs``.

    Raises:
        FileNotFoundError: no such file. ConfigError: not a ``.yaml`` file, or unreadable.
    """
    data: dict = {}
    if isinstance(default_ps_fname, (str, Path)):
        path = Path(default_ps_fname)
        if not path.exists():
            raise FileNotFoundError(str(path))
        if path.suffix.lower() != ".yaml":
            raise ConfigError("only .yaml files are accepted", path)
        data = read_yaml(path)
    data.update(kwargs)
    return DotMap(data)


def dump_config(data: Any, fname: str) -> str:
    """Write the settings (a :class:`DotMap`, a mapping with ``toDict``, or a dict) as yaml."""
    plain = data.toDict() if hasattr(data, "toDict") else (
        data.to_dict() if hasattr(data, "to_dict") else dict(data))
    write_text(fname, yaml.safe_dump(plain, default_flow_style=False, sort_keys=False))
    return fname
