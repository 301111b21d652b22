"""``human_body_prior.tools.bodypart2vertexid``: body-part names to vertex ids, from the model's
skinning weights (each vertex belongs to the joint that weighs it most).

``smplx_part_ids(bm_fname, joints_fname=None, out_fname=None, show=False)`` and
``smplh_part_ids(bm_fname, out_fname=None, snapshot_fname=None, show=False)`` return
``{part: sorted vertex ids}`` plus ``'all'`` and, with ``out_fname``, save them as ``.npz``
(atomically). ``show`` / ``snapshot_fname`` opened a psbody viewer and are not provided.
"""
from __future__ import annotations

import argparse
import os
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

from .._refused import DISPLAY, NotProvidedError

__all__ = ["find_handVertexIDs", "require_file", "smplh_part_ids", "smplx_part_ids", "main"]

SMPLX_DOWNLOAD_PAGE = "https://smpl-x.is.tue.mpg.de/"
SMPLH_DOWNLOAD_PAGE = "https://mano.is.tue.mpg.de/"

SMPLX_PARTS = {"body": [0, 1, 2, 3, 4, 5, 6, 9, 13, 14, 16, 17, 18, 19], "face": [12, 15, 22],
               "eyeball": [23, 24], "leg": [4, 5, 7, 8, 10, 11], "arm": [18, 19, 20, 21],
               "handl": [20] + list(range(25, 40)), "handr": [21] + list(range(40, 55)),
               "footl": [7, 10], "footr": [8, 11],
               "ftip": [27, 30, 33, 36, 39, 42, 45, 48, 51, 54]}
SMPLH_PARTS = {"body": [0, 1, 2, 3, 4, 5, 6, 9, 13, 14, 16, 17, 18, 19, 22, 23, 24],
               "face": [15, 12], "handl": [20] + list(range(22, 37)),
               "handr": [21] + list(range(37, 52)), "footl": [7, 10], "footr": [8, 11]}


def require_file(path: str | None, what: str, download_page: str) -> str:
    """``path`` when it names an existing file; else ValueError (None) / FileNotFoundError."""
    if path is None:
        raise ValueError(f"{what} is required: pass the path of the file downloaded from "
                         f"{download_page}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found at {path}; download it from {download_page}.")
    return path


def find_handVertexIDs(blend_weights: np.ndarray, all_partIds: Mapping[str, int],  # noqa: N802,N803
                       interested_partIds: Sequence[int]) -> list:  # noqa: N803
    """Vertices whose heaviest joint is one of ``interested_partIds``, sorted."""
    heaviest = np.argmax(np.asarray(blend_weights), axis=1)
    wanted = set(int(i) for i in interested_partIds)
    return [int(v) for v in np.nonzero(np.isin(heaviest, list(wanted)))[0]]


def _part_ids(bm_fname: str, parts: Mapping[str, Sequence[int]], out_fname: str | None,
              show: bool) -> dict:
    if show:
        raise NotProvidedError(f"bodypart2vertexid show=True is not provided by vposer: {DISPLAY}")
    from ..body_model.body_model import BodyModel

    bm = BodyModel(bm_fname)
    weights = bm.weights.detach().cpu().numpy()
    all_ids = {f"{k}_{j:02d}": j for k, js in parts.items() for j in js}
    out = {name: np.array(sorted(find_handVertexIDs(weights, all_ids, js)))
           for name, js in parts.items()}
    out["all"] = np.arange(weights.shape[0])
    if out_fname is not None:
        from vposer.posefiles import atomic_savez

        atomic_savez(out_fname, out)
    return out


def smplx_part_ids(bm_fname: str | None = None, joints_fname: str | None = None,
                   out_fname: str | None = None, show: bool = False) -> dict:
    """SMPL-X parts (``joints_fname`` posed the model for display only; accepted, unused)."""
    require_file(bm_fname, "SMPL-X body model file", SMPLX_DOWNLOAD_PAGE)
    return _part_ids(bm_fname, SMPLX_PARTS, out_fname, show)


def smplh_part_ids(bm_fname: str | None = None, out_fname: str | None = None,
                   snapshot_fname: str | None = None, show: bool = False) -> dict:
    """SMPL+H parts."""
    require_file(bm_fname, "SMPL-H body model file", SMPLH_DOWNLOAD_PAGE)
    return _part_ids(bm_fname, SMPLH_PARTS, out_fname, show or snapshot_fname is not None)


def main(argv: Sequence[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description="Map SMPL-X and SMPL-H body parts to vertex ids.")
    sub = parser.add_subparsers(dest="model", required=True)
    px = sub.add_parser("smplx")
    px.add_argument("--bm-fname", required=True)
    px.add_argument("--joints-fname", default=None)
    px.add_argument("--out", default=None)
    ph = sub.add_parser("smplh")
    ph.add_argument("--bm-fname", required=True)
    ph.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.model == "smplx":
        return smplx_part_ids(args.bm_fname, args.joints_fname, args.out)
    return smplh_part_ids(args.bm_fname, args.out)


if __name__ == "__main__":
    main()
