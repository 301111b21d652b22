"""Arguments and helpers shared by several sub-commands."""
from __future__ import annotations

import argparse
from typing import Any

MODEL_HELP = ("VPoser to use: a release folder (vposer_v1_0, V02_05), a .pt/.ckpt file, or a "
              "native model folder/.safetensors; default: the open weights shipped with vposer")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", metavar="PATH", default=None, help=MODEL_HELP)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")


def add_body_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--body", default=None, help="body model file or name (default: the open body)")


def add_matrices_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrices", action="store_true",
                        help="also store the rotation matrices (N, 21, 3, 3) under 'pose_body_matrot'")


def load_model_from_args(args: Any):
    import vposer

    return vposer.load_model(args.model, device=getattr(args, "device", None))


def model_label(model: Any, args: Any) -> str:
    return str(args.model) if args.model else "default (open weights)"
