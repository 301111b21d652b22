"""``vposer export``: the decoder and encoder as ONNX files, for runtimes without PyTorch."""
from __future__ import annotations

import argparse

from ._common import add_model_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export the decoder and encoder to ONNX (for use without PyTorch)",
        description="Write the model's decoder (latent codes -> axis-angle and rotation matrices, "
        "what model.decode returns) and encoder (axis-angle poses -> posterior mean and scale) as "
        "ONNX graphs (float32, dynamic batch size, opset 17 by default) into OUTPUT, with "
        "vposer_export.json beside them: sizes, joint order, conventions, the source weights and "
        "their SHA-256, the package version and each file's SHA-256. Load the folder with "
        "vposer.runtime.load_exported (numpy and onnxruntime only) or any ONNX runtime. When "
        "onnxruntime is installed, the export is checked against the torch model on 1024 codes.",
        epilog="example: vposer export -m ~/models/V02_05 --format onnx -o V02_05_onnx",
    )
    add_model_argument(p)
    p.add_argument("--format", choices=("onnx",), default="onnx", help="output format (default onnx)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write (created)")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset, 13 to 21 (default 17: ONNX Runtime >= 1.12, onnxruntime-web)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the comparison with the torch model in ONNX Runtime")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    import vposer

    from ..export import check_agreement, export_onnx
    from ..runtime import MANIFEST_NAME
    from ._common import model_label

    model = vposer.load_model(args.model)
    folder = export_onnx(model, args.output, opset=args.opset)
    print(f"exported {model_label(model, args)} ({model.config.architecture}, latent {model.latent_dim}) "
          f"to {folder}: decoder.onnx, encoder.onnx, {MANIFEST_NAME}")
    if args.no_check:
        return 0
    if importlib.util.find_spec("onnxruntime") is None:
        print("not checked: onnxruntime is not installed (pip install 'vposer[onnx]')")
        return 0
    diff = check_agreement(model, folder)
    print("checked in ONNX Runtime on 1024 codes, max |onnx - torch|: "
          + ", ".join(f"{k} {v:.1e}" for k, v in diff.items()))
    return 0
