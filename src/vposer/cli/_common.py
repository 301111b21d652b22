"""Arguments and helpers shared by several sub-commands.

Everything here is light (no torch, numpy or Pillow): argument errors, help and output-path
checks run before a command imports anything heavy, so they answer at once.
"""
from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable

from ..errors import InputError
if TYPE_CHECKING:
    from ..model import VPoser


#: Attributes of the parsed arguments that hold paths (a string or a list of strings); the CLI
#: expands ``~`` and ``$VAR`` in them before a command runs (see :func:`expand_path_args`).
PATH_ARGS = ("amass_root", "asf", "body", "calibrate", "character", "config", "data", "input",
             "mapping", "mesh", "mix_poses", "model", "mp4", "out", "output", "output_dir",
             "plausibility_ref", "poses", "recipe", "render", "source", "sources", "splits",
             "strip", "write_calibration")

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


def add_model_argument(parser: argparse.ArgumentParser, samples: bool = False) -> None:
    """``-m/--model``; for a command that samples, also ``--standard-prior``."""
    parser.add_argument("-m", "--model", metavar="PATH", default=None, help=MODEL_HELP)
    if samples:
        add_standard_prior_argument(parser)


def add_standard_prior_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--standard-prior", action="store_true",
                        help="draw latent codes from N(0, I) even when the model carries a learned "
                        "latent prior (the default weights do; the releases sample N(0, I) anyway)")


def apply_prior_choice(model: VPoser, args: Any) -> VPoser:
    """Drop the model's learned latent prior when ``--standard-prior`` was given."""
    if getattr(args, "standard_prior", False):
        model.latent_prior = None
    return model


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
    return apply_prior_choice(vposer.load_model(args.model, device=getattr(args, "device", None)), args)


def model_label(model: VPoser, args: argparse.Namespace) -> str:
    return str(args.model) if args.model else "default (open weights)"


def expand_path_args(args: argparse.Namespace) -> None:
    """Expand ``~`` and environment variables in every path argument of ``args``, in place (a
    quoted ``'~/x'``, a Makefile or a Python caller leave them to us)."""
    for name in PATH_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, _expanded(value))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            setattr(args, name, [_expanded(v) for v in value])


def _expanded(text: str) -> str:
    """``text`` expanded, keeping a trailing ``/`` (which says 'a folder')."""
    from ..fileio import expand_path

    out = str(expand_path(text))
    return out + "/" if text.endswith("/") and not out.endswith("/") else out


def at_least(option: str, value: float, minimum: float) -> None:
    """The one wording of a lower bound: ``--num must be at least 1, got 0``."""
    if not value >= minimum:
        raise InputError(f"{option} must be at least {minimum:g}, got {value:g}")


def at_most(option: str, value: float, maximum: float) -> None:
    """The one wording of an upper bound: ``--size must be at most 8192, got 10000``."""
    if not value <= maximum:
        raise InputError(f"{option} must be at most {maximum:g}, got {value:g}")


def finite(option: str, value: float | None, minimum: float | None = None) -> None:
    """``value`` is a finite number (at least ``minimum`` when given); None passes."""
    if value is None:
        return
    if not math.isfinite(value):
        raise InputError(f"{option} must be a finite number, got {value}")
    if minimum is not None:
        at_least(option, value, minimum)


def check_model_and_body(args: Any) -> None:
    """``-m/--model`` and ``--body`` exist when given as paths (before anything is loaded)."""
    from ..fileio import check_input

    model = getattr(args, "model", None)
    if model is not None and model != "default":
        check_input(model, "any")
    body = getattr(args, "body", None)
    if body is not None and body != "open":
        check_input(body, "file")


def report_created(folders: Iterable[Any]) -> None:
    """Say which of the ``folders`` (from :func:`vposer.fileio.missing_folders`, taken before
    writing) the command created."""
    for folder in folders:
        if folder.is_dir():
            print(f"created folder {folder}")
