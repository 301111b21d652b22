"""VPoser without PyTorch: decode and encode with ONNX Runtime and numpy, from ``vposer export``.

This module imports neither torch nor anything that imports torch (a test runs it where ``import
torch`` fails): a deployment needs ``numpy`` and ``onnxruntime`` only (``pip install
'vposer[onnx]'``, or just those two packages and this package's wheel)::

    from vposer.runtime import load_exported

    model = load_exported("vposer_onnx")          # a folder written by `vposer export`
    out = model.decode(z)                         # z (N, 32) -> axis_angle (N, 21, 3), matrices (N, 21, 3, 3)
    post = model.encode(out.axis_angle)           # post.mean, post.stddev (N, 32)
    poses = model.sample(10, seed=0)              # numpy's generator: not the codes torch draws for a seed

The folder holds ``decoder.onnx``, ``encoder.onnx`` and ``vposer_export.json`` (the manifest:
sizes, joint order, conventions, the source weights' hashes, the SHA-256 and size of each ``.onnx``
file, and the model's learned latent prior when it has one). Loading checks every file against the
manifest and refuses a missing, changed, truncated or unreadable one with
:class:`ExportedModelError`, one line naming the file.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, NamedTuple
from collections.abc import Callable, Sequence

import numpy as np

from .errors import CheckpointError, InputError, reads_file
from ._types import PathLike


__all__ = [
    "MANIFEST_NAME", "FORMAT", "FORMAT_VERSION", "ExportedModelError", "ExportedVPoser",
    "DecodedArrays", "Posterior", "load_exported", "read_latent_prior", "read_manifest", "sha256_file",
]

#: The manifest's file name inside an exported folder.
MANIFEST_NAME = "vposer_export.json"
FORMAT = "vposer-onnx"
FORMAT_VERSION = 1
#: The graphs and their input and output names: ``{role: (file, inputs, outputs)}``.
GRAPHS = {
    "decoder": ("decoder.onnx", ("z",), ("axis_angle", "matrices")),
    "encoder": ("encoder.onnx", ("poses",), ("mean", "scale")),
}
_HASH_BLOCK = 1 << 22
#: Poses run through ONNX Runtime at a time: a block's intermediate tensors stay in the caches
#: (64k codes decode about 1.5x faster in blocks of 1024 than in one run).
BLOCK = 1024


class ExportedModelError(CheckpointError):
    """An exported folder cannot be used: a missing, changed, truncated or unreadable file, or a
    manifest that is not one."""


class DecodedArrays(NamedTuple):
    """Decoded body poses, as numpy arrays (the fields of :class:`vposer.model.DecodedPoses`).

    Attributes:
        axis_angle: ``(N, J, 3)`` float32 axis-angle, angles in ``[0, pi]``.
        matrices: ``(N, J, 3, 3)`` float32 rotation matrices (column-vector convention).
    """

    axis_angle: np.ndarray
    matrices: np.ndarray

    @property
    def pose_body(self) -> np.ndarray:
        """``(N, 3 J)`` flattened axis-angle, the layout of SMPL's ``pose_body``."""
        return self.axis_angle.reshape(self.axis_angle.shape[0], -1)


class Posterior(NamedTuple):
    """The encoder's Gaussian over latent codes (``Normal.mean`` and ``Normal.stddev`` in torch).

    Attributes:
        mean: ``(N, D)`` float32, the latent code of each pose.
        stddev: ``(N, D)`` float32, at least 1e-12.
    """

    mean: np.ndarray
    stddev: np.ndarray

    @property
    def scale(self) -> np.ndarray:
        """``(N, D)``, the same as :attr:`stddev` (torch's ``Normal.scale``)."""
        return self.stddev


def sha256_file(path: PathLike) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_HASH_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


