"""Random body-model arrays with the exact layout of the SMPL-family files.

No licensed data is involved: vertex positions, blend shapes, regressors and skinning weights are
random, but the shapes, kinematic trees and key names are those of the real files, so these
models exercise readers, the forward pass and benchmarks exactly as real ones would.
"""
from __future__ import annotations

import numpy as np

from .kinds import KINDS

__all__ = ["DEFAULT_SHAPE_COMPONENTS", "NUM_FACES", "random_body_arrays"]

#: Triangle counts of the official meshes.
NUM_FACES = {"smpl": 13776, "smplh": 13776, "smplx": 20908, "mano": 1538}
#: Shape-space widths of common releases (SMPL-X: 10 shape + 10 expression, the 2019 files).
DEFAULT_SHAPE_COMPONENTS = {"smpl": 10, "smplh": 16, "smplx": 20, "mano": 10}


def random_body_arrays(model_type: str, seed: int = 0, num_shape_components: int | None = None,
                       joints_per_vertex: int = 4, dtype: type = np.float32) -> dict:
    """Arrays of a random model of the given kind (``'smpl'``, ``'smplh'``, ``'smplx'``, ``'mano'``).

    Returns:
        ``{'v_template' (V, 3), 'f' (F, 3) uint32, 'weights' (V, J), 'J_regressor' (J, V),
        'kintree_table' (2, J) uint32 (root parent 4294967295), 'shapedirs' (V, 3, S),
        'posedirs' (V, 3, 9 (J - 1))}``; weights and regressor rows sum to 1.
    """
    kind = KINDS[model_type]
    rng = np.random.default_rng(seed)
    num_v, num_j = kind.num_vertices, kind.num_joints
    s = num_shape_components or DEFAULT_SHAPE_COMPONENTS[model_type]
    v_template = rng.normal(0.0, 0.3, (num_v, 3))
    weights = np.zeros((num_v, num_j))
    cols = np.argsort(rng.random((num_v, num_j)), axis=1)[:, :joints_per_vertex]
    vals = rng.dirichlet(np.ones(joints_per_vertex), num_v)
    np.put_along_axis(weights, cols, vals, axis=1)
    regressor = np.zeros((num_j, num_v))
    for j in range(num_j):
        idx = rng.choice(num_v, 12, replace=False)
        regressor[j, idx] = rng.dirichlet(np.ones(12))
    parents = np.asarray(kind.parents, dtype=np.int64)
    table = np.stack([np.where(parents < 0, 2**32 - 1, parents), np.arange(num_j)])
    return {
        "v_template": v_template.astype(dtype),
        "f": rng.integers(0, num_v, (NUM_FACES[model_type], 3)).astype(np.uint32),
        "weights": weights.astype(dtype),
        "J_regressor": regressor.astype(dtype),
        "kintree_table": table.astype(np.uint32),
        "shapedirs": rng.normal(0.0, 0.01, (num_v, 3, s)).astype(dtype),
        "posedirs": rng.normal(0.0, 0.01, (num_v, 3, 9 * (num_j - 1))).astype(dtype),
    }


def smplx_loader_extras() -> dict:
    """The keys the ``smplx`` package needs, beyond the body model's, to load an SMPL-X
    ``.npz`` (hand PCA, landmarks); neutral values (spec: "Body-model files")."""
    return {
        "hands_componentsl": np.eye(45), "hands_componentsr": np.eye(45),
        "hands_meanl": np.zeros(45), "hands_meanr": np.zeros(45),
        "lmk_faces_idx": np.zeros(51, np.int64), "lmk_bary_coords": np.full((51, 3), 1 / 3),
        "dynamic_lmk_faces_idx": np.zeros((79, 17), np.int64),
        "dynamic_lmk_bary_coords": np.full((79, 17, 3), 1 / 3),
    }
