"""Subprocess of ``bench_sampling.py``: times the ORIGINAL VPoser v1 (``human-body-prior==0.8.5.0``).

Not part of the package and never imported by it. ``bench_sampling.py`` installs the original
package into an isolated folder and starts this script with ``PYTHONPATH`` pointing there (plus
stub ``configer`` / ``smplx`` modules where those are not installed). The original code is only
imported and run here, never copied.

Protocol: one JSON object per line. On start this script prints ``{"ready": ...}`` (or
``{"error": ...}``); then it answers each request read from stdin:

- ``{"cmd": "time", "batch": n, "calls": k, "mode": "decode"|"sample", "warmup": bool}`` ->
  ``{"per_call_s": [...]}``: the time of each of ``k`` calls (after two untimed ones when
  ``warmup``). ``decode`` times ``model.decode(z, output_type='matrot')`` on fixed codes,
  ``sample`` times ``model.sample_poses(n, output_type='matrot', seed=...)`` (numpy codes + decode).
- ``{"cmd": "matrices", "z_file": in.npy, "out_file": out.npy}`` -> ``{"ok": true}``; writes the
  ``(N, 21, 3, 3)`` matrices of the codes in ``z_file``.
- ``{"cmd": "quit"}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _load(snapshot: str):
    import torch

    import human_body_prior
    from human_body_prior.train.vposer_smpl import VPoser

    model = VPoser(num_neurons=512, latentD=32, data_shape=[1, 21, 3], use_cont_repr=True)
    state = torch.load(snapshot, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, os.path.dirname(os.path.abspath(human_body_prior.__file__))


def _axis_angle_status(model, device) -> str:
    """Whether the original's axis-angle output runs on this torch (it does not on torch >= 1.2:
    torchgeometry subtracts bool masks)."""
    import torch

    try:
        with torch.no_grad():
            model.decode(torch.zeros(2, 32, device=device), output_type="aa")
    except Exception as exc:  # noqa: BLE001 - we report whatever it is
        return f"broken: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return "works"


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(model, batch: int, calls: int, mode: str, warmup: bool, clock, device) -> list[float]:
    """Seconds of each of ``calls`` calls (after two untimed ones when ``warmup``)."""
    import torch

    z = torch.randn(batch, 32, generator=torch.Generator().manual_seed(batch)).to(device)
    if mode == "decode":
        def call(_s):
            model.decode(z, output_type="matrot")
    elif mode == "sample":
        def call(s):
            model.sample_poses(batch, output_type="matrot", seed=s)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    out = []
    with torch.no_grad():
        for s in range(2 if warmup else 0):
            call(s)
        for s in range(calls):
            _sync(device)
            t0 = clock()
            call(s)
            _sync(device)
            out.append(clock() - t0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", required=True, help="v1 state dict (.pt)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    try:
        model, where = _load(args.snapshot)
        device = torch.device(args.device)
        model.to(device)
    except Exception as exc:  # noqa: BLE001
        _reply({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _reply({
        "ready": True,
        "human_body_prior": where,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "clock": args.clock,
        "device": str(device),
        "axis_angle": _axis_angle_status(model, device),
    })
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req.get("cmd")
        if cmd == "quit":
            break
        if cmd == "time":
            _reply({"per_call_s": _time(model, req["batch"], req["calls"], req["mode"],
                                              req.get("warmup", True), CLOCKS[args.clock], device)})
        elif cmd == "matrices":
            z = torch.from_numpy(np.load(req["z_file"])).float().to(device)
            with torch.no_grad():
                mats = model.decode(z, output_type="matrot").reshape(-1, 21, 3, 3)
            np.save(req["out_file"], mats.cpu().numpy())
            _reply({"ok": True})
        else:
            _reply({"error": f"unknown command {cmd!r}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
