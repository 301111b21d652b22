"""What a generated dataset is: the settings that, with the model's hash, decide every byte.

A dataset of ``n`` samples is cut into ``ceil(n / shard_size)`` shards; shard ``i`` holds samples
``i * shard_size ...`` and is a pure function of (model hash, settings, ``seed``, ``i``). Its random
numbers come from CPU ``torch.Generator`` s seeded by :func:`derive_seed`, one per stream, so a
shard never depends on which process, machine or order produced it.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from ..errors import InputError

#: what a sample may carry besides its pose (``--with``).
OUTPUTS = ("vertices", "joints", "images", "meshes")
#: shard formats and their file suffixes.
FORMATS = {"npz": "npz", "webdataset": "tar", "parquet": "parquet"}
ROOT_MODES = ("none", "upright", "random-yaw")
TRUNCATION_MODES = ("resample", "clip")
GEOMETRY_DTYPES = ("float32", "float16")
#: the independent random streams of a shard.
STREAMS = ("latent", "mix", "root", "camera")
SEED_DOMAIN = "vposer-generate/1"
DEFAULT_SHARD_SIZE = 100_000
#: default shard size when samples carry vertices, images or meshes (a shard is built in memory).
HEAVY_SHARD_SIZE = 1_000
DECODE_CHUNK = 65_536
BODY_CHUNK = 128


def derive_seed(seed: int, shard: int, stream: str = "latent") -> int:
    """The 64-bit seed of one random stream of one shard.

    ``int.from_bytes(sha256(f"vposer-generate/1:{seed}:{shard}:{stream}")[:8], "big")``: the
    first 8 bytes of the SHA-256 of the ASCII string, big-endian, in ``[0, 2**64)``. Shard -1 is
    the calibration sample of ``--reject-implausible``.
    """
    text = f"{SEED_DOMAIN}:{int(seed)}:{int(shard)}:{stream}".encode("ascii")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def shard_generator(seed: int, shard: int, stream: str = "latent") -> torch.Generator:
    """A fresh CPU generator seeded with :func:`derive_seed`."""
    return torch.Generator().manual_seed(derive_seed(seed, shard, stream))


@dataclass(frozen=True)
class GenerateSettings:
    """Everything that decides the content of the shards (the model aside).

    Attributes:
        n: total number of samples.
        shard_size: samples per shard (the last one may hold fewer).
        seed: the dataset's seed (see :func:`derive_seed`).
        temperature: scale of the latent codes, ``z ~ temperature * N(0, I)``.
        truncation: if set, every latent component lies in ``[-C, C]`` before the temperature
            scale: drawn from the truncated normal (``resample``, exact, by the inverse CDF) or
            clipped (``clip``).
        truncation_mode: ``'resample'`` or ``'clip'``.
        reject_quantile: drop model samples whose plausibility score is below the ``Q`` quantile
            of a calibration sample (so about a fraction ``Q`` is rejected).
        plausibility: how samples are scored (filled in by the runner: score name, threshold,
            reference digest).
        root: ``'none'`` (no root orientation stored), ``'upright'`` (zero root orientation),
            ``'random-yaw'`` (a rotation about the vertical axis, uniform in ``[-pi, pi)``).
        mix_ratio: fraction of each shard's samples replaced by poses from the user's file.
        mix: digest and size of the user's poses (filled in by the runner).
        outputs: what else each sample carries, a subset of :data:`OUTPUTS`.
        format: ``'npz'``, ``'webdataset'`` (tar) or ``'parquet'``.
        geometry_dtype: ``'float32'`` or ``'float16'`` for vertices and joints.
        body: digest of the body model (filled in by the runner when geometry is asked for).
        image_size: rendered image side, pixels.
        angles: view azimuths in degrees (one image per angle).
        random_camera: instead of ``angles``, one image per sample from a random azimuth in
            ``[0, 360)`` and elevation in ``[0, 30]`` degrees.
        compress: deflate the npz members.
    """

    n: int
    shard_size: int = DEFAULT_SHARD_SIZE
    seed: int = 0
    temperature: float = 1.0
    truncation: float | None = None
    truncation_mode: str = "resample"
    reject_quantile: float | None = None
    plausibility: dict[str, Any] | None = None
    root: str = "none"
    mix_ratio: float = 0.0
    mix: dict[str, Any] | None = None
    outputs: tuple[str, ...] = ()
    format: str = "npz"
    geometry_dtype: str = "float32"
    body: dict[str, Any] | None = None
    image_size: int = 256
    angles: tuple[float, ...] = (0.0,)
    random_camera: bool = False
    compress: bool = False
    decode_chunk: int = DECODE_CHUNK
    body_chunk: int = BODY_CHUNK

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", tuple(o for o in OUTPUTS if o in self.outputs))
        object.__setattr__(self, "angles", tuple(float(a) for a in self.angles))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` on a value out of range."""
        _check(self.n >= 1, f"--n must be at least 1, got {self.n}")
        _check(self.shard_size >= 1, f"--shard-size must be at least 1, got {self.shard_size}")
        _check(math.isfinite(self.temperature) and self.temperature >= 0,
               f"--temperature must be a finite number >= 0, got {self.temperature}")
        _check(self.truncation is None or (math.isfinite(self.truncation) and self.truncation > 0),
               f"--truncation must be a positive number, got {self.truncation}")
        _check(self.truncation_mode in TRUNCATION_MODES,
               f"--truncation-mode must be one of {', '.join(TRUNCATION_MODES)}")
        _check(self.reject_quantile is None or 0 <= self.reject_quantile < 1,
               f"--reject-implausible must be a quantile in [0, 1), got {self.reject_quantile}")
        _check(self.root in ROOT_MODES, f"root mode must be one of {', '.join(ROOT_MODES)}")
        _check(0 <= self.mix_ratio <= 1, f"--mix-ratio must be in [0, 1], got {self.mix_ratio}")
        _check(self.format in FORMATS, f"--format must be one of {', '.join(FORMATS)}")
        _check(self.geometry_dtype in GEOMETRY_DTYPES, f"--dtype must be one of {', '.join(GEOMETRY_DTYPES)}")
        _check(16 <= self.image_size <= 4096, f"--image-size must be in 16..4096, got {self.image_size}")
        _check(len(self.angles) >= 1 and all(math.isfinite(a) for a in self.angles),
               "--angles must be one or more finite numbers")
        _check(self.decode_chunk >= 1 and self.body_chunk >= 1, "chunk sizes must be >= 1")

    # -- the shard plan ------------------------------------------------------------------------
    @property
    def num_shards(self) -> int:
        return -(-self.n // self.shard_size)

    def shard_count(self, index: int) -> int:
        """Samples in shard ``index``."""
        if not 0 <= index < self.num_shards:
            raise InputError(f"shard {index} out of range 0..{self.num_shards - 1}")
        return min(self.shard_size, self.n - index * self.shard_size)

    def shard_file(self, index: int) -> str:
        """``shard-000042.npz`` (at least 6 digits; more when there are more shards)."""
        width = max(6, len(str(self.num_shards - 1)))
        return f"shard-{index:0{width}d}.{FORMATS[self.format]}"

    @property
    def needs_body(self) -> bool:
        return bool(self.outputs)

    @property
    def needs_render(self) -> bool:
        return "images" in self.outputs

    @property
    def num_views(self) -> int:
        return 1 if self.random_camera else len(self.angles)

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; equal settings give equal dicts."""
        d = asdict(self)
        d["outputs"], d["angles"] = list(self.outputs), list(self.angles)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerateSettings:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown settings {', '.join(unknown)} (written by a newer vposer?)")
        kw = dict(d)
        kw["outputs"] = tuple(kw.get("outputs", ()))
        kw["angles"] = tuple(kw.get("angles", (0.0,)))
        return cls(**kw)

    def replace(self, **changes: Any) -> GenerateSettings:
        d = asdict(self)
        d.update(changes)
        return GenerateSettings(**d)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(message)


def settings_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``'key: a != b'`` for each top-level key whose values differ."""
    keys = sorted(set(a) | set(b))
    return [f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def parse_shard_range(text: str | None, num_shards: int) -> tuple[int, int]:
    """``'a:b'`` (half-open, either end may be omitted) or ``'i'`` to ``(start, stop)`` clipped
    to ``[0, num_shards]``; None = all shards."""
    if text is None or text.strip() in ("", ":"):
        return 0, num_shards
    try:
        if ":" in text:
            lo, hi = text.split(":", 1)
            start = int(lo) if lo.strip() else 0
            stop = int(hi) if hi.strip() else num_shards
        else:
            start = int(text)
            stop = start + 1
    except ValueError:
        raise InputError(f"--shards must look like START:STOP (e.g. 0:10), got {text!r}") from None
    if start < 0 or stop < start:
        raise InputError(f"--shards {text!r}: need 0 <= START <= STOP")
    return min(start, num_shards), min(stop, num_shards)


def default_shard_size(outputs: tuple[str, ...]) -> int:
    """100 000 for poses (and joints); 1 000 when samples carry vertices, images or meshes."""
    heavy = {"vertices", "images", "meshes"} & set(outputs)
    return HEAVY_SHARD_SIZE if heavy else DEFAULT_SHARD_SIZE


__all__ = [
    "FORMATS",
    "OUTPUTS",
    "ROOT_MODES",
    "STREAMS",
    "GenerateSettings",
    "Settings",
    "default_shard_size",
    "derive_seed",
    "parse_shard_range",
    "settings_differences",
    "shard_generator",
]


#: The former name of :class:`GenerateSettings`, kept for old imports.
Settings = GenerateSettings
