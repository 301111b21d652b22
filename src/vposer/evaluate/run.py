"""One evaluation run: load the data, score every method, write ``metrics.json`` and plots."""
from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..data.prepared import load_prepared
from .._types import PathLike
from ..errors import InputError
from ..fileio import check_input, write_json
from ..body import BodyModel
from .._results import JsonResult
from ..model import VPoser
from . import report
from .pipeline import EvalSettings, Evaluator

__all__ = ["EvaluationResult", "evaluate", "load_split_poses"]

REFERENCE = "data (ref)"


def load_split_poses(prepared_dir: PathLike, split: str, source: str | None = None) -> torch.Tensor:
    """``(N, 63)`` float32 body poses of one split of a prepared directory (only those of one
    ``source``, the ``dataset`` of ``vposer import-mocap``, when given)."""
    prepared_dir = check_input(prepared_dir, "folder")
    data = load_prepared(prepared_dir, split)
    poses = data.pose_body if source is None else data.pose_body[data.rows_of(source)]
    if len(poses) == 0:
        raise InputError(f"the {split!r} split is empty", prepared_dir)
    return torch.from_numpy(np.array(poses, dtype=np.float32))


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _timed(log: Callable[[str], None], what: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    log(f"  {what}: {seconds:.1f} s")
    return value, seconds


@dataclass(eq=False)
class EvaluationResult(JsonResult):
    """What :func:`evaluate` returns: the content of ``metrics.json``.

    Attributes:
        vposer_version, created: the package and the time (UTC) of the run.
        data: the prepared directory, splits, source filter and pose counts.
        body: ``model_type`` and ``path`` of the body model the metrics pose.
        device: where the metrics ran.
        settings: :class:`~vposer.evaluate.pipeline.EvalSettings` and the modes used.
        methods: per column (model, poses, ``gmm8``, ``data (ref)``): ``kind`` and its
            ``reconstruction`` and / or ``generation`` figures.
        seconds: the time of each step.
        definitions, published: what each metric means; the published figures to compare.
        files: the files written (absent when nothing was written).
    """

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"files"})

    vposer_version: str
    created: str
    data: dict[str, Any]
    body: dict[str, Any]
    device: str
    settings: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    definitions: dict[str, Any]
    published: dict[str, Any]
    files: list[str] | None = None


def evaluate(prepared_dir: PathLike, model: VPoser | None = None, model_name: str = "vposer",
             poses: torch.Tensor | None = None, poses_name: str = "poses",
             split: str = "test", train_split: str = "train", source: str | None = None,
             body: BodyModel | PathLike = "open",
             settings: EvalSettings | None = None, baseline: str | None = None,
             out_dir: PathLike | None = None, device: Any = "cpu", plots: bool = True,
             log: Callable[[str], None] = _log) -> EvaluationResult:
    """Score a model and/or a set of poses (and the GMM baseline) on a prepared data set.

    Steps: load the splits and the body, set up the metrics, score each method (model, poses,
    baseline, the data itself), then write ``metrics.json`` and the plots.

    Args:
        prepared_dir: output of ``vposer prepare`` / ``vposer import-mocap``.
        model: a VPoser: reconstruction of the held-out split and generation from ``fid_samples``
            samples (seed ``settings.seed``).
        poses: ``(N, 63)`` poses scored as generated samples (no reconstruction).
        source: score against the held-out poses of these sources only (the ``dataset`` that
            ``vposer import-mocap`` records; comma-separated for several; the training poses
            stay all).
        body: ``'open'``, a body-model path or a :class:`~vposer.body.BodyModel`.
        baseline: ``'gmm'`` to add SMPLify's 8-component mixture fitted on the training split.
        out_dir: where ``metrics.json``, the plots and the fitted GMM go (None: nothing written).

    Returns:
        The content of ``metrics.json`` (:class:`EvaluationResult`; ``result["methods"]`` works
        too): ``methods`` maps each column to its ``reconstruction`` and / or ``generation``
        figures; also settings, data, definitions and published figures.
    """
    from ..body import load_body

    if model is None and poses is None and baseline is None:
        raise InputError("nothing to evaluate: give a model, poses or a baseline")
    if baseline is not None and baseline != "gmm":
        raise InputError(f"unknown baseline {baseline!r}: the only one is 'gmm'")
    settings = settings or EvalSettings()
    log(f"loading {train_split!r} and {split!r} from {prepared_dir}")
    train = load_split_poses(prepared_dir, train_split)
    test = load_split_poses(prepared_dir, split, source)
    body_model = body if isinstance(body, BodyModel) else load_body(body, device=device)
    evaluator, setup_s = _timed(log, "setup (ranges, held-out features)", lambda: Evaluator(
        train, test, body_model, settings, device=device))
    methods: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {"setup": setup_s}
    if model is not None:
        methods[model_name] = _score_model(evaluator, model, model_name, settings, seconds, log)
    if poses is not None:
        log(f"poses {poses_name}")
        gen, seconds["poses"] = _timed(log, "generation metrics", lambda: evaluator.generation(poses))
        methods[poses_name] = {"kind": "poses", "generation": gen}
    if baseline is not None:
        methods["gmm8"] = _score_gmm(evaluator, train, settings, seconds, out_dir, log)
    log("data reference")
    ref, seconds["reference"] = _timed(log, "reference", evaluator.reference)
    methods[REFERENCE] = {"kind": "data", "generation": ref}
    result = _result(evaluator, prepared_dir, train_split, split, source, train, test, body_model,
                     settings, methods, seconds)
    if out_dir is not None:
        _write(result, Path(out_dir), evaluator, plots, log)
    return result


