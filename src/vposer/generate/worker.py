"""Producing one shard, in whichever process runs it (this one, a pool worker, a Dask worker).

:func:`produce_shard` takes a picklable :class:`ShardJob`, loads (once per process) the model,
the body, the user's poses and the renderer, fixes the torch thread count, builds the shard and
writes it to ``.shard-XXXXXX.<ext>.<random>.tmp`` in the output folder, hashes it, and renames it
to its final name after an fsync (:func:`vposer.fileio.atomic_path`): a shard file that exists
is complete.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..fileio import atomic_path
from .errors import GenerateError, output_error
from .extras import cameras, iter_chunks
from .manifest import sha256_file
from .sampling import shard_poses
from .settings import GenerateSettings, derive_seed
from .writers import ShardContent, write_npz_shard, write_parquet_shard, write_tar_shard

if TYPE_CHECKING:
    from ..model import VPoser


_CACHE: dict[tuple, Any] = {}
_ASSIGNED_DEVICE: str | None = None
_SETUP = [0.0]  # seconds this process spent loading models, bodies, renderers


@dataclass(frozen=True)
class ShardJob:
    """One shard to make: where, with what. Everything in it is picklable."""

    index: int
    count: int
    out_dir: str
    file: str
    settings: GenerateSettings
    model_path: str | None
    model_sha256: str
    device: str = "cpu"
    threads: int = 1
    body_path: str | None = None
    mix_path: str | None = None
    reference_path: str | None = None


@dataclass(frozen=True)
class ShardResult:
    """What a finished shard is: its manifest entry plus run statistics."""

    index: int
    file: str
    count: int
    sha256: str
    bytes: int
    drawn: int
    seconds: float
    setup_seconds: float = 0.0

    def entry(self) -> dict[str, Any]:
        return {"index": self.index, "file": self.file, "count": self.count, "sha256": self.sha256,
                "bytes": self.bytes}


def init_worker(device_queue: Any = None, threads: int = 1, gl_threads: int | None = None) -> None:
    """Pool initializer: take a device from ``device_queue`` (one GPU per process), fix threads,
    and cap llvmpipe's render threads (``LP_NUM_THREADS``) unless the user set them."""
    global _ASSIGNED_DEVICE
    if device_queue is not None:
        _ASSIGNED_DEVICE = device_queue.get()
        if _ASSIGNED_DEVICE.startswith("cuda:"):
            os.environ.setdefault("GLCONTEXT_DEVICE_INDEX", _ASSIGNED_DEVICE.split(":")[1])
    if gl_threads:
        os.environ.setdefault("LP_NUM_THREADS", str(gl_threads))
    torch.set_num_threads(threads)


def _cached(key: tuple, build):
    if key not in _CACHE:
        t0 = time.perf_counter()
        _CACHE[key] = build()
        _SETUP[0] += time.perf_counter() - t0
    return _CACHE[key]


def _model(job: ShardJob, device: str):
    from ..checkpoints import load_model
    from ..posefiles import model_fingerprint

    def build():
        model = load_model(job.model_path, device=device)
        if model_fingerprint(model) != job.model_sha256:
            raise GenerateError("the model's weights changed since the run started", job.model_path or "default model")
        return model

    return _cached(("model", job.model_path, job.model_sha256, device), build)


def prime_model(model: VPoser, path: str | None, sha256: str, device: str) -> None:
    """Let shards made in this process use an already loaded model (eval mode, on ``device``)."""
    ref = next(model.parameters())
    if not model.training and torch.device(device) == ref.device:
        _CACHE[("model", path, sha256, device)] = model


def _body(job: ShardJob, device: str):
    from ..body import load_body

    return _cached(("body", job.body_path, device), lambda: load_body(job.body_path).to(device).eval())


def _poses(path: str | None) -> np.ndarray | None:
    from ..posefiles import load_poses

    return None if path is None else _cached(("poses", path), lambda: load_poses(path))


def _renderer(size: int):
    from ..render import get_renderer

    return _cached(("renderer", size), lambda: get_renderer(size))


def _score(job: ShardJob, model):
    from .plausibility import resolve_score

    p = job.settings.plausibility
    if job.settings.reject_quantile is None or not p:
        return None
    return resolve_score(model, _poses(job.reference_path), p["score"])[1]


def shard_meta(job: ShardJob) -> dict[str, Any]:
    """The ``meta`` of a shard: enough to reproduce it."""
    from .._version import __version__

    return {"command": "vposer generate", "vposer_version": __version__, "shard": job.index,
            "count": job.count, "first": job.index * job.settings.shard_size,
            "latent_seed": derive_seed(job.settings.seed, job.index, "latent"),
            "model_sha256": job.model_sha256, "settings": job.settings.to_dict()}


def build_content(job: ShardJob) -> tuple[ShardContent, int]:
    """The shard's content (heavy outputs as a lazy chunk iterator) and the codes drawn."""
    device = _ASSIGNED_DEVICE or job.device
    s = job.settings
    model = _model(job, device)
    batch = shard_poses(model, s, job.index, job.count, _score(job, model), _poses(job.mix_path))
    columns = {"pose_body": batch.pose_body, "z": batch.z}
    for name in ("root_orient", "from_user", "user_index"):
        if getattr(batch, name) is not None:
            columns[name] = getattr(batch, name)
    columns.update(cameras(s, job.index, job.count) or {})
    content = ShardContent(job.index, job.index * s.shard_size, job.count, columns, meta=shard_meta(job))
    if s.needs_body:
        body = _body(job, device)
        renderer = _renderer(s.image_size) if s.needs_render else None
        content.chunks = iter_chunks(s, job.index, batch, body, renderer)
        if s.format == "npz" and {"vertices", "meshes"} & set(s.outputs):
            content.faces = body.faces.cpu().numpy().astype(np.int32)
    return content, batch.drawn


def write_content(fh, content: ShardContent, settings: GenerateSettings) -> None:
    if settings.format == "npz":
        write_npz_shard(fh, content, settings.compress)
    elif settings.format == "webdataset":
        write_tar_shard(fh, content)
    else:
        write_parquet_shard(fh, content)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads, then restore the previous count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def produce_shard(job: ShardJob) -> ShardResult:
    """Make, write and rename one shard; returns its record.

    Raises:
        OutputError: the shard cannot be written (disk full, permissions, ...); no temporary
            file is left behind.
    """
    t0, setup0 = time.perf_counter(), _SETUP[0]
    final = Path(job.out_dir) / job.file
    doing = f"writing shard {job.index}"
    with torch_threads(job.threads), torch.no_grad():
        content, drawn = build_content(job)
        # .shard-XXXXXX.<ext>.<random>.tmp until whole: the runner removes such leftovers
        with atomic_path(final, keep_suffix=False,
                         error=lambda exc, path: output_error(exc, path, doing)) as tmp:
            with open(tmp, "w+b") as fh:
                write_content(fh, content, job.settings)
            digest, size = sha256_file(tmp), os.path.getsize(tmp)
    return ShardResult(job.index, job.file, job.count, digest, size, drawn, time.perf_counter() - t0,
                       _SETUP[0] - setup0)
