"""``vposer convert``: any supported model to the native format."""
from __future__ import annotations

import argparse
from pathlib import Path

from ._common import MODEL_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a release or checkpoint to the native format (safetensors + JSON)",
        description="Read a VPoser model from any supported source (v1 or v2 release folder, "
        ".pt/.ckpt file, native model) and write it in vposer's native format: a folder with "
        "model.safetensors and config.json, or a single .safetensors file when OUTPUT ends so. "
        "The weights are copied bit for bit; nothing in the source folder is executed.",
        epilog="example: vposer convert ~/models/vposer_v1_0 -o vposer_v1_native",
    )
    p.add_argument("source", help=MODEL_HELP.replace("; default: the open weights shipped with vposer", ""))
    p.add_argument("-o", "--output", required=True, help="output folder or .safetensors file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input, check_output

    check_input(args.source, "any")
    check_output(args.output if args.output.endswith(".safetensors") else
                 Path(args.output) / "model.safetensors", inputs=[args.source])
    import vposer

    model = vposer.load_model(args.source)
    path = vposer.save_model(model, args.output)
    print(f"converted {model.info.get('format')} {args.source} -> native {path}")
    return 0
