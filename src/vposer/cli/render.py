"""``vposer render``: sample poses and render the tutorial's grid (rows = view angles, columns = samples)."""
from __future__ import annotations

import argparse

from ._common import DefaultsHelpFormatter, add_body_argument, add_device_argument, add_model_argument, load_model_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="sample poses and render them as a grid image (PNG), poses saved beside it",
        description="Sample N body poses from a VPoser model, pose a body model with them and render "
        "a grid, rows = view angles about the vertical axis, columns = samples (the tutorial's "
        "picture: 2000 x 1200 for 5 samples at 400 pixels). The poses are saved beside the image "
        "as .npz (keys pose and pose_body, (N, 63) float32).",
        formatter_class=DefaultsHelpFormatter,
    )
    add_model_argument(p)
    add_device_argument(p)
    add_body_argument(p)
    p.add_argument("-n", "--num", type=int, default=5, help="number of samples (columns)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the latent codes")
    p.add_argument("--angles", type=float, nargs="+", default=[0.0, 90.0, -90.0], help="view angles, degrees (rows)")
    p.add_argument("--size", type=int, default=400, help="cell size in pixels")
    p.add_argument("--background", default="white", choices=["white", "black", "transparent"],
                   help="image background (transparent: PNG with alpha)")
    p.add_argument("--no-floor", action="store_true", help="no floor and shadow")
    p.add_argument("--colors", choices=["grey", "palette"], default="grey", help="one grey or a colour per sample")
    p.add_argument("--mesh", default=None, help="also export the posed bodies (.obj, .glb, .ply, .stl or .off)")
    p.add_argument("-o", "--output", default="pose_grid.png",
                   help="output image (.png; the poses go to the same name with .npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import vposer
    from vposer.render import (
        body_vertices, check_outputs, export_meshes, pose_grid, save_image, save_poses,
    )

    npz_path = Path(args.output).with_suffix(".npz")
    check_outputs((args.output, "image"), (npz_path, "npz"), (args.mesh, "mesh"))
    model = load_model_from_args(args)  # vposer.load_model(args.model, device=args.device)
    body = vposer.load_body(args.body)
    image, poses = pose_grid(
        model, body, n=args.num, seed=args.seed, angles=args.angles, size=args.size,
        temperature=args.temperature, background=args.background, floor=not args.no_floor,
        colors="palette" if args.colors == "palette" else None,
    )
    out = save_image(image, args.output)
    npz = save_poses(npz_path, poses)
    print(f"wrote {out} ({image.shape[1]} x {image.shape[0]}) and {npz}")
    if args.mesh:
        vertices, faces = body_vertices(body, poses)
        for path in export_meshes(vertices, faces, args.mesh, spacing=1.0):
            print(f"wrote {path}")
    return 0
