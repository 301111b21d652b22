"""``vposer interpolate``: animate the way between two latent codes (GIF/MP4, strip, poses)."""
from __future__ import annotations

import argparse

from ..fileio import POSE_SOURCES
from ._common import (
    DefaultsHelpFormatter, add_body_argument, add_device_argument, add_model_argument, at_least,
    at_most, check_model_and_body, finite, load_model_from_args, report_created,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "interpolate",
        help="render a latent interpolation between two poses as an animated GIF / MP4",
        description="Interpolate between two latent codes, from two seeds or encoded from two "
        f"poses ({POSE_SOURCES}; the first row), decode the poses, render "
        "them with one camera and write an animation (.gif or .mp4 by suffix), optionally an MP4 "
        "too and a strip image of evenly spaced frames from A to B. The decoded poses and codes "
        "are saved beside the output as OUTPUT.npz, e.g. anim.gif.npz (keys pose, pose_body, z); "
        "every file written is printed.",
        formatter_class=DefaultsHelpFormatter,
    )
    add_model_argument(p, samples=True)
    add_device_argument(p)
    add_body_argument(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", type=int, nargs=2, metavar=("SEED1", "SEED2"), help="codes of two sampling seeds")
    src.add_argument("--poses", nargs=2, metavar=("A", "B"), help="two pose files to encode")
    p.add_argument("--steps", type=int, default=60, help="frames from one end to the other (both included)")
    p.add_argument("--method", choices=["lerp", "slerp"], default="lerp",
                   help="straight line between the codes, or great circle (slerp)")
    p.add_argument("--there-and-back", action="store_true", help="return to the start (a seamless loop)")
    p.add_argument("--angle", type=float, default=0.0, help="view angle about the vertical axis, degrees")
    p.add_argument("--size", type=int, default=400, help="frame size in pixels")
    p.add_argument("--duration-ms", type=int, default=100, help="GIF frame duration")
    p.add_argument("--fps", type=float, default=None, help="MP4 frame rate (default: 1000 / --duration-ms)")
    p.add_argument("--no-floor", action="store_true", help="no floor and shadow")
    p.add_argument("-o", "--output", default="interpolation.gif",
                   help="animation (.gif or .mp4; poses and codes go to the same name plus .npz)")
    p.add_argument("--mp4", default=None, help="also write an MP4")
    p.add_argument("--strip", default=None,
                   help="also write a strip image of evenly spaced frames from A to B")
    p.add_argument("--strip-frames", type=int, default=6, help="frames in the strip")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..fileio import check_input, check_outputs, missing_folders, side_file
    from .render import check_picture_size

    at_least("--steps", args.steps, 2)
    at_least("--size", args.size, 8)
    at_most("--size", args.size, 8192)
    at_least("--duration-ms", args.duration_ms, 10)
    finite("--angle", args.angle)
    fps = 1000.0 / args.duration_ms if args.fps is None else args.fps
    finite("--fps", fps)
    if fps <= 0:
        from ..errors import InputError

        raise InputError(f"--fps must be a positive number, got {args.fps:g}")
    if args.strip:
        at_least("--strip-frames", args.strip_frames, 1)
    frames_count = 2 * args.steps - 2 if args.there_and_back else args.steps
    check_picture_size(f"{frames_count} frames", frames_count, args.size, args.size,
                       "use fewer --steps or a smaller --size")
    for path in args.poses or ():
        check_input(path, "file")
    npz_path = side_file(args.output)
    check_outputs((args.output, "animation"), (args.mp4, "mp4"), (args.strip, "image"),
                  (npz_path, "npz"), inputs=args.poses or ())
    check_model_and_body(args)
    created = missing_folders(args.output, args.mp4, args.strip)

    import numpy as np

    import vposer
    from vposer.pipelines import interpolation_animation, load_pose
    from vposer.posefiles import save_poses
    from vposer.render import frame_strip, save_gif, save_image, save_mp4

    model = load_model_from_args(args)
    body = vposer.load_body(args.body)
    poses = None if args.poses is None else np.stack([load_pose(p) for p in args.poses])
    frames, pose, codes = interpolation_animation(
        model, body, seeds=args.seeds, poses=poses, steps=args.steps, method=args.method,
        there_and_back=args.there_and_back, angle_deg=args.angle, size=args.size, floor=not args.no_floor,
    )
    if Path(args.output).suffix.lower() == ".gif":
        written = [save_gif(frames, args.output, args.duration_ms)]
    else:
        written = [save_mp4(frames, args.output, fps)]
    if args.mp4:
        written.append(save_mp4(frames, args.mp4, fps))
    if args.strip:  # A to B: the way back of a loop repeats it
        written.append(save_image(frame_strip(frames[: args.steps], args.strip_frames), args.strip))
    written.append(save_poses(npz_path, pose, z=codes))
    report_created(created)
    print(f"{len(frames)} frames; wrote " + ", ".join(str(w) for w in written))
    return 0
