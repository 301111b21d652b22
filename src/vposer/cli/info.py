"""``vposer info``: what a checkpoint or release folder holds."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ._common import MODEL_HELP

if TYPE_CHECKING:
    from ..model import VPoser


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="describe a VPoser model: architecture, parameters, source format, training config",
        description="Describe a VPoser model without running it: architecture (v1/v2), sizes, "
        "parameter count, source format, the snapshot chosen, and the training configuration "
        "when the source carries one.",
        epilog="example: vposer info ~/models/V02_05",
    )
    p.add_argument("model", nargs="?", default=None, help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def describe(model: VPoser) -> dict[str, Any]:
    from ..posefiles import model_fingerprint

    c = model.config
    info = dict(model.info)
    return {
        "architecture": c.architecture,
        "num_neurons": c.num_neurons,
        "latent_dim": c.latent_dim,
        "parameters": sum(p.numel() for p in model.parameters()),
        "format": info.pop("format", "unknown"),
        "path": info.pop("path", None),
        "snapshot": info.pop("snapshot", None),
        "epoch": info.pop("epoch", None),
        "sha256": model_fingerprint(model),
        "latent_prior": ("from N(0, I)" if model.latent_prior is None else "from a learned "
                         f"Gaussian mixture ({model.latent_prior.n_components} components)"),
        "training_config": info.pop("training_config", None),
        **info,
    }


def run(args: argparse.Namespace) -> int:
    from ._common import check_model_and_body

    check_model_and_body(args)
    import vposer

    d = describe(vposer.load_model(args.model))
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    release = {"v1": "vposer_v1_0 layout", "v2": "V02_05 layout"}[d["architecture"]]
    print(f"VPoser {d['architecture']} ({release}): {d['num_neurons']} neurons, "
          f"{d['latent_dim']}-D latent, {d['parameters']:,} parameters")
    # where the weights came from (a release, a run) and what their samples are drawn from
    labels = {"converted_from": "source", "latent_prior": "samples"}
    for key in ("format", "path", "snapshot", "epoch", "sha256", "latent_prior", "converted_from"):
        value = d.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"  {labels.get(key, key) + ':':<10} {value}")
    if d["training_config"]:
        import yaml

        print("  training config:")
        text = yaml.safe_dump(json.loads(json.dumps(d["training_config"], default=str)),
                              sort_keys=False, default_flow_style=False, width=100)
        for line in text.splitlines():
            print("    " + line)
    return 0
