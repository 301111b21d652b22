"""vposer: the VPoser body-pose prior, fast and safe.

The public API, imported lazily so that ``import vposer`` stays light::

    import vposer
    model = vposer.load_model("path/to/V02_05")        # or a v1 release, a .ckpt/.pt, a native dir
    out = model.sample(10, seed=0)                      # out.axis_angle (10, 21, 3), out.matrices
    z = model.encode(out.axis_angle).mean               # (10, 32)
    body = vposer.load_body()                           # the open default body
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

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

if TYPE_CHECKING:  # what type checkers see; at run time the names resolve on first use
    from .body import BodyModel as BodyModel
    from .body import BodyOutput as BodyOutput
    from .body import load_body as load_body
    from .checkpoints import convert as convert
    from .checkpoints import load_model as load_model
    from .checkpoints import save_model as save_model
    from .errors import BodyModelError as BodyModelError
    from .errors import CheckpointError as CheckpointError
    from .errors import ConfigError as ConfigError
    from .errors import InputError as InputError
    from .errors import Interrupted as Interrupted
    from .errors import OutputError as OutputError
    from .errors import UnsafePickleError as UnsafePickleError
    from .errors import VPoserError as VPoserError
    from .model import DecodedPoses as DecodedPoses
    from .model import VPoser as VPoser
    from .model import VPoserConfig as VPoserConfig
    from .model import interpolate as interpolate
else:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
