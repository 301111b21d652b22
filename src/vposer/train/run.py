"""Running a training: data, callbacks, loggers, atomic checkpoints, resume, export.

The run folder (``work_dir``) ends up holding::

    config.yaml                  the merged configuration (what ran)
    checkpoints/last.ckpt        the newest state (every epoch and every few minutes)
    checkpoints/epoch=NN-val_loss=X.ckpt   the best by validation loss
    model/                       the best weights in the native format (vposer.load_model reads it)
    logs/                        CSV and TensorBoard logs
    images/epoch_NNN.png         sampled and reconstructed bodies after each validation
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..data.prepared import load_prepared
from ..errors import ConfigError, InputError, Interrupted
from ..fileio import atomic_path, check_writable, write_text
from .config import TrainConfig, check_data_and_body


def _atomic_checkpoint_io() -> Any:
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Writes each checkpoint to a temporary file in the same folder, then renames it: a
        run killed while saving never leaves a half-written checkpoint under the real name."""

        def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)

    return AtomicCheckpointIO()


def _load_split(directory: Path, split: str, batch_size: int = 1) -> torch.Tensor:
    """``(N, 63)`` poses of a split, checked: finite, and at least one batch of them."""
    path = directory / split / "pose_body.npy"
    poses = np.load(path, mmap_mode="r")
    if poses.ndim != 2 or poses.shape[1] != 63 or len(poses) == 0:
        raise ConfigError(f"expected (N, 63) body poses with N > 0, got {poses.shape}", path)
    poses = np.array(poses, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(poses).all(axis=1))
    if len(bad):
        raise ConfigError(f"{len(bad)} pose(s) contain NaN or Inf (rows {', '.join(map(str, bad[:5]))}"
                          f"{', ...' if len(bad) > 5 else ''})", path)
    if len(poses) < batch_size:
        raise ConfigError(f"the '{split}' split has {len(poses)} poses, fewer than one batch of "
                          f"{batch_size}: lower train_parms.batch_size (--batch-size)", path)
    return torch.from_numpy(poses)


