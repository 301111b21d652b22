"""vposer: the VPoser body-pose prior, fast and safe.

The public API, imported lazily so that ``import vposer`` stays light::

    import vposer
    model = vposer.load_model("path/to/V02_05")        # or a v1 release, a .ckpt/.pt, a native dir
    out = model.sample(10, seed=0)                      # out.axis_angle (10, 21, 3), out.matrices
    z = model.encode(out.axis_angle).mean               # (10, 32)
    body = vposer.load_body()                           # the open default body
"""
from __future__ import annotations

from ._lazy import lazy_exports


__version__ = "0.1.0"

_EXPORTS = {
    # model
    "VPoser": "vposer.model",
    "VPoserConfig": "vposer.model",
    "DecodedPoses": "vposer.model",
    "interpolate": "vposer.model",
    # checkpoints
    "load_model": "vposer.checkpoints",
    "save_model": "vposer.checkpoints",
    "convert": "vposer.checkpoints",
    # body models
    "BodyModel": "vposer.body",
    "BodyOutput": "vposer.body",
    "load_body": "vposer.body",
    # errors
    "VPoserError": "vposer.errors",
    "CheckpointError": "vposer.errors",
    "UnsafePickleError": "vposer.errors",
    "ConfigError": "vposer.errors",
    "BodyModelError": "vposer.errors",
    "InputError": "vposer.errors",
    "OutputError": "vposer.errors",
    "Interrupted": "vposer.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
