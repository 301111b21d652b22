"""The dataset manifest: model hash, settings and every finished shard's file, count and SHA-256.

``DIR/manifest.json`` is rewritten atomically (temporary file, fsync, rename) as shards finish,
so a killed run leaves a valid manifest listing the shards it finished. Processes sharing a
directory (a SLURM job array on one file system) merge their shards into it under an exclusive
``flock`` on ``DIR/.manifest.lock``. Where locks do not work, each process can write its own
``manifest.<name>.json``; any later run reads all ``manifest*.json`` of the directory.

The manifest holds no time, host or worker count: an interrupted-then-resumed run and an
uninterrupted one write the same manifest.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator

from ..errors import InputError
from ..fileio import write_json
from .errors import output_error
from .settings import settings_differences

MANIFEST = "manifest.json"
LOCK = ".manifest.lock"
FORMAT = "vposer-generate-manifest"
FORMAT_VERSION = 1
HASH_BLOCK = 1 << 22


def new_manifest(model: dict[str, Any], settings: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """An empty manifest: ``format``, ``model`` (sha256, architecture, latent_dim), ``settings``,
    ``num_samples``, ``num_shards``, ``environment`` (device type, threads per worker, torch version:
    what byte-for-byte reproduction depends on), ``shards`` [] and ``complete``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "settings": settings,
        "num_samples": settings["n"],
        "num_shards": -(-settings["n"] // settings["shard_size"]),
        "seeding": "stream seed = int.from_bytes(sha256(f'vposer-generate/1:{seed}:{shard}:{stream}')[:8], 'big')",
        "environment": environment,
        "shards": [],
        "complete": False,
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(HASH_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest from disk; :class:`InputError` when it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable manifest ({exc})", path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError("not a vposer generate manifest", path)
    if doc.get("format_version") != FORMAT_VERSION:
        raise InputError(f"manifest format version {doc.get('format_version')} is not supported", path)
    return doc


def manifest_paths(directory: Path) -> list[Path]:
    """``manifest.json`` and any ``manifest.*.json`` parts in ``directory``, sorted."""
    return sorted(p for p in directory.glob("manifest*.json") if p.is_file())


def check_compatible(doc: dict[str, Any], model: dict[str, Any], settings: dict[str, Any], path: Path,
                     ignore: Iterable[str] = ()) -> None:
    """Refuse to add to a dataset made with another model or other settings."""
    if doc["model"].get("sha256") != model["sha256"]:
        raise InputError(
            f"this dataset was generated with another model (sha256 {doc['model'].get('sha256', '?')[:12]}..., "
            f"now {model['sha256'][:12]}...): use the same --model or another --out", path)
    ours = {k: v for k, v in settings.items() if k not in ignore}
    theirs = {k: v for k, v in doc["settings"].items() if k not in ignore}
    diff = settings_differences(theirs, ours)
    if diff:
        raise InputError(
            "this dataset was generated with other settings (" + "; ".join(diff[:4]) +
            "): repeat the original options or use another --out", path)


def existing_records(directory: Path, model: dict[str, Any], settings: dict[str, Any],
                     ignore: Iterable[str] = ()) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None]:
    """Shard records of every manifest in ``directory`` (after checking they match), and the
    first manifest found (None if there is none)."""
    records: dict[int, dict[str, Any]] = {}
    first = None
    for path in manifest_paths(directory):
        doc = read_manifest(path)
        check_compatible(doc, model, settings, path, ignore)
        first = first or doc
        for entry in doc.get("shards", []):
            records.setdefault(int(entry["index"]), entry)
    return records, first


def verify(directory: Path, entry: dict[str, Any]) -> str | None:
    """None when the shard file matches its record, else why not (``'missing'``, ``'size ...'``,
    ``'checksum mismatch'``)."""
    path = directory / entry["file"]
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size != entry["bytes"]:
        return f"size {size} bytes, expected {entry['bytes']}"
    if sha256_file(path) != entry["sha256"]:
        return "checksum mismatch"
    return None


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``directory/.manifest.lock`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one process per directory
        yield
        return
    path = directory / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise output_error(exc, path, "opening the manifest lock") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise output_error(exc, path, "locking the manifest",
                               "on a file system without locks give each process its own --manifest NAME") from None
        yield
    finally:
        os.close(fd)


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as indented JSON over ``path`` (:func:`vposer.fileio.write_json`: temporary
    file, fsync, rename); a failure is an :class:`~vposer.generate.errors.OutputError`."""
    write_json(path, doc, indent=1, sort_keys=True, keep_suffix=False,
               error=lambda exc, where: output_error(
                   exc, where, "writing the manifest",
                   "finished shards are kept; fix this and rerun with --resume"))


def merge_shards(path: Path, base: dict[str, Any], records: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Under the lock: read ``path`` (or start from ``base``), put in our ``records`` (ours win
    for their indices), mark ``complete``, write atomically. Returns what was written."""
    with locked(path.parent):
        doc = read_manifest(path) if path.is_file() else dict(base)
        entries = {int(e["index"]): e for e in doc.get("shards", [])}
        entries.update(records)
        doc["shards"] = [entries[i] for i in sorted(entries)]
        doc["complete"] = len(entries) == doc["num_shards"]
        write_json_atomic(path, doc)
    return doc
