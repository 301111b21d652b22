"""The README's results tables: the default weights, the previous default weights, the GMM-8
baseline and the data itself, on the CMU test takes and on the new held-out takes.

    python tools/evaluate_default_weights.py PREPARED_DIR --previous OLD_MODEL_DIR [-o eval/]

``PREPARED_DIR`` is ``vposer import-mocap --recipe tools/open_prior_data.yaml``'s output;
``OLD_MODEL_DIR`` the weights shipped before (``git show`` them out of the repository's history
into a folder). Every figure comes from :func:`vposer.evaluate.evaluate` (the protocol of
``vposer evaluate``: 500 samples for APD and dNN, 50,000 for FID, seed 0); the GMM-8 and the data
reference are fitted on the same training split. Prints markdown and writes each run's
``metrics.json`` under ``-o``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROWS = [  # (label, section, key, digits)
    ("vertex error, Euclidean mean (mm)", "reconstruction", "v2v_euclidean_mm", 1),
    ("vertex error, per-coordinate L1 (mm)", "reconstruction", "v2v_l1_mm", 1),
    ("joint rotation error (deg)", "reconstruction", "geodesic_deg", 1),
    ("KL (nats)", "reconstruction", "kl", 1),
    ("APD (cm)", "generation", "apd_cm", 1),
    ("FID, 66-D joint positions (m^2)", "generation", "fid_joints", 3),
    ("FID, 63-D axis-angle", "generation", "fid_aa", 2),
    ("dNN per joint (rad)", "generation", "dnn_joint_rad", 3),
    ("precision / recall (k-NN, joints)", "generation", ("precision", "recall"), 2),
    ("coverage (k-NN, joints)", "generation", "coverage", 3),
    ("share of samples outside training rotation ranges", "generation", "out_of_range_share", 3),
]
TEST_SETS = {"CMU test takes (the previous data's test set)": "cmu",
             "new held-out takes (ASF/AMC, dance BVH, DeepMimic)":
                 "cmu_asfamc,cmu_bvh_dance,cmu_deepmimic"}


def cell(method: dict, section: str, key, digits: int) -> str:
    values = method.get(section)
    if values is None:
        return "-"
    if isinstance(key, tuple):
        return " / ".join(f"{values[k]:.{digits}f}" for k in key)
    value = values[key]
    return f"{100 * value:.1f} %" if key == "out_of_range_share" else f"{value:.{digits}f}"


def table(result: dict, columns: list) -> str:
    methods = result["methods"]
    lines = ["| metric | " + " | ".join(label for label, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for label, section, key, digits in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(methods[name], section, key, digits)
                                                  for _, name in columns) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("--previous", type=Path, required=True, help="the previous default weights")
    p.add_argument("--model", default=None, help="the model to score (default: shipped weights)")
    p.add_argument("-o", "--output", type=Path, default=Path("eval_default"))
    args = p.parse_args()
    import vposer
    from vposer.evaluate import evaluate

    new, old = vposer.load_model(args.model), vposer.load_model(args.previous)
    for title, sources in TEST_SETS.items():
        safe = sources.split(",")[0] if "," not in sources else "new_heldout"
        result = evaluate(args.data, model=new, model_name="default", source=sources,
                          baseline="gmm", out_dir=args.output / safe, plots=False)
        previous = evaluate(args.data, model=old, model_name="previous", source=sources,
                            out_dir=args.output / f"{safe}_previous", plots=False)
        result["methods"]["previous"] = previous["methods"]["previous"]
        n = result["data"]["n_split"]
        print(f"\n### {title}: {n} poses\n")
        print(table(result, [("default (new)", "default"), ("previous default", "previous"),
                             ("GMM-8", "gmm8"), ("data (ref)", "data (ref)")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