def _score_model(evaluator: Evaluator, model: VPoser, name: str, settings: EvalSettings,
                 seconds: dict[str, float], log: Callable[[str], None]) -> dict[str, Any]:
    """A VPoser's column: reconstruction of the held-out poses, generation from its samples."""
    log(f"model {name}")
    rec, seconds["reconstruction"] = _timed(log, "reconstruction",
                                            lambda: evaluator.reconstruction(model))
    samples, seconds["sampling"] = _timed(log, f"sampling {settings.fid_samples}", lambda:
                                          model.sample(settings.fid_samples,
                                                       seed=settings.seed).pose_body)
    gen, seconds["generation"] = _timed(log, "generation metrics",
                                        lambda: evaluator.generation(samples))
    return {"kind": "vposer", "source": model.info.get("path"),
            "architecture": model.config.architecture, "reconstruction": rec, "generation": gen}


def _score_gmm(evaluator: Evaluator, train: torch.Tensor, settings: EvalSettings,
               seconds: dict[str, float], out_dir: PathLike | None,
               log: Callable[[str], None]) -> dict[str, Any]:
    """The GMM-8 baseline's column, fitted on the training poses (saved to ``out_dir``)."""
    from .gmm import GMMPrior

    log("baseline gmm (8 components, full covariance)")
    gmm, seconds["gmm_fit"] = _timed(log, "fit", lambda: GMMPrior.fit(train, seed=settings.seed))
    samples = gmm.sample(settings.fid_samples, seed=settings.seed)
    gen, seconds["gmm"] = _timed(log, "generation metrics", lambda: evaluator.generation(samples))
    entry = {"kind": "gmm", "fit": gmm.info, "generation": gen}
    if out_dir is not None:
        entry["file"] = str(gmm.save(Path(out_dir) / "gmm_baseline.npz"))
    return entry


def _result(evaluator: Evaluator, prepared_dir: PathLike, train_split: str, split: str,
            source: str | None, train: torch.Tensor, test: torch.Tensor, body: BodyModel,
            settings: EvalSettings, methods: dict[str, dict[str, Any]],
            seconds: dict[str, float]) -> EvaluationResult:
    from .._version import __version__

    return EvaluationResult(
        vposer_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        data={"prepared_dir": str(Path(prepared_dir).resolve()), "train_split": train_split,
              "n_train": int(train.shape[0]), "split": split, "source": source,
              "n_split": int(test.shape[0]), "n_evaluated": int(evaluator.test.shape[0])},
        body={"model_type": body.model_type, "path": str(body.path)},
        device=str(evaluator.device),
        settings={**asdict(settings), "dnn_mode_used": evaluator.dnn_mode, "k_used": evaluator.k},
        methods=methods,
        seconds=seconds,
        definitions=report.DEFINITIONS,
        published=report.PUBLISHED,
    )


def _write(result: EvaluationResult, out: Path, evaluator: Evaluator, plots: bool,
           log: Callable[[str], None]) -> None:
    """``metrics.json`` first (a run that fails in the plots keeps it), then the plots, then
    ``metrics.json`` again with their names."""
    result.files = [str(write_json(out / "metrics.json", result.to_json()))]
    if plots:
        result.files += _plots(out, evaluator.joint_names, result.methods, log)
        write_json(out / "metrics.json", result.to_json())


def _plots(out: Path, joint_names: list[str], methods: dict[str, dict[str, Any]],
           log: Callable[[str], None]) -> list[str]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("matplotlib is not installed: no plots (pip install 'vposer[evaluate]')")
        return []
    geodesic = {n: m["reconstruction"]["geodesic_deg_per_joint"] for n, m in methods.items()
                if "reconstruction" in m}
    ranges = {n: m["generation"]["out_of_range_per_joint"] for n, m in methods.items()
              if "generation" in m}
    files = [report.plot_per_joint(out / "per_joint_errors.png", joint_names, geodesic, ranges)]
    for name, m in methods.items():
        if "reconstruction" in m:
            rec = m["reconstruction"]
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            files.append(report.plot_latent(out / f"latent_stats_{safe}.png", name,
                                            rec["kl_per_dim"], rec["posterior_mean_var"]))
    return [str(f) for f in files]
