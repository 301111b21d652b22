"""``vposer train``: train VPoser from a YAML config, on CPU, one GPU or many; resumable."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train VPoser on prepared pose data (v2 or v1 recipe), resumable",
        description="Train VPoser as a YAML config says (the fields of V02_05.yaml, plus 'data', "
        "'trainer' and 'recipe: v1|v2'; see vposer/train/presets). Writes a run folder with the "
        "merged config, checkpoints (every epoch, every few minutes, best by validation loss, "
        "written atomically), CSV and TensorBoard logs, pictures per validation, and model/ with "
        "the best weights in the native format.",
        epilog="examples:\n"
        "  vposer train my.yaml                              train\n"
        "  vposer train my.yaml --resume                     continue an interrupted run\n"
        "  vposer train my.yaml --devices 4 --strategy ddp   four GPUs on one machine\n"
        "several nodes: run the same command on each node under torchrun or SLURM's srun with "
        "--num-nodes N (Lightning reads the cluster environment).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", default=None,
                   help="YAML config (default: the v2 preset; then --data is required)")
    p.add_argument("--recipe", choices=("v1", "v2"), default=None, help="preset to start from")
    p.add_argument("--data", default=None, help="prepared data folder (overrides data.prepared_dir)")
    p.add_argument("-o", "--out", default=None, help="run folder (overrides logging.work_dir)")
    p.add_argument("--body", default=None, help="body model file for the vertex loss (default: open body)")
    p.add_argument("--mirror", action="store_true", default=None,
                   help="also train on the left-right mirror image of every pose (data.mirror)")
    p.add_argument("--epochs", type=int, default=None, help="overrides train_parms.num_epochs")
    p.add_argument("--batch-size", type=int, default=None, help="overrides train_parms.batch_size")
    p.add_argument("--seed", type=int, default=None, help="overrides general.rnd_seed")
    p.add_argument("--accelerator", default=None, help="cpu, gpu, auto (default from config: auto)")
    p.add_argument("--devices", default=None, help="number of devices (or 'auto')")
    p.add_argument("--strategy", default=None, help="auto, ddp, ddp_spawn, ...")
    p.add_argument("--num-nodes", type=int, default=None, help="nodes for multi-node training")
    p.add_argument("--precision", default=None, help="32-true, bf16-mixed, 16-mixed")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of each, to check a set-up")
    p.set_defaults(func=run)


def overrides_from_args(args: argparse.Namespace) -> dict:
    o: dict = {}

    def put(section: str, key: str, value: object) -> None:
        if value is not None:
            o.setdefault(section, {})[key] = value

    def here(path: object) -> object:
        """A path typed on the command line is relative to the current folder (paths inside
        the config file are relative to the file)."""
        return None if path is None else str(Path(str(path)).expanduser().resolve())

    if args.recipe:
        o["recipe"] = args.recipe
    put("data", "prepared_dir", here(args.data))
    put("logging", "work_dir", here(args.out))
    put("body_model", "bm_path", args.body if args.body in (None, "open") else here(args.body))
    put("data", "mirror", args.mirror)
    put("train_parms", "num_epochs", args.epochs)
    put("train_parms", "batch_size", args.batch_size)
    put("general", "rnd_seed", args.seed)
    put("trainer", "accelerator", args.accelerator)
    if args.devices is not None:
        put("trainer", "devices", int(args.devices) if str(args.devices).isdigit() else args.devices)
    put("trainer", "strategy", args.strategy)
    put("trainer", "num_nodes", args.num_nodes)
    put("trainer", "precision", args.precision)
    return o


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input

    if args.config:
        check_input(args.config, "file")
    if args.data:
        check_input(args.data, "folder")
    if args.body not in (None, "open"):
        check_input(args.body, "file")
    from ..train import load_config
    from ..train.run import train

    cfg = load_config(args.config, overrides_from_args(args))
    work = train(cfg, resume=args.resume, fast_dev_run=args.fast_dev_run)
    print(f"run folder: {work}")
    if (work / "model").is_dir():
        print(f"best weights (native format): {work / 'model'}")
    return 0
