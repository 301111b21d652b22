"""``human_body_prior.tools.omni_tools``: the original's small helpers, both generations.

Tensor/array plumbing (``copy2cpu``, ``create_list_chunks``, ``flatten_list``,
``trainable_params_count``), paths (``makepath``, ``get_support_data_dir``), logging
(``log2file``, ``logger_sequencer``), seeding (``make_deterministic``), ``id_generator``,
``colors``, ``rm_spaces``, and the rotation helpers (``matrot2axisangle``, ``axisangle2matrots``,
``em2euler``, ``euler2em``) computed with :mod:`vposer.rotations` instead of OpenCV and
transforms3d. ``apply_mesh_tranfsormations_`` applies a 4x4 transform to mesh objects with an
``apply_transform`` method (trimesh) or to vertex arrays.
"""
from __future__ import annotations

import os
import random
import string
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from vposer.errors import InputError

from .rotation_tools import em2euler, euler2em

__all__ = [
    "apply_mesh_tranfsormations_", "axisangle2matrots", "colors", "copy2cpu",
    "create_list_chunks", "em2euler", "euler2em", "flatten_list", "get_support_data_dir",
    "id_generator", "log2file", "logger_sequencer", "make_deterministic", "makepath",
    "matrot2axisangle", "rm_spaces", "trainable_params_count",
]

#: The cvpr19 line's named RGB colours (0-1).
colors = {
    "pink": [.7, .7, .9], "purple": [.9, .7, .7], "cyan": [.7, .75, .5], "red": [1.0, 0.0, 0.0],
    "green": [.0, 1., .0], "yellow": [1., 1., 0], "brown": [.5, .7, .7], "blue": [.0, .0, 1.],
    "offwhite": [.8, .9, .9], "orange": [.5, .65, .9], "grey": [.7, .7, .7],
    "black": np.zeros(3), "white": np.ones(3), "yellowg": [0.83, 1, 0],
}

#: Environment variable naming the support-data folder (checked first).
SUPPORT_DATA_ENV = "HUMAN_BODY_PRIOR_SUPPORT_DATA"


def copy2cpu(tensor: Any) -> np.ndarray:
    """A tensor as a detached CPU numpy array (numpy arrays pass through)."""
    if isinstance(tensor, np.ndarray):
        return tensor
    return tensor.detach().cpu().numpy()


def create_list_chunks(list_: Sequence, group_size: int, overlap_size: int,
                       cut_smaller_batches: bool = True) -> list:
    """Consecutive chunks of ``group_size`` items, each starting ``group_size - overlap_size``
    after the previous; the last shorter chunks are dropped when ``cut_smaller_batches``."""
    stride = group_size - overlap_size
    if stride < 1:
        raise InputError(f"create_list_chunks: overlap_size ({overlap_size}) must be smaller than "
                         f"group_size ({group_size})")
    chunks = [list_[i:i + group_size] for i in range(0, len(list_), stride)]
    return [c for c in chunks if len(c) == group_size] if cut_smaller_batches else chunks


def trainable_params_count(params: Iterable[torch.Tensor]) -> int:
    """Number of values in the parameters that require gradients."""
    return sum(p.numel() for p in params if p.requires_grad)


def flatten_list(items: Iterable[Iterable]) -> list:
    """One list of the items of a list of lists."""
    return [item for sub in items for item in sub]


def get_support_data_dir(current_fname: str = __file__) -> str:
    """The original's ``support_data`` folder: ``$HUMAN_BODY_PRIOR_SUPPORT_DATA`` when set, else
    the nearest ``support_data`` folder above ``current_fname`` (a source checkout's layout).

    Raises:
        FileNotFoundError: neither exists (this package ships no support data: its open weights
            and body are at ``vposer paths``).
    """
    env = os.environ.get(SUPPORT_DATA_ENV)
    if env:
        if not os.path.isdir(env):
            raise FileNotFoundError(f"{SUPPORT_DATA_ENV}={env} is not a folder")
        return os.path.abspath(env)
    for parent in Path(os.path.abspath(current_fname)).parents:
        candidate = parent / "support_data"
        if candidate.is_dir():
            return str(candidate)
    raise FileNotFoundError(
        f"no support_data folder above {current_fname}; set {SUPPORT_DATA_ENV} to yours "
        "(the open default weights and body of this package: run 'vposer paths')")


