"""Synthetic data at scale: sharded, deterministic, resumable pose (and body, image) datasets.

::

    from vposer.generate import GenerateSettings, Options, generate
    summary = generate(GenerateSettings(n=1_000_000, seed=0), Options(out="poses", workers="auto"))

A dataset of ``n`` samples is cut into shards of ``shard_size``; shard ``i`` is a pure function
of (model hash, settings, seed, i): its random streams are seeded with :func:`derive_seed`
(SHA-256 of ``seed`` and ``i`` -> 64 bits), so shards can be made in any order, by any number of
processes or machines, and the same shard on the same device and thread settings has the same
bytes. ``DIR/manifest.json`` records the model hash, the settings and each shard's file, count
and SHA-256; ``resume=True`` verifies what exists and makes only missing or damaged shards.
See ``docs/generate.md`` for the formats, the options and SLURM / Dask recipes.
"""
from .errors import GenerateError, OutputError
from .manifest import read_manifest, sha256_file, verify
from .plausibility import register_score, resolve_score
from .runner import Options, Summary, generate
from .sampling import PoseBatch, draw_latent, shard_poses
from .settings import FORMATS, OUTPUTS, GenerateSettings, Settings, derive_seed, shard_generator
from .worker import ShardJob, ShardResult, produce_shard
from .writers import write_npz

__all__ = [
    "FORMATS",
    "OUTPUTS",
    "GenerateError",
    "GenerateSettings",
    "Options",
    "OutputError",
    "PoseBatch",
    "Settings",  # the former name of GenerateSettings
    "ShardJob",
    "ShardResult",
    "Summary",
    "derive_seed",
    "draw_latent",
    "generate",
    "produce_shard",
    "read_manifest",
    "register_score",
    "resolve_score",
    "sha256_file",
    "shard_generator",
    "shard_poses",
    "verify",
    "write_npz",
]
