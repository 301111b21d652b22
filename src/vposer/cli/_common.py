"""Arguments and helpers shared by several sub-commands."""
from __future__ import annotations

import argparse
from typing import Any

MODEL_HELP = ("VPoser to use: a release folder (vposer_v1_0, V02_05), a .pt/.ckpt file, or a "
              "native model folder/.safetensors; default: the open weights shipped with vposer")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` after an option's help unless the help already says what the
    default is, or the default is None (an absent value the help explains)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.nargs == 0 or "default" in text:
            return text
        return super()._get_help_string(action)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", metavar="PATH", default=None, help=MODEL_HELP)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")


def add_body_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--body", default=None,
                        help="body-model file (.npz/.pkl of SMPL, SMPL+H, SMPL-X, MANO) or 'open' "
                        "(default: the open body)")


def add_matrices_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrices", action="store_true",
                        help="also store the rotation matrices (N, 21, 3, 3) under 'pose_body_matrot'")


def check_device(device: Any) -> None:
    """Raise :class:`~vposer.errors.InputError` for a ``--device`` torch cannot use here."""
    import torch

    from ..errors import InputError

    if device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"--device {device!r} is not a torch device ({exc})") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is available to this torch "
                         f"({torch.__version__})")


def load_model_from_args(args: Any):
    import vposer

    check_device(getattr(args, "device", None))
    return vposer.load_model(args.model, device=getattr(args, "device", None))


def model_label(model: Any, args: Any) -> str:
    return str(args.model) if args.model else "default (open weights)"
