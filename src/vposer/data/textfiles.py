"""Reading the text files of motion capture: plain or gzip-compressed, any line endings.

Every motion-capture reader (BVH, ASF/AMC, DeepMimic JSON) goes through :func:`read_text`, so
``walk.bvh.gz`` reads like ``walk.bvh`` and a damaged or unreadable file gives one
:class:`~vposer.errors.InputError` naming it.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from ..errors import InputError, reads_file
from .._types import PathLike


__all__ = ["read_text", "plain_name", "MAX_TEXT_BYTES"]

#: The largest decompressed text accepted (a gzip bomb stops here): 1 GiB.
MAX_TEXT_BYTES = 1 << 30


def plain_name(path: PathLike) -> str:
    """The file name without a trailing ``.gz`` (``walk.bvh.gz`` -> ``walk.bvh``), lower case."""
    name = Path(path).name.lower()
    return name[:-3] if name.endswith(".gz") else name


@reads_file
def read_text(path: PathLike, limit: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path`` (gzip when it ends in ``.gz`` or starts with gzip's magic bytes),
    with ``\\r\\n`` and ``\\r`` line endings turned into ``\\n``; undecodable bytes are replaced.

    Raises:
        InputError: missing, unreadable, a damaged gzip stream, or larger than ``limit`` bytes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=fh) as gz:
                    data = gz.read(limit + 1)
            else:
                data = fh.read(limit + 1)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path) from None
    except (OSError, EOFError, zlib.error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise InputError(f"unreadable ({reason})", path) from None
    if len(data) > limit:
        raise InputError(f"larger than {limit} bytes of text; refusing to read it", path)
    text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")