@reads_file
def read_manifest(folder: PathLike) -> dict[str, Any]:
    """The manifest of an exported folder, checked for the fields loading needs.

    Raises:
        ExportedModelError: no folder, no manifest, or a manifest that is not one.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ExportedModelError("not a folder (expected one written by `vposer export`)", folder)
    path = folder / MANIFEST_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportedModelError(f"no {MANIFEST_NAME}: not a folder written by `vposer export`", path) from None
    except (OSError, ValueError) as exc:
        raise ExportedModelError(f"unreadable manifest ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExportedModelError(f"not a vposer export manifest (format is not {FORMAT!r})", path)
    if doc.get("format_version") != FORMAT_VERSION:
        raise ExportedModelError(f"manifest format version {doc.get('format_version')!r} is not supported "
                                 f"by this vposer (reads {FORMAT_VERSION})", path)
    files = doc.get("files")
    ok = isinstance(files, dict) and all(
        isinstance(files.get(role), dict) and isinstance(files[role].get("sha256"), str)
        and isinstance(files[role].get("bytes"), int) and files[role].get("file") == GRAPHS[role][0]
        for role in GRAPHS)
    if not ok or not isinstance(doc.get("latent_dim"), int) or not isinstance(doc.get("num_joints"), int):
        raise ExportedModelError("incomplete manifest (files, latent_dim or num_joints missing or wrong)", path)
    return doc


def read_latent_prior(manifest: dict[str, Any], path: Path) -> tuple[np.ndarray, ...] | None:
    """The manifest's learned latent prior, ``(weights (K,), means (K, D), scale_tril (K, D, D))``
    float64, checked; ``None`` when the export has none (samples come from ``N(0, I)``).

    Raises:
        ExportedModelError: the entry is not a valid Gaussian mixture over ``D``-dim codes.
    """
    entry = manifest.get("latent_prior")
    if entry is None:
        return None
    d = manifest["latent_dim"]
    try:
        if not isinstance(entry, dict) or entry.get("kind") != "gaussian_mixture":
            raise ValueError("not a gaussian_mixture")
        w, mu, tril = (np.asarray(entry[k], dtype=np.float64) for k in ("weights", "means", "scale_tril"))
        k = len(w)
        if w.shape != (k,) or k < 1 or mu.shape != (k, d) or tril.shape != (k, d, d):
            raise ValueError(f"shapes {w.shape}, {mu.shape}, {tril.shape}")
        if not all(np.isfinite(a).all() for a in (w, mu, tril)):
            raise ValueError("NaN or Inf")
        diag = np.diagonal(tril, axis1=1, axis2=2)
        if (w <= 0).any() or abs(w.sum() - 1) > 1e-4 or (diag <= 0).any() or np.triu(tril, 1).any():
            raise ValueError("weights not positive summing to 1, or scale_tril not lower-triangular "
                             "with a positive diagonal")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ExportedModelError(f"the manifest's latent_prior is not a usable Gaussian mixture "
                                 f"over {d}-D codes ({str(exc)[:120]})", path) from None
    return w / w.sum(), mu, tril


def _checked_bytes(folder: Path, entry: dict[str, Any]) -> bytes:
    """The bytes of one graph file, after checking its size and SHA-256 against the manifest."""
    path = folder / entry["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ExportedModelError(f"missing (listed in {MANIFEST_NAME})", path) from None
    except OSError as exc:
        raise ExportedModelError(f"unreadable ({exc.strerror or exc})", path) from None
    if len(data) != entry["bytes"]:
        what = "truncated" if len(data) < entry["bytes"] else "longer than exported"
        raise ExportedModelError(f"{what}: {len(data)} bytes, {MANIFEST_NAME} records {entry['bytes']}", path)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ExportedModelError(f"changed since export: its SHA-256 differs from the one in {MANIFEST_NAME}",
                                 path)
    return data


def _session(data: bytes, path: Path, threads: int | None, providers: Sequence[Any] | None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportedModelError("onnxruntime is not installed: pip install 'vposer[onnx]' "
                                 "(or onnxruntime)", path) from None
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(data, options, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportedModelError(f"ONNX Runtime cannot load it ({first})", path) from None


def _runner(session: Any, name: str, width: int) -> Callable[[list, dict], list]:
    """``session.run``, or the binding it wraps when that gives the same outputs: the Python
    wrapper's own checks of the input names (fixed here) cost about 2 us a call, 5 % of a
    one-pose decode."""
    inner = getattr(session, "_sess", None)
    outputs = [o.name for o in session.get_outputs()]
    if inner is not None:
        probe = {name: np.zeros((1, width), np.float32)}
        try:
            same = all(np.array_equal(a, b) for a, b in zip(
                inner.run(outputs, probe, None), session.run(outputs, probe)))
        except Exception:  # noqa: BLE001 - another onnxruntime version: use the public call
            same = False
        if same:
            return lambda names, feed: inner.run(names, feed, None)
    return session.run


def _run(run: Callable[[list, dict], list], outputs: list, name: str, x: np.ndarray, shapes: list) -> list:
    """The ``outputs`` for the batch ``x``, in blocks of :data:`BLOCK` rows; each output has the
    shape ``(len(x),) + shapes[k]``."""
    n = x.shape[0]
    if 0 < n <= BLOCK:
        return run(outputs, {name: np.ascontiguousarray(x)})
    out = [np.empty((n,) + shape, np.float32) for shape in shapes]
    for start in range(0, n, BLOCK):
        part = run(outputs, {name: np.ascontiguousarray(x[start:start + BLOCK])})
        for full, block in zip(out, part):
            full[start:start + len(block)] = block
    return out


class ExportedVPoser:
    """An exported VPoser running in ONNX Runtime: :meth:`decode`, :meth:`encode`, :meth:`sample`.

    Inputs are numpy arrays (or anything ``np.asarray`` takes), cast to float32; outputs are
    float32 numpy arrays with the shapes of the torch API. Build with :func:`load_exported`.

    Attributes:
        manifest: the export's manifest (``vposer_export.json``).
        latent_dim: ``D``, the size of a latent code.
        num_joints: ``J``, body joints per pose (21).
        joint_names: the joints' names in order.
        path: the exported folder.
        sessions: the ONNX Runtime sessions, ``{"decoder": ..., "encoder": ...}``.
        latent_prior: the model's learned prior over codes, ``(weights, means, scale_tril)``
            (:func:`read_latent_prior`), or ``None`` for ``N(0, I)``.
    """

    def __init__(self, path: Path, manifest: dict[str, Any], sessions: dict[str, Any]):
        self.path, self.manifest = path, manifest
        self.latent_prior = read_latent_prior(manifest, path / MANIFEST_NAME)
        self.latent_dim = int(manifest["latent_dim"])
        self.num_joints = int(manifest["num_joints"])
        self.joint_names = list(manifest.get("joint_names", []))
        self.sessions = sessions
        self._decoder = _runner(sessions["decoder"], "z", self.latent_dim)
        self._encoder = _runner(sessions["encoder"], "poses", 3 * self.num_joints)
        self._decode_outputs = list(GRAPHS["decoder"][2])
        self._encode_outputs = list(GRAPHS["encoder"][2])

    def __repr__(self) -> str:
        return (f"ExportedVPoser({str(self.path)!r}, architecture={self.manifest.get('architecture')!r}, "
                f"latent_dim={self.latent_dim})")

    def decode(self, z: Any) -> DecodedArrays:
        """Latent codes ``(N, D)`` (or ``(D,)``) to poses: ``axis_angle`` ``(N, J, 3)`` and
        ``matrices`` ``(N, J, 3, 3)``, float32.

        Unlike the torch ``decode``, codes are not checked for NaN or Inf (NaN poses come out):
        the check would add a tenth to a one-pose call. :meth:`encode` checks its poses.

        Raises:
            InputError: a wrong shape.
        """
        z = np.asarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise InputError(f"latent codes must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        j = self.num_joints
        axis_angle, matrices = _run(self._decoder, self._decode_outputs, "z", z, [(j, 3), (j, 3, 3)])
        return DecodedArrays(axis_angle, matrices)

    def encode(self, poses: Any) -> Posterior:
        """The posterior of axis-angle poses ``(N, 3 J)``, ``(N, J, 3)`` or ``(N, 1, J, 3)`` (or one
        pose ``(3 J,)`` / ``(J, 3)``): ``mean`` and ``stddev`` ``(N, D)``, float32.

        Raises:
            InputError: a wrong shape, or NaN/Inf in the poses.
        """
        x = np.asarray(poses, dtype=np.float32)
        j, shape = self.num_joints, tuple(np.shape(poses))
        if x.ndim in (1, 2) and shape[-1] == 3 * j:
            x = x.reshape(-1, 3 * j)
        elif 2 <= x.ndim <= 4 and shape[-2:] == (j, 3) and (x.ndim < 4 or shape[1] == 1):
            x = x.reshape(-1, 3 * j)
        else:
            raise InputError(f"poses must be (N, {3 * j}), (N, {j}, 3) or (N, 1, {j}, 3), got {shape}")
        if not np.isfinite(x).all():
            raise InputError("poses contain NaN or Inf")
        d = self.latent_dim
        mean, scale = _run(self._encoder, self._encode_outputs, "poses", x, [(d,), (d,)])
        return Posterior(mean, scale)

    def sample_latent(self, n: int, seed: int | None = None, temperature: float = 1.0,
                      rng: np.random.Generator | None = None) -> np.ndarray:
        """``(n, D)`` float32 codes from the prior, drawn with numpy's generator
        (``np.random.default_rng(seed)`` unless ``rng`` is given): the same seed gives other codes
        than torch's ``model.sample_latent``. The prior is :attr:`latent_prior` when the model had
        one (a component by weight, then ``means[k] + temperature * scale_tril[k] @ eps``), else
        ``N(0, temperature^2 I)``."""
        if seed is not None and rng is not None:
            raise InputError("give either seed or rng, not both")
        if n < 0:
            raise InputError(f"the number of samples must be >= 0, got {n}")
        if not math.isfinite(temperature) or temperature < 0:
            raise InputError(f"temperature must be a finite number >= 0, got {temperature}")
        rng = rng if rng is not None else np.random.default_rng(seed)
        if self.latent_prior is not None:
            weights, means, tril = self.latent_prior
            comp = rng.choice(len(weights), size=n, p=weights)
            eps = rng.standard_normal((n, self.latent_dim))
            z = np.empty((n, self.latent_dim), np.float32)
            for k in np.unique(comp):  # one step per component used
                rows = comp == k
                z[rows] = means[k] + temperature * eps[rows] @ tril[k].T
            return z
        z = rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        return z * np.float32(temperature) if temperature != 1.0 else z

    def sample(self, n: int, seed: int | None = None, temperature: float = 1.0,
               rng: np.random.Generator | None = None) -> DecodedArrays:
        """``n`` novel poses: :meth:`decode` of :meth:`sample_latent`."""
        return self.decode(self.sample_latent(n, seed=seed, temperature=temperature, rng=rng))


@reads_file
def load_exported(path: PathLike, threads: int | None = None,
                  providers: Sequence[Any] | None = None) -> ExportedVPoser:
    """Load a folder written by ``vposer export --format onnx``.

    Args:
        path: the folder (``vposer_export.json``, ``decoder.onnx``, ``encoder.onnx``).
        threads: ONNX Runtime's intra-op threads (default: its own choice, one per physical
            core); 1 is fastest for a few poses at a time.
        providers: ONNX Runtime execution providers (default ``["CPUExecutionProvider"]``).

    Raises:
        ExportedModelError: the manifest or a graph file is missing, changed, truncated or
            unreadable, or onnxruntime is not installed.
    """
    folder = Path(path).expanduser()
    manifest = read_manifest(folder)
    sessions = {}
    for role, (name, inputs, outputs) in GRAPHS.items():
        file = folder / name
        session = _session(_checked_bytes(folder, manifest["files"][role]), file, threads, providers)
        got_in = [i.name for i in session.get_inputs()]
        got_out = [o.name for o in session.get_outputs()]
        if got_in != list(inputs) or sorted(got_out) != sorted(outputs):
            raise ExportedModelError(f"unexpected graph: inputs {got_in}, outputs {got_out} "
                                     f"(expected {list(inputs)}, {list(outputs)})", file)
        sessions[role] = session
    return ExportedVPoser(folder, manifest, sessions)
