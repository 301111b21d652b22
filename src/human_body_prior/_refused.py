"""Names of the original package that this layer keeps importable but does not provide.

They wrapped display packages the original needed (psbody-mesh viewers, body_visualizer,
pyrender) or its 2020 training loops; calling one raises :class:`NotProvidedError` saying what
to use instead, so code that only imports them keeps working.
"""
from __future__ import annotations

from typing import Any

from vposer.errors import VPoserError

__all__ = ["DISPLAY", "NotProvidedError", "refused"]

#: The usual reason for the display wrappers.
DISPLAY = "it needs display packages (psbody-mesh / body_visualizer / pyrender); use vposer.render"


class NotProvidedError(VPoserError, NotImplementedError):
    """A name of the original package that vposer does not provide."""


def refused(name: str, why: str) -> type:
    """A stand-in for ``name``: a class (so that it can also be subclassed or used as a
    function) whose instantiation raises :class:`NotProvidedError`."""
    message = f"{name} is not provided by vposer: {why}"

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise NotProvidedError(message)

    short = name.rsplit(".", 1)[-1]
    return type(short, (), {"__new__": __new__, "__doc__": f"Not provided: {why}.",
                            "__module__": name.rsplit(".", 1)[0], "refused_reason": why})