def check_splits(cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and validation poses, checked before anything is written; with
    ``data.mirror``, the training poses followed by their mirror images."""
    batch = int(cfg.get("train_parms.batch_size"))
    train = _load_split(cfg.prepared_dir, cfg.get("data.train_split", "train"), batch)
    if cfg.get("data.mirror", False):
        from ..data.mirror import mirror_pose_body

        train = torch.cat([train, mirror_pose_body(train)])
    return train, _load_split(cfg.prepared_dir, cfg.get("data.val_split", "vald"))


def latent_prior_groups(cfg: TrainConfig) -> np.ndarray | None:
    """With a latent prior weighted by source (``model_params.latent_prior_weighting: source``),
    the ``(N,)`` source label of each training pose of :func:`check_splits` (mirror images share
    their original's); else None.

    Raises:
        ConfigError: the split does not say where its poses come from.
    """
    if not cfg.get("model_params.latent_prior_components", 0) or \
            cfg.get("model_params.latent_prior_weighting", "pose") != "source":
        return None
    try:
        split = load_prepared(cfg.prepared_dir, cfg.get("data.train_split", "train"))
    except InputError as exc:
        raise ConfigError("'model_params.latent_prior_weighting: source' needs the source of "
                          f"each training pose (files.json, provenance.npy): {exc}") from None
    _, labels = split.source_labels()
    return np.concatenate([labels, labels]) if cfg.get("data.mirror", False) else labels


def build_datamodule(cfg: TrainConfig, epoch_fn: Any,
                     splits: tuple[torch.Tensor, torch.Tensor]) -> Any:
    """Lightning data module over the ``(train, val)`` poses of :func:`check_splits`."""
    import lightning.pytorch as pl

    from .batches import PoseBatches

    class PoseDataModule(pl.LightningDataModule):
        def __init__(self) -> None:
            super().__init__()
            self.train_poses, self.val_poses = splits
            self._train = PoseBatches(self.train_poses, int(cfg.get("train_parms.batch_size")),
                                      cfg.seed, epoch_fn)

        def train_dataloader(self) -> Any:
            return self._train

        def val_dataloader(self) -> Any:
            return PoseBatches(self.val_poses, 1024, cfg.seed, epoch_fn, shuffle=False, drop_last=False)

    return PoseDataModule()


def _callbacks(cfg: TrainConfig, ckpt_dir: Path, images: bool) -> list:
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

    # last.ckpt is written after every epoch (by the first) and every few minutes or steps (by
    # the second); the best by validation loss is kept beside it
    callbacks: list = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="epoch={epoch:02d}-val_loss={val_loss:.4f}",
                        auto_insert_metric_name=False, monitor="val_loss", mode="min", save_top_k=1,
                        save_last=True, enable_version_counter=False),
        LearningRateMonitor(logging_interval="epoch"),
    ]
    minutes = cfg.get("trainer.checkpoint_every_minutes")
    steps = cfg.get("trainer.checkpoint_every_steps")
    periodic = ({"every_n_train_steps": int(steps)} if steps else
                {"train_time_interval": datetime.timedelta(minutes=float(minutes))} if minutes else None)
    if periodic:
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, save_top_k=0, save_last=True,
                                         enable_version_counter=False, **periodic))
    es = cfg.get("train_parms.early_stopping", {}) or {}
    callbacks.append(EarlyStopping(monitor=es.get("monitor", "val_loss"), mode=es.get("mode", "min"),
                                   patience=int(es.get("patience", 10)),
                                   min_delta=float(es.get("min_delta", 0.0))))
    if images:
        from .pictures import ValidationPictures

        callbacks.append(ValidationPictures(int(cfg.get("logging.num_bodies_to_display", 10))))
    return callbacks


def train(cfg: TrainConfig, resume: bool = False, fast_dev_run: bool = False) -> Path:
    """Train as ``cfg`` says; returns the run folder. With ``resume``, continue from
    ``work_dir/checkpoints/last.ckpt``.

    Raises:
        ConfigError: before any training, when the data folder or body model is unusable.
    """
    check_data_and_body(cfg)
    splits = check_splits(cfg)
    groups = latent_prior_groups(cfg)
    import lightning.pytorch as pl

    from ..body import load_body
    from .module import VPoserModule

    work = cfg.work_dir
    ckpt_dir = work / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if resume and not last.is_file():
        raise ConfigError("nothing to resume: no checkpoints/last.ckpt in the run folder", work)
    if not resume and last.is_file() and not fast_dev_run:
        raise ConfigError("the run folder already holds a training; resume it with --resume "
                          "or choose another output folder", work)
    if resume:
        _check_same_network(cfg, work)
    check_writable(work / "config.yaml")
    if not fast_dev_run:  # a dry run leaves nothing behind (no config, logs or checkpoints)
        work.mkdir(parents=True, exist_ok=True)
        write_text(work / "config.yaml", yaml.safe_dump(cfg.raw, sort_keys=False))

    threads = cfg.get("trainer.threads")
    if threads is not None:  # the same thread count gives the same sums, so the same weights
        torch.set_num_threads(int(threads))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    bm = cfg.get("body_model.bm_path")
    body = load_body(None if bm in (None, "open") else bm, cfg.get("body_model.model_type"))
    module = VPoserModule(cfg, body)
    data = build_datamodule(cfg, lambda: module.current_epoch if module._trainer is not None else 0,
                            splits)
    images = bool(cfg.get("logging.render_during_training", True))
    trainer = pl.Trainer(
        accelerator=cfg.get("trainer.accelerator", "auto"),
        devices=cfg.get("trainer.devices", 1),
        strategy=cfg.get("trainer.strategy", "auto"),
        num_nodes=int(cfg.get("trainer.num_nodes", 1)),
        precision=cfg.get("trainer.precision", "32-true"),
        deterministic=bool(cfg.get("trainer.deterministic", True)),
        max_epochs=int(cfg.get("train_parms.num_epochs")),
        max_steps=int(cfg.get("trainer.max_steps", -1)),
        limit_train_batches=cfg.get("trainer.limit_train_batches", 1.0),
        callbacks=[] if fast_dev_run else _callbacks(cfg, ckpt_dir, images),
        logger=False if fast_dev_run else _loggers(work, resume),
        plugins=[_atomic_checkpoint_io()],
        use_distributed_sampler=False,
        enable_progress_bar=bool(cfg.get("trainer.progress_bar", True)),
        enable_model_summary=False,
        log_every_n_steps=10,
        default_root_dir=work,
        fast_dev_run=fast_dev_run,
    )
    # deterministic mode also fills every new tensor with NaN (a debugging aid, not needed for
    # reproducible results): 4 % of a CPU training step
    fill = getattr(torch.utils, "deterministic", None)
    filled = getattr(fill, "fill_uninitialized_memory", None)
    if filled is not None:
        fill.fill_uninitialized_memory = False
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume else None)
    except SystemExit as exc:  # Lightning ends Ctrl-C with sys.exit(1), SIGTERM with its own
        raise Interrupted("SIGTERM" if type(exc).__name__ == "SIGTERMException" else "SIGINT",
                          "resume with --resume") from None
    finally:
        if filled is not None:
            fill.fill_uninitialized_memory = filled
    if trainer.is_global_zero and not fast_dev_run:
        components = cfg.get("model_params.latent_prior_components", 0)  # checked: an int >= 0
        export_best(work, splits[0], components, cfg.seed, groups)
    return work


def _loggers(work: Path, resume: bool) -> list:
    """CSV and TensorBoard logs under ``work/logs``; the K-th resumption writes its CSV rows to
    ``logs/resumed-K/metrics.csv``, keeping the earlier ones (the CSV logger rewrites its file)."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    version = ""
    if resume:
        count = len(list((work / "logs").glob("resumed-*")))
        version = f"resumed-{count + 1}"
    return [CSVLogger(work, name="logs", version=version),
            TensorBoardLogger(work, name="logs", version="tensorboard", default_hp_metric=False)]


def _check_same_network(cfg: TrainConfig, work: Path) -> None:
    """On ``--resume``: the config must describe the network the run was training."""
    saved = work / "config.yaml"
    if not saved.is_file():
        return
    before = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
    keys = ("recipe", "model_params")
    old = {k: before.get(k) for k in keys}
    new = {k: cfg.raw.get(k) for k in keys}
    if old != new:
        raise ConfigError(f"--resume with a different network: the run was started with {old}, "
                          f"this config has {new}", saved)


def export_best(work: Path, train_poses: torch.Tensor | None = None, components: int = 0,
                seed: int = 0, groups: np.ndarray | None = None) -> Path:
    """Write the best checkpoint's weights (or the last, without validation) to ``work/model``;
    with ``components``, fitted with a learned latent prior of that many Gaussians on the
    ``(N, 63)`` ``train_poses``, weighted by their ``(N,)`` ``groups`` labels when given
    (:func:`vposer.model.fit_latent_prior`)."""
    from ..checkpoints import load_model, save_model
    from ..model import fit_latent_prior

    ckpt_dir = work / "checkpoints"
    best = sorted(p for p in ckpt_dir.glob("epoch=*.ckpt"))
    source = best[-1] if best else ckpt_dir / "last.ckpt"
    model = load_model(source)
    model.info["training_config"] = yaml.safe_load((work / "config.yaml").read_text())
    if components and train_poses is not None:
        weighting = "" if groups is None else f", each of {len(np.unique(groups))} sources alike"
        print(f"fitting a latent prior of {components} Gaussians to the codes of "
              f"{len(train_poses)} poses{weighting}")
        model.latent_prior = fit_latent_prior(model, train_poses, components, seed=seed,
                                              groups=groups)
    return save_model(model, work / "model")
