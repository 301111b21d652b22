"""``vposer generate``: sharded, deterministic, resumable synthetic datasets of poses (and bodies,
images, meshes)."""
from __future__ import annotations

import argparse

from ._common import add_model_argument

EPILOG = """examples:
  vposer generate --n 10_000_000 --out poses                      all cores, npz shards of 100k
  vposer generate --n 10_000_000 --out poses --resume             finish a killed run
  vposer generate --n 100_000 --out imgs --with images,joints --format webdataset
  vposer generate --n 10_000_000 --out poses --shards $START:$END   one SLURM array task
see docs/generate.md for formats, determinism, SLURM and Dask."""


def _count(text: str) -> int:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _workers(text: str):
    return text if text == "auto" else _count(text)


#: vposer.generate.settings.OUTPUTS, repeated here so that parsing imports nothing heavy
#: (a test keeps the two equal).
OUTPUTS = ("vertices", "joints", "images", "meshes")


def _outputs(text: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in items if t not in OUTPUTS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown output {bad[0]!r}: choose from {', '.join(OUTPUTS)}")
    return items


def _angles(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"angles must be numbers separated by commas, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a large synthetic dataset in deterministic, resumable shards",
        description="Sample poses from a VPoser model (optionally with body vertices/joints, rendered "
        "images, meshes) into shards of a fixed size. Each shard depends only on the model, the "
        "settings, --seed and its index, so shards can be made in any order, by any number of "
        "processes or machines; DIR/manifest.json records the model hash, the settings and each "
        "shard's SHA-256; --resume makes only missing or damaged shards.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-n", "--n", dest="n", type=_count, required=True, help="number of samples (10_000_000 ok)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    add_model_argument(p)
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--shard-size", type=_count, default=None,
                   help="samples per shard (default 100_000; 1_000 with vertices, images or meshes)")
    p.add_argument("--workers", type=_workers, default="auto",
                   help="processes: a number or 'auto' = all cores (CPU) or all GPUs (default auto)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per worker (default 1; part of what makes bytes reproducible)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="compute device (default cpu)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the shards on a Dask cluster (scheduler address, or 'local')")
    g = p.add_argument_group("what each sample carries")
    g.add_argument("--with", dest="outputs", type=_outputs, default=(),
                   help="comma-separated: vertices, joints, images, meshes (default: poses only)")
    g.add_argument("--format", choices=["npz", "webdataset", "parquet"], default="npz",
                   help="npz (default), webdataset (tar, one group of files per sample) or parquet")
    g.add_argument("--dtype", dest="geometry_dtype", choices=["float32", "float16"], default="float32",
                   help="of vertices and joints (default float32)")
    g.add_argument("--compress", action="store_true", help="deflate npz members")
    g.add_argument("--body", default=None, help="body model file (default: the open body)")
    g.add_argument("--image-size", type=int, default=256, help="rendered image side in pixels (default 256)")
    g.add_argument("--angles", type=_angles, default=(0.0,), help="view azimuths in degrees, e.g. 0,90,-90")
    g.add_argument("--random-camera", action="store_true",
                   help="one image per sample from a random azimuth and elevation (0..30 degrees)")
    c = p.add_argument_group("what is sampled")
    c.add_argument("--temperature", type=float, default=1.0, help="scale of the latent codes (default 1)")
    c.add_argument("--truncation", type=float, default=None, metavar="C",
                   help="keep every latent component within [-C, C] (before the temperature)")
    c.add_argument("--truncation-mode", choices=["resample", "clip"], default="resample",
                   help="draw from the truncated normal (default) or clip")
    c.add_argument("--reject-implausible", type=float, default=None, metavar="Q",
                   help="drop model samples scoring below the Q quantile of plausibility")
    c.add_argument("--plausibility-ref", default=None, metavar="POSES",
                   help="poses (.npz) whose per-joint ranges score plausibility when the model has no log-likelihood")
    root = c.add_mutually_exclusive_group()
    root.add_argument("--upright-root", action="store_true", help="store a zero root orientation (upright)")
    root.add_argument("--random-yaw", action="store_true", help="store a random rotation about the vertical axis")
    c.add_argument("--mix-poses", default=None, metavar="POSES", help="your poses (.npz) to mix in")
    c.add_argument("--mix-ratio", type=float, default=0.0, help="fraction of each shard taken from --mix-poses")
    r = p.add_argument_group("running")
    r.add_argument("--shards", default=None, metavar="A:B", help="only shards A..B-1 (e.g. one job-array task)")
    r.add_argument("--resume", action="store_true", help="verify existing shards, make missing or damaged ones")
    r.add_argument("--manifest", default="manifest.json",
                   help="manifest file name in --out (one per process where file locks do not work)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import signal

    from ..errors import InputError
    from ..fileio import check_input
    from ._common import at_least, check_model_and_body

    at_least("--n", args.n, 1)
    if args.mix_poses and args.mix_ratio <= 0:
        raise InputError("--mix-poses needs --mix-ratio r > 0")
    at_least("--threads", args.threads, 1)
    if not args.manifest.startswith("manifest") or not args.manifest.endswith(".json") or "/" in args.manifest:
        raise InputError(f"--manifest must be a file name manifest*.json, got {args.manifest!r}")
    for path in (args.mix_poses, args.plausibility_ref):
        if path:
            check_input(path, "file")
    check_model_and_body(args)

    from ..generate import Options, GenerateSettings, generate
    from ..generate.settings import default_shard_size
    root = "upright" if args.upright_root else "random-yaw" if args.random_yaw else "none"
    settings = GenerateSettings(
        n=args.n, shard_size=args.shard_size or default_shard_size(args.outputs), seed=args.seed,
        temperature=args.temperature, truncation=args.truncation, truncation_mode=args.truncation_mode,
        reject_quantile=args.reject_implausible, root=root, mix_ratio=args.mix_ratio,
        outputs=args.outputs, format=args.format, geometry_dtype=args.geometry_dtype,
        image_size=args.image_size, angles=args.angles, random_camera=args.random_camera,
        compress=args.compress,
    )
    opts = Options(out=args.out, model_path=args.model, device=args.device, workers=args.workers,
                   threads=args.threads, shards=args.shards, resume=args.resume,
                   progress=not args.no_progress, manifest=args.manifest, body_path=args.body,
                   mix_path=args.mix_poses, reference_path=args.plausibility_ref)

    def terminate(signum, frame):  # SLURM preemption / scancel: record finished shards, then stop
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with contextlib.ExitStack() as stack:
            if args.dask:
                from ..generate.dask_launcher import dask_executor

                opts.executor = stack.enter_context(dask_executor(args.dask))
            summary = generate(settings, opts)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for line in summary.lines():
        print(line)
    return 0
