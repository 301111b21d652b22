"""Headless OpenGL contexts for rendering.

One context per process is created lazily and reused (creating one takes ~0.3 s on Mesa). The
backends are tried in order:

1. ``egl`` (headless, no display server): Mesa's ``llvmpipe`` software rasteriser on a CPU-only
   Linux machine (Debian packages ``libegl1 libegl-mesa0 libgl1-mesa-dri libgl1``, see
   ``scripts/install_system_deps.sh``), or the NVIDIA driver's EGL on a GPU machine.
2. the platform's default (GLX with ``$DISPLAY`` or under ``Xvfb`` on Linux, WGL on Windows, CGL
   on macOS).

``VPOSER_GL_BACKEND=egl|default`` forces one; glcontext's ``GLCONTEXT_*`` variables (e.g.
``GLCONTEXT_DEVICE_INDEX`` to pick a GPU, ``GLCONTEXT_LINUX_LIBEGL``) are honoured.
"""
from __future__ import annotations

import ctypes.util
import os
from typing import Any

from ..errors import VPoserError

GL_VERSION = 330
BACKENDS = ("egl", "default")
INSTALL_HINT = (
    "install moderngl (pip install 'vposer[render]') and, on Debian/Ubuntu, the EGL/Mesa "
    "packages libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 (scripts/install_system_deps.sh)"
)

_CONTEXT: Any = None


class RenderError(VPoserError):
    """No OpenGL context can be created, or a rendering argument is invalid."""


def _egl_kwargs() -> dict[str, str]:
    """Library names for glcontext's EGL backend: libGL, else libOpenGL (GLVND without GLX)."""
    kwargs: dict[str, str] = {}
    if not os.environ.get("GLCONTEXT_LINUX_LIBGL") and ctypes.util.find_library("GL") is None:
        opengl = ctypes.util.find_library("OpenGL")
        if opengl:
            kwargs["libgl"] = opengl
    return kwargs


def create_context(backend: str | None = None) -> Any:
    """A new standalone ``moderngl.Context`` (OpenGL >= 3.3 core), headless when possible.

    Args:
        backend: ``'egl'``, ``'default'`` or None (``$VPOSER_GL_BACKEND``, else EGL then default).

    Raises:
        RenderError: moderngl is missing or no backend gives a context; the message lists why.
    """
    try:
        import moderngl
    except ImportError as exc:
        raise RenderError(f"moderngl is not installed ({exc}); {INSTALL_HINT}") from exc
    backend = backend or os.environ.get("VPOSER_GL_BACKEND") or None
    if backend is not None and backend not in BACKENDS:
        raise RenderError(f"unknown OpenGL backend {backend!r}: use one of {', '.join(BACKENDS)}")
    failures = []
    for name in (backend,) if backend else BACKENDS:
        try:
            if name == "egl":
                return moderngl.create_standalone_context(
                    require=GL_VERSION, backend="egl", **_egl_kwargs()
                )
            return moderngl.create_standalone_context(require=GL_VERSION)
        except Exception as exc:  # each backend fails in its own way (OSError, Exception)
            failures.append(f"{name}: {type(exc).__name__}: {str(exc).strip() or 'failed'}")
    raise RenderError("cannot create an OpenGL context (" + "; ".join(failures) + f"); {INSTALL_HINT}")


def shared_context() -> Any:
    """The process-wide context, created on first use and reused by every renderer."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = create_context()
    return _CONTEXT


def gl_available() -> tuple[bool, str]:
    """``(True, renderer description)`` when a context can be had, else ``(False, why)``."""
    try:
        ctx = shared_context()
    except RenderError as exc:
        return False, str(exc)
    return True, describe(ctx)


def describe(ctx: Any) -> str:
    """One line naming the GL implementation, e.g. ``'llvmpipe (LLVM 15.0.6, 256 bits), OpenGL 4.5'``."""
    with ctx:
        info = ctx.info
    return f"{info.get('GL_RENDERER', '?')}, OpenGL {info.get('GL_VERSION', '?')}"
