"""``vposer export``: a VPoser as runtime-neutral ONNX graphs, for use without PyTorch.

:func:`export_onnx` writes, into one folder:

- ``decoder.onnx``: ``z`` ``(batch, D)`` -> ``axis_angle`` ``(batch, 21, 3)``, ``matrices``
  ``(batch, 21, 3, 3)`` (what ``model.decode`` returns);
- ``encoder.onnx``: ``poses`` ``(batch, 63)`` -> ``mean``, ``scale`` ``(batch, D)`` (the posterior
  ``Normal``'s ``mean`` and ``stddev`` that ``model.encode`` returns);
- ``vposer_export.json``: sizes, joint order, conventions, the source weights and their hashes,
  the package version, the model's learned latent prior when it has one
  (:mod:`vposer.model.latent_prior`), and the SHA-256 and size of each graph (checked by
  :func:`vposer.runtime.load_exported`).

Float32, dynamic batch size, opset 17 (see :mod:`vposer.export.onnx_graphs` for how the graphs
are built: node by node with ``onnx.helper``, no torch exporter involved). Files are written
atomically, the manifest last.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import PathLike
from ..errors import OutputError, VPoserError
from ..fileio import atomic_path, check_writable, write_json
from ..runtime import FORMAT, FORMAT_VERSION, GRAPHS, MANIFEST_NAME, sha256_file

if TYPE_CHECKING:  # the module itself does not import torch
    from ..model import VPoser

__all__ = ["export_onnx", "check_agreement", "FORMATS", "JOINT_NAMES"]

#: The formats ``vposer export`` writes.
FORMATS = ("onnx",)
#: The 21 joints of ``pose_body``, in order (SMPL's body joints without the pelvis).
JOINT_NAMES = (
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
CONVENTIONS = {
    "dtype": "float32 inputs and outputs; the batch dimension is dynamic",
    "latent": "z ~ N(0, I) is the prior; sample by decoding standard normal codes",
    "axis_angle": "per joint a rotation vector (axis * angle, radians), angle in [0, pi], relative "
                  "to the parent joint; flattened (batch, 63) it is SMPL/SMPL-X pose_body",
    "matrices": "row-major 3x3 rotation matrices R with x' = R x (column vectors)",
    "encoder_input": "axis-angle poses (batch, 63) in joint order",
    "encoder_output": "the approximate posterior N(mean, scale^2) per latent dimension; mean is the "
                      "pose's latent code; scale is at least 1e-12",
}


LEARNED_PRIOR = ("z is drawn from the Gaussian mixture in latent_prior: a component k by weights, "
                 "then z = means[k] + scale_tril[k] @ eps with eps ~ N(0, I) (float32 values); "
                 "N(0, I) is the prior the network was trained against")


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise VPoserError("exporting to ONNX needs the onnx package: pip install 'vposer[onnx]'") from None
    return onnx


def _source(model: VPoser) -> dict[str, Any]:
    """Where the weights came from, with the SHA-256 of the source file when there is one."""
    from ..posefiles import model_fingerprint

    info = model.info
    out: dict[str, Any] = {k: info[k] for k in ("format", "path", "snapshot", "epoch") if info.get(k) is not None}
    candidate = info.get("snapshot") or info.get("path")
    if candidate:
        path = Path(candidate)
        if path.is_dir() and (path / "model.safetensors").is_file():
            path = path / "model.safetensors"
        if path.is_file():
            out["file"] = str(path)
            out["file_sha256"] = sha256_file(path)
    out["weights_sha256"] = model_fingerprint(model)
    return out


def _graphs(model: VPoser, opset: int) -> dict[str, Any]:
    from .onnx_graphs import decoder_model, encoder_model
    from .weights import decoder_weights, encoder_weights

    c = model.config
    doc = (f"VPoser {c.architecture} (num_neurons {c.num_neurons}, latent_dim {c.latent_dim}), "
           "exported by vposer")
    return {"decoder": decoder_model(decoder_weights(model), opset, doc),
            "encoder": encoder_model(encoder_weights(model), opset, doc)}


def check_agreement(model: VPoser, folder: PathLike, n: int = 1024, seed: int = 0) -> dict[str, float]:
    """Max absolute differences between ``model`` (torch, eval mode) and the export in ``folder``
    (ONNX Runtime): ``{"matrices", "axis_angle"}`` on ``n`` standard normal codes, ``{"mean",
    "scale"}`` on the poses they decode to."""
    import torch

    from ..runtime import load_exported

    exported = load_exported(folder, threads=1)
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model.decode(z)
        post = model.encode(ref.axis_angle)
    out = exported.decode(z.numpy())
    enc = exported.encode(ref.axis_angle.numpy())
    diff = lambda a, b: float(np.abs(np.asarray(a, np.float64) - b.double().cpu().numpy()).max())  # noqa: E731
    return {"matrices": diff(out.matrices, ref.matrices), "axis_angle": diff(out.axis_angle, ref.axis_angle),
            "mean": diff(enc.mean, post.mean), "scale": diff(enc.stddev, post.stddev)}


def export_onnx(model: VPoser, output: PathLike, opset: int | None = None) -> Path:
    """Export ``model`` as ONNX into the folder ``output``, as it computes in eval mode (batch
    norm with its running statistics, no dropout), in float32 whatever its dtype and device.

    Args:
        model: the network (any architecture ``vposer`` loads: v1, v2, ``vposer train`` output).
        output: the folder to write (created; existing export files are replaced).
        opset: ONNX opset (default :data:`~vposer.export.onnx_graphs.DEFAULT_OPSET`, 17).

    Returns:
        The folder's path.

    Raises:
        VPoserError: onnx is not installed, or the model's layers are not a VPoser layout.
        OutputError: the folder cannot be written.
    """
    from .._version import __version__
    from .onnx_graphs import DEFAULT_OPSET, OPSET_RANGE

    onnx = _require_onnx()
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise VPoserError(f"opset {opset} is not supported: choose {OPSET_RANGE[0]} to {OPSET_RANGE[1]}")
    folder = Path(output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError("is a file; the export needs a folder here", folder)
    check_writable(folder / MANIFEST_NAME)
    graphs = _graphs(model, opset)
    files: dict[str, Any] = {}
    for role, proto in graphs.items():
        onnx.checker.check_model(proto, full_check=True)
        data = proto.SerializeToString()
        name = GRAPHS[role][0]
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
        files[role] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                       "inputs": {i.name: _dims(i) for i in proto.graph.input},
                       "outputs": {o.name: _dims(o) for o in proto.graph.output}}
    c = model.config
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "vposer_version": __version__,
        "architecture": c.architecture, "num_neurons": c.num_neurons, "latent_dim": c.latent_dim,
        "num_joints": len(JOINT_NAMES), "joint_names": list(JOINT_NAMES),
        "opset": opset, "onnx_ir_version": int(graphs["decoder"].ir_version),
        "exporter": "vposer.export.onnx_graphs (graphs built with onnx.helper; no torch exporter)",
        "conventions": CONVENTIONS, "source": _source(model), "files": files,
    }
    if model.latent_prior is not None:
        prior = model.latent_prior
        manifest["conventions"] = {**CONVENTIONS, "latent": LEARNED_PRIOR}
        manifest["latent_prior"] = {"kind": "gaussian_mixture", "weights": prior.weights.tolist(),
                                    "means": prior.means.tolist(),
                                    "scale_tril": prior.scale_tril.tolist()}
    write_json(folder / MANIFEST_NAME, manifest)
    return folder


def _dims(value_info: Any) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param if d.dim_param else int(d.dim_value) for d in dims]
