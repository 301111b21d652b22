"""Rendering speed: the tutorial's 5 x 3 grid (400 x 400 cells) and a 400 x 400 animation.

Context start-up and shader compilation are timed separately and excluded from the rest (one
warm-up render first). Bodies: the open body (rest pose, turned per sample so that samples
differ) when ``src/vposer/assets/open_body.npz`` exists, else procedural capsule figures of a
similar size. Prints a markdown table.

    python benchmarks/bench_render.py [--repeats 3] [--frames 60] [--size 400]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[1] / "src" / "vposer" / "assets" / "open_body.npz"


def bodies(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(n, V, 3)`` vertices, faces and a description."""
    if ASSET.exists():
        from vposer.render.geometry import rotation_y

        with np.load(ASSET) as data:
            v, f = data["v_template"].astype(np.float32), data["f"]
        rot = rotation_y(np.linspace(0, 40, n)).astype(np.float32)  # (n, 3, 3)
        return np.einsum("nij,vj->nvi", rot, v), f, f"open body, {v.shape[0]} vertices, {f.shape[0]} faces"
    from vposer.render.toy import toy_bodies

    v, f = toy_bodies(n, seed=1, detail=2)
    return v, f, f"capsule figures, {v.shape[1]} vertices, {f.shape[0]} faces"


def best(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock seconds and the CPU seconds of that run (all threads, llvmpipe's too)."""
    runs = []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t, time.process_time() - c))
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=400)
    args = parser.parse_args()

    from vposer.render import describe, get_renderer, render_animation, render_grid, shared_context

    t = time.perf_counter()
    ctx = shared_context()
    renderer = get_renderer(args.size)
    startup = time.perf_counter() - t
    v, f, what = bodies(5)
    render_grid(v[:1], f, (0,), args.size, progress=False)  # warm-up
    grid = best(lambda: render_grid(v, f, (0, 90, -90), args.size, progress=False), args.repeats)
    grid_plain = best(
        lambda: render_grid(v, f, (0, 90, -90), args.size, floor=False, progress=False), args.repeats
    )
    tt = np.linspace(0, 1, args.frames, dtype=np.float32)[:, None, None]
    seq = (1 - tt) * v[0] + tt * v[-1]
    anim = best(lambda: render_animation(seq, f, size=args.size, progress=False), args.repeats)

    print(f"GL: {describe(ctx)}; bodies: {what}; MSAA {renderer.samples}x; "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}; "
          f"LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', 'default')}")
    print()
    print("| what | wall | CPU (all threads) |")
    print("| --- | --- | --- |")
    print(f"| context + renderer start-up (excluded below) | {startup:.2f} s | |")
    print(f"| 5 x 3 grid, {args.size} px cells, floor + shadow | {grid[0]:.2f} s | {grid[1]:.2f} s |")
    print(f"| 5 x 3 grid, {args.size} px cells, no floor | {grid_plain[0]:.2f} s | {grid_plain[1]:.2f} s |")
    print(f"| animation, {args.frames} frames of {args.size} x {args.size} | {args.frames / anim[0]:.1f} frames/s "
          f"| {anim[1] / args.frames * 1000:.0f} ms/frame |")


if __name__ == "__main__":
    main()
