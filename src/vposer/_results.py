"""Result objects that are also written to disk as JSON (``summary.json``, ``metrics.json``).

A result is a dataclass whose fields are the document's keys, in the document's order:
typed attributes for code (``summary.splits``), :meth:`JsonResult.to_json` for the exact
document the package writes, and read access as that mapping (``summary["splits"]``,
``summary.get("skipped")``), as the plain dicts these functions returned before.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

__all__ = ["JsonResult"]


class JsonResult(Mapping[str, Any]):
    """Base of the dataclass results (declare them ``@dataclass(eq=False)``: equality is the
    document's); see the module docstring.

    Attributes:
        OPTIONAL: fields left out of the document while they are None.
    """

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The JSON document (the fields' values, not copies), keys in field order."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL:
                continue
            out[f.name] = value
        return out

    def __getitem__(self, key: str) -> Any:
        doc = self.to_json()
        return doc[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __eq__(self, other: object) -> bool:  # equal to the same document, a dict included
        if isinstance(other, JsonResult):
            other = other.to_json()
        return isinstance(other, Mapping) and self.to_json() == dict(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dicts it stands for
