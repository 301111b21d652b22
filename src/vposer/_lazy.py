"""Lazy re-exports for package ``__init__`` modules: names resolve on first access, so importing
a package does not import its heavy modules."""
from __future__ import annotations

import importlib
from typing import Any
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> tuple[
        Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in module
    ``exports[name]``; a resolved name is cached in ``namespace`` (the package's globals)."""
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return [n for n in namespace.get("__all__", names)]

    return __getattr__, __dir__
