"""``vposer render``: sample poses and render the tutorial's grid (rows = view angles, columns = samples)."""
from __future__ import annotations

import argparse

from ._common import (
    DefaultsHelpFormatter, add_body_argument, add_device_argument, add_model_argument, at_least,
    at_most, check_model_and_body, finite, load_model_from_args, report_created,
)

#: The largest picture a command renders in memory (pixels); larger requests are refused at once.
MAX_PIXELS = 100_000_000


def check_picture_size(what: str, count: int, width: int, height: int, hint: str) -> None:
    """Refuse a picture (or the frames of an animation) over :data:`MAX_PIXELS` before any work."""
    from ..errors import InputError

    total = count * width * height
    if total > MAX_PIXELS:
        raise InputError(f"{what} would be {total / 1e6:,.0f} megapixels, over the limit of "
                         f"{MAX_PIXELS / 1e6:,.0f}; {hint}")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="sample poses and render them as a grid image (PNG), poses saved beside it",
        description="Sample N body poses from a VPoser model, pose a body model with them and render "
        "a grid, rows = view angles about the vertical axis, columns = samples (the tutorial's "
        "picture: 2000 x 1200 for 5 samples at 400 pixels). The poses are saved beside the image "
        "as IMAGE.npz, e.g. grid.png.npz (keys pose and pose_body, (N, 63) float32); every file "
        "written is printed. For many pictures see 'vposer generate --with images'.",
        formatter_class=DefaultsHelpFormatter,
    )
    add_model_argument(p, samples=True)
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
                   help="output image (.png, .jpg, ...; the poses go to the same name plus .npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_outputs, missing_folders, side_file

    at_least("--num", args.num, 1)
    at_least("--size", args.size, 8)
    at_most("--size", args.size, 8192)
    finite("--temperature", args.temperature, 0)
    for angle in args.angles:
        finite("--angles", angle)
    check_picture_size("the grid", 1, args.num * args.size, len(args.angles) * args.size,
                       "use fewer samples (--num) or a smaller --size; for many pictures see "
                       "'vposer generate --with images'")
    npz_path = side_file(args.output)
    check_outputs((args.output, "image"), (npz_path, "npz"), (args.mesh, "mesh"))
    check_model_and_body(args)
    created = missing_folders(args.output, args.mesh)

    import vposer
    from vposer.pipelines import body_vertices, pose_grid
    from vposer.posefiles import save_poses
    from vposer.render import export_meshes, save_image

    model = load_model_from_args(args)
    body = vposer.load_body(args.body)
    image, poses = pose_grid(
        model, body, n=args.num, seed=args.seed, angles=args.angles, size=args.size,
        temperature=args.temperature, background=args.background, floor=not args.no_floor,
        colors="palette" if args.colors == "palette" else None,
    )
    out = save_image(image, args.output)
    npz = save_poses(npz_path, poses)
    report_created(created)
    print(f"wrote {out} ({image.shape[1]} x {image.shape[0]}) and {npz}")
    if args.mesh:
        vertices, faces = body_vertices(body, poses)
        for path in export_meshes(vertices, faces, args.mesh, spacing=1.0):
            print(f"wrote {path}")
    return 0
