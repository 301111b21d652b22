"""The model card's comparison of the two weightings of the default weights' latent prior.

    python tools/latent_prior_weighting.py PREPARED_DIR [--part validation|leave-one-out|all]
                                           [--components 16]

``PREPARED_DIR`` is ``vposer import-mocap --recipe tools/open_prior_data.yaml``'s output. For
``pose`` (every training pose alike) and ``source`` (each source alike) weighting, 16 Gaussians
(``--components``) are fitted to the shipped network's codes (:func:`vposer.model.fit_latent_prior`,
one CPU thread):

- ``validation``: seeds 0, 1, 2 and 100 on all training poses; the log-likelihood of each
  source's validation codes (one posterior draw per pose, seed 1), their mean over the sources
  and the pooled figure.
- ``leave-one-out``: for each source, seeds 0 and 100 on the other three sources' training
  poses; the log-likelihood of the left-out source's validation and test codes and the joint
  FID of 50,000 samples (seed 0) against its test poses.

About 10 minutes per part on one core. Prints one line per fit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

def posterior_draws(model, poses: torch.Tensor) -> torch.Tensor:
    """One seeded draw ``z ~ q(z | x)`` per pose."""
    with torch.no_grad():
        q = model.encode(poses)
        return q.mean + q.stddev * torch.randn(q.mean.shape, generator=torch.Generator().manual_seed(1))


def fit(model, poses, labels, weighting: str, seed: int, components: int):
    from vposer.model import fit_latent_prior

    groups = labels if weighting == "source" else None
    return fit_latent_prior(model, poses, components, seed=seed, groups=groups)


def validation(model, data: Path, poses, labels, names, components: int) -> None:
    from vposer.evaluate.run import load_split_poses

    codes = {name: posterior_draws(model, load_split_poses(data, "vald", name)) for name in names}
    pooled = torch.cat(list(codes.values()))
    for weighting in ("pose", "source"):
        for seed in (0, 1, 2, 100):
            prior = fit(model, poses, labels, weighting, seed, components)
            per_source = [prior.log_prob(codes[name]).mean().item() for name in names]
            print(f"validation K={components} {weighting:6s} seed {seed:3d}: mean over sources "
                  f"{np.mean(per_source):.2f}, pooled {prior.log_prob(pooled).mean().item():.2f}, "
                  + ", ".join(f"{n} {v:.2f}" for n, v in zip(names, per_source)), flush=True)


def leave_one_out(model, data: Path, poses, labels, names, components: int) -> None:
    from vposer.body import load_body
    from vposer.evaluate.features import JointPositions
    from vposer.evaluate.metrics import frechet_distance_from_stats, gaussian_fit
    from vposer.evaluate.run import load_split_poses

    joints = JointPositions(load_body("open"))
    for index, name in enumerate(names):
        keep = labels != index
        test = load_split_poses(data, "test", name)
        codes = posterior_draws(model, torch.cat([load_split_poses(data, "vald", name), test]))
        test_stats = gaussian_fit(joints(test).flatten(1).double())
        for weighting in ("pose", "source"):
            for seed in (0, 100):
                prior = fit(model, poses[keep], labels[keep], weighting, seed, components)
                draws = prior.codes(torch.randn(50_000, prior.dim + 1,
                                                generator=torch.Generator().manual_seed(0)))
                with torch.no_grad():
                    samples = model.decode(draws).axis_angle.reshape(-1, 63)
                fid = frechet_distance_from_stats(
                    *gaussian_fit(joints(samples).flatten(1).double()), *test_stats).item()
                print(f"left out {name:14s} {weighting:6s} seed {seed:3d}: log-likelihood "
                      f"{prior.log_prob(codes).mean().item():.2f}, joint FID {fid:.4f}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("--part", choices=("validation", "leave-one-out", "all"), default="all")
    p.add_argument("--components", type=int, default=16, help="Gaussians per fit (16)")
    args = p.parse_args()
    import vposer
    from vposer.data.prepared import load_prepared

    torch.set_num_threads(1)
    model = vposer.load_model()
    split = load_prepared(args.data, "train")
    names, labels = split.source_labels()
    poses = torch.from_numpy(np.array(split.pose_body, dtype=np.float32))
    if args.part in ("validation", "all"):
        validation(model, args.data, poses, labels, names, args.components)
    if args.part in ("leave-one-out", "all"):
        leave_one_out(model, args.data, poses, labels, names, args.components)
    return 0


if __name__ == "__main__":
    sys.exit(main())
