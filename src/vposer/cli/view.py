"""``vposer view``: the interactive browser viewer (see :mod:`vposer.viewer`)."""
from __future__ import annotations

import argparse

from ._common import add_model_argument, load_model_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="explore the latent space in a web browser (needs the 'viewer' extra)",
        description="Start a local web viewer: the body posed by VPoser in a 3D scene, with "
        "sliders for the latent dimensions, sampling (seed, temperature, several bodies side by "
        "side), encoding of a pose file, A/B interpolation (slerp or lerp), mesh and skeleton "
        "toggles, pose export (.npz) and screenshots (.png). Open the printed URL; Ctrl-C stops it.",
        epilog="example: vposer view --poses poses.npz   (then open http://127.0.0.1:8080)",
    )
    add_model_argument(p, samples=True)
    p.add_argument("--body", default="open", metavar="open|PATH",
                   help="body model: 'open' (the built-in body, default) or a SMPL-family file")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8080,
                   help="port (default 8080; 0 = any free port; a busy port moves to the next free)")
    p.add_argument("--poses", metavar="FILE.npz", default=None, help="pose file to encode frames from")
    p.add_argument("--bodies", type=int, default=1, help="bodies side by side (default 1)")
    p.add_argument("--output-dir", default=".",
                   help="folder for exported poses and screenshots (default: current folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fileio import check_input
    from ._common import at_least, at_most, check_model_and_body

    at_least("--port", args.port, 0)
    at_most("--port", args.port, 65535)
    at_least("--bodies", args.bodies, 1)
    at_most("--bodies", args.bodies, 16)  # vposer.viewer.state.MAX_BODIES
    if args.poses:
        check_input(args.poses, "file")
    check_model_and_body(args)

    import vposer
    from ..viewer.app import ViewerApp, import_viser

    import_viser()  # fail early, before loading anything, when the extra is missing
    model = load_model_from_args(args)
    body = vposer.load_body(args.body)
    app = ViewerApp(model, body, host=args.host, port=args.port, poses=args.poses,
                    num_bodies=args.bodies, output_dir=args.output_dir)
    print(f"vposer viewer running at {app.url}  (Ctrl-C to stop)", flush=True)
    code = app.serve_until_interrupted()
    print("vposer viewer stopped", flush=True)
    return code
