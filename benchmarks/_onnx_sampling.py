"""The ONNX Runtime column of ``bench_sampling.py``: our decoder exported with ``vposer export``
and run by ``vposer.runtime`` (numpy and onnxruntime; the decode call a deployment makes).

Not part of the package. Each model is exported into a temporary folder, loaded with
``load_exported(folder, threads=...)`` (the benchmark's thread count as ONNX Runtime's intra-op
threads) and checked against ``model.decode`` on 1024 codes before it is timed.
"""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any


def missing() -> str | None:
    """Why the column cannot run here (a package missing), or None."""
    absent = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if absent:
        return f"{' and '.join(absent)} not installed (pip install 'vposer[onnx]')"
    return None


class OnnxContender:
    """An exported model in ONNX Runtime, with the notes the report prints about it."""

    def __init__(self, name: str, model: Any, threads: int, workdir: Path):
        import numpy as np
        import onnxruntime
        import torch

        from vposer.export import export_onnx
        from vposer.runtime import load_exported

        folder = export_onnx(model, workdir / f"{name}_onnx")
        self.exported = load_exported(folder, threads=threads)
        z = torch.randn(1024, model.latent_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            ref = model.decode(z)
        out = self.exported.decode(z.numpy())
        diff = float(np.abs(out.matrices - ref.matrices.numpy()).max())
        self.note = (f"{name}: ONNX Runtime {onnxruntime.__version__}, {threads} intra-op thread(s), "
                     f"opset {self.exported.manifest['opset']}; agreement on 1024 codes: "
                     f"max |onnx - ours| over the matrices = {diff:.1e}")

    def decode(self, z: Any) -> Any:
        """``z`` a numpy ``(N, D)`` float32 array; returns axis-angle and matrices."""
        return self.exported.decode(z)


def start(models: dict[str, Any], threads: int) -> tuple[dict[str, OnnxContender], list[str], Any]:
    """One contender per model (none when a package is missing), notes for the report, and the
    temporary folder to clean up (or None)."""
    why = missing()
    if why:
        return {}, [f"onnx: {why}: no ONNX Runtime column"], None
    tmp = tempfile.TemporaryDirectory(prefix="vposer-bench-onnx-")
    contenders = {name: OnnxContender(name, model, threads, Path(tmp.name)) for name, model in models.items()}
    return contenders, [c.note for c in contenders.values()], tmp