def make_deterministic(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) and make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def id_generator(size: int = 13) -> str:
    """A random identifier of upper-case letters and digits."""
    chars = string.ascii_uppercase + string.digits
    return "".join(random.choice(chars) for _ in range(size))


def logger_sequencer(logger_list: Sequence[Callable[[str], Any]],
                     prefix: str | None = None) -> Callable[[str], None]:
    """A logger calling every logger of the list with the (prefixed) text."""
    def post_text(text: str) -> None:
        if prefix is not None:
            text = f"{prefix} -- {text}"
        for call in logger_list:
            call(text)
    return post_text


class log2file:  # noqa: N801 (original name)
    """A callable logger writing each line to stderr and, with ``logpath``, appending it to that
    file (its folder is created). Takes both generations' arguments: ``log2file(logpath,
    auto_newline)`` (cvpr19) and ``log2file(logpath, prefix, auto_newline, write2file_only)``."""

    def __init__(self, logpath: str | None = None, prefix: Any = "", auto_newline: bool = True,
                 write2file_only: bool = False):
        if isinstance(prefix, bool):  # the cvpr19 order: log2file(logpath, auto_newline)
            prefix, auto_newline = "", prefix
        self.logpath = logpath
        if logpath is not None:
            makepath(logpath, isfile=True)
        self.prefix = prefix or ""
        self.auto_newline = auto_newline
        self.write2file_only = write2file_only

    def __call__(self, text: str | None) -> None:
        if text is None:
            return
        if self.prefix:
            text = f"{self.prefix} -- {text}"
        if self.auto_newline and not text.endswith("\n"):
            text += "\n"
        if not self.write2file_only:
            sys.stderr.write(text)
        if self.logpath is not None:
            with open(self.logpath, "a", encoding="utf-8") as fh:  # an append-only log
                fh.write(text)


def makepath(*args: str, **kwargs: Any) -> str:
    """Join the parts and create the folder (``isfile=True``: the file's folder); returns the
    joined path."""
    isfile = kwargs.get("isfile", False)
    desired = os.path.join(*args)
    folder = os.path.dirname(desired) if isfile else desired
    if folder:
        os.makedirs(folder, exist_ok=True)
    return desired


def matrot2axisangle(matrots: np.ndarray) -> np.ndarray:
    """``(N, T, J, 9)`` rotation matrices to ``(N, T, J, 3)`` axis-angle."""
    from vposer.rotations import matrix_to_axis_angle

    m = np.asarray(matrots, dtype=np.float64)
    aa = matrix_to_axis_angle(torch.from_numpy(m.reshape(*m.shape[:3], 3, 3))).numpy()
    return aa.reshape(m.shape[0], m.shape[1], -1, 3)


def axisangle2matrots(axisangle: np.ndarray) -> np.ndarray:
    """``(N, 1, J, 3)`` (or ``(N, 3 J)``) axis-angle to ``(N, 1, J, 9)`` rotation matrices."""
    from vposer.rotations import axis_angle_to_matrix

    a = np.asarray(axisangle, dtype=np.float64)
    n = a.shape[0]
    mats = axis_angle_to_matrix(torch.from_numpy(a.reshape(n, -1, 3))).numpy()
    return mats.reshape(n, 1, -1, 9)


def apply_mesh_tranfsormations_(meshes: list, transf: np.ndarray) -> None:
    """Apply a 4x4 transform in place to each mesh of the list: objects with
    ``apply_transform`` (trimesh) are transformed, ``(V, 3)`` arrays replaced."""
    t = np.asarray(transf, dtype=np.float64)
    for i, mesh in enumerate(meshes):
        if hasattr(mesh, "apply_transform"):
            meshes[i] = mesh.apply_transform(t)
        else:
            v = np.asarray(mesh, dtype=np.float64)
            meshes[i] = v @ t[:3, :3].T + t[:3, 3]


def rm_spaces(in_text: str) -> str:
    """Spaces replaced by underscores."""
    return in_text.replace(" ", "_")
