"""What the standard library and numpy raise on a damaged ``.npz`` / zip archive.

``np.load`` and ``zipfile`` report a damaged archive in many ways besides
``zipfile.BadZipFile``: a broken deflate stream raises ``zlib.error``, an unknown compression
method or zip version ``NotImplementedError``, an "encrypted" flag ``RuntimeError``, a bad
``.npy`` header ``ValueError``, ``SyntaxError``, ``tokenize.TokenError`` or ``TypeError`` (a
header dict whose keys mix bytes and str: numpy sorts them), a short record
``EOFError`` or ``struct.error``. Readers catch :data:`ARCHIVE_ERRORS` around everything that
touches the archive and raise their own error naming the file (found by fuzzing, see
``fuzz/``).
"""
from __future__ import annotations

import lzma
import struct
import tokenize
import zipfile
import zlib

__all__ = ["ARCHIVE_ERRORS", "describe"]

ARCHIVE_ERRORS: tuple = (OSError, EOFError, ValueError, KeyError, IndexError, OverflowError,
                         SyntaxError, TypeError, NotImplementedError, RuntimeError, struct.error,
                         zipfile.BadZipFile, zlib.error, lzma.LZMAError, tokenize.TokenError)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` (one line, for an error message)."""
    text = str(exc).splitlines()[0] if str(exc).strip() else "no detail"
    kind = type(exc).__name__
    if kind == "error":  # zlib.error, struct.error
        kind = f"{type(exc).__module__}.error"
    return f"{kind}: {text[:200]}"
