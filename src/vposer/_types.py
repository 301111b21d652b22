"""Type aliases shared across the package (one definition each)."""
from __future__ import annotations

import os
from typing import TypeAlias

#: A file-system path as users pass it: ``str`` or any ``os.PathLike`` (``pathlib.Path``).
PathLike: TypeAlias = str | os.PathLike[str]
