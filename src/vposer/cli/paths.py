"""``vposer paths``: where the open default weights and the open body are installed."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paths",
        help="print the paths of the open default weights and the open body",
        description="Print where the open default VPoser weights (a model folder that "
        "vposer.load_model and the human_body_prior loaders read) and the open body (a "
        "body-model .npz that vposer.load_body and human_body_prior's BodyModel read) are "
        "installed; no licence is needed for either.",
        epilog="example: python -c \"from human_body_prior.tools.model_loader import load_vposer; "
        "print(load_vposer('$(vposer paths --weights)')[0])\"",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--weights", action="store_true", help="print the weights folder only")
    which.add_argument("--body", action="store_true", help="print the body file only")
    which.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..body import open_body_path
    from ..checkpoints import default_model_path

    paths = {"weights": str(default_model_path()), "body": open_body_path()}
    if args.weights or args.body:
        print(paths["weights" if args.weights else "body"])
    elif args.json:
        print(json.dumps(paths, indent=2))
    else:
        print(f"weights  {paths['weights']}")
        print(f"body     {paths['body']}")
    return 0
