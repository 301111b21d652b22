"""Ship the weights of a `vposer train` run as the package's default model, with its figures.

    python tools/finalize_default_weights.py RUN_FOLDER PREPARED_DIR

Writes ``src/vposer/assets/default_model/`` (native format), its ``metrics.json`` (per-vertex
reconstruction error in mm, Euclidean and per-coordinate L1, and KL, on the open body, for the
validation split and for the test split as a whole and per source) and ``plausibility.json``:
the 5 % quantile of ``model.log_likelihood`` over every held-out test pose (all sources), with
the share of held-out poses it flags per source (test and validation). The model card
(``MODEL_CARD.md``) is written by hand from these figures and the README's table
(``tools/evaluate_default_weights.py``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "vposer" / "assets" / "default_model"
QUANTILE = 0.05


@torch.no_grad()
def reconstruction(model, body, poses: torch.Tensor) -> dict:
    from vposer.evaluate import kl_per_dim, vertex_error_euclidean, vertex_error_l1

    v2v = l1 = kl = 0.0
    for part in poses.split(1024):
        q = model.encode(part)
        rec = model.decode(q.mean).axis_angle.reshape(len(part), 63)
        v_rec, v_orig = body(pose_body=rec).vertices, body(pose_body=part).vertices
        v2v += float(vertex_error_euclidean(v_rec, v_orig).sum()) * 1000.0
        l1 += float(vertex_error_l1(v_rec, v_orig).sum()) * 1000.0
        kl += float(kl_per_dim(q.mean, q.stddev).sum())
    n = len(poses)
    return {"frames": n, "v2v_mm": round(v2v / n, 3), "l1_mm": round(l1 / n, 3),
            "kl": round(kl / n, 3)}


def by_source(data: Path, split: str) -> dict:
    """``{source: (N, 63) poses}`` of one split."""
    from vposer.data import load_prepared

    prepared = load_prepared(data, split)
    names = sorted({f["dataset"] for f in prepared.files})
    return {name: torch.from_numpy(np.asarray(prepared.pose_body[prepared.rows_of(name)],
                                              dtype=np.float32)) for name in names}


def _portable(config: dict) -> dict:
    """The training config with this machine's folders replaced by the model card's names."""
    config = json.loads(json.dumps(config))
    config.get("data", {})["prepared_dir"] = "open_prior_data"
    config.get("logging", {})["work_dir"] = "runs/vposer_open"
    return config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("data", type=Path)
    args = p.parse_args()
    import vposer
    from vposer.fit.likelihood import calibrate_threshold, log_likelihood, write_calibration

    model = vposer.load_model(args.run)
    model.info = {"trained_by": "vposer train", "recipe_file": "tools/default_weights.yaml",
                  "data_recipe": "tools/open_prior_data.yaml",
                  "training_config": _portable(model.info.get("training_config", {}))}
    vposer.save_model(model, DEST)
    model = vposer.load_model(DEST)
    body = vposer.load_body()
    splits = {split: by_source(args.data, split) for split in ("vald", "test")}
    metrics: dict = {}
    for split, sources in splits.items():
        metrics[split] = reconstruction(model, body, torch.cat(list(sources.values())))
        metrics[split]["per_source"] = {name: reconstruction(model, body, poses)
                                        for name, poses in sources.items()}
    test_all = torch.cat(list(splits["test"].values()))
    cal = calibrate_threshold(model, test_all, QUANTILE, details=True)
    write_calibration(cal, DEST)
    flags: dict = {}
    for split, sources in splits.items():
        flags[split] = {name: round(float((log_likelihood(model, poses) < cal.threshold)
                                          .double().mean()), 4)
                        for name, poses in sources.items()}
    metrics["plausibility"] = {"threshold": cal.threshold, "quantile": QUANTILE,
                               "calibrated_on": f"all {len(test_all)} test poses",
                               "share_flagged": flags}
    (DEST / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    print(f"wrote {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
