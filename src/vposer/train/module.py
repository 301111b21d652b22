"""The Lightning module: a VPoser, a frozen body model, the recipe's loss and optimiser."""
from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from ..body import BodyModel
from ..model import VPoser, VPoserConfig, build_model
from ..rotations import axis_angle_to_matrix
from .config import TrainConfig
from .body_points import BodyPoints
from .losses import joint_mmd, mean_vertex_distance, vposer_loss


class VPoserModule(pl.LightningModule):
    """Trains ``self.vposer`` to reconstruct body poses through ``body`` (vertices, joints).

    Args:
        cfg: the validated training configuration.
        body: the body model of the vertex loss (frozen; posed with zero shape and root).
    """

    def __init__(self, cfg: TrainConfig, body: BodyModel):
        super().__init__()
        self.cfg = cfg
        arch = cfg.get("model_params.architecture", "v2")
        self.vposer: VPoser = build_model(VPoserConfig(
            arch, int(cfg.get("model_params.num_neurons")), int(cfg.get("model_params.latentD"))))
        self.vposer.train()
        self.body = body
        for p in self.body.parameters():
            p.requires_grad_(False)
        self.points = BodyPoints(body)
        self.recipe = cfg.recipe
        self.weights = dict(cfg.get("train_parms.loss_weights", {}))
        # the sample-matching term costs a decode per step: only when weighted
        self.match_samples = float(self.weights.get("loss_sample_mmd_wt") or 0.0) > 0
        self.extra_until = int(cfg.get("train_parms.keep_extra_loss_terms_until_epoch", 15))
        self.seed = cfg.seed
        self.deterministic = bool(cfg.get("trainer.deterministic", True))

    def _step(self, poses: Tensor, extra: bool) -> tuple[Any, Tensor]:
        result = self.vposer(poses)
        rec_aa, rec_rot = result.decoded.axis_angle, result.decoded.matrices
        aa_orig = poses.reshape(len(poses), 21, 3)
        with torch.no_grad():
            r_orig = axis_angle_to_matrix(aa_orig)
        v_diff, j_diff = self.points.difference(rec_rot, rec_aa, r_orig, aa_orig)
        sample_mmd = None
        if self.match_samples:
            z = torch.randn(len(poses), self.vposer.latent_dim, device=poses.device, dtype=poses.dtype)
            # decoded prior samples against the batch, compared by their posed joints
            generated = self.points.joints(self.vposer.decode(z).matrices)
            with torch.no_grad():
                real = self.points.joints(r_orig)
            sample_mmd = joint_mmd(generated, real)
        losses = vposer_loss(self.recipe, self.weights, extra, result.posterior, v_diff, j_diff,
                             rec_rot, r_orig, rec_aa, aa_orig, sample_mmd)
        # the logged training distance: every 4th body is an unbiased estimate at a quarter of
        # the cost of a pass over all vertices (as long as the loss itself)
        return losses, mean_vertex_distance(v_diff.detach()[:, ::4])

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        if self.deterministic:
            # the randomness of a step (dropout, reparameterisation) depends on the step alone,
            # so a resumed run draws what the uninterrupted run drew
            torch.manual_seed(self.seed * 7_919 + self.global_step * 104_729 + self.global_rank)
        extra = self.current_epoch < self.extra_until
        losses, dist = self._step(batch, extra)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.terms.items()},
                      on_step=True, on_epoch=True, prog_bar=False, batch_size=len(batch))
        self.log("train_v2v", dist, on_step=False, on_epoch=True, batch_size=len(batch))
        return losses.total

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # counted before the step: checkpoints written at the end of this batch (callbacks run
        # their on_train_batch_end before the module's) must record it as consumed
        loader = self.trainer.train_dataloader
        if hasattr(loader, "consumed"):
            loader.consumed += 1

    @torch.no_grad()
    def validation_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        mean = self.vposer.encode(batch).mean
        rec = self.vposer.decode(mean)
        aa_orig = batch.reshape(len(batch), 21, 3)
        v_diff, _ = self.points.difference(rec.matrices, rec.axis_angle,
                                           axis_angle_to_matrix(aa_orig), aa_orig)
        val = mean_vertex_distance(v_diff)
        self.log("val_loss", val, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(batch))
        self.log("val_v2v_mm", val * 1000, on_epoch=True, sync_dist=True, batch_size=len(batch))
        return val

    def configure_optimizers(self) -> Any:
        opt_cfg = self.cfg.get("train_parms.gen_optimizer", {})
        args = dict(opt_cfg.get("args") or {})
        optimizer_cls = getattr(torch.optim, opt_cfg.get("type", "Adam"))
        optimizer = optimizer_cls(self.vposer.parameters(), **args)
        sched_cfg = self.cfg.get("train_parms.lr_scheduler", {}) or {}
        kind = sched_cfg.get("type", "ReduceLROnPlateau")
        sargs = {k: v for k, v in (sched_cfg.get("args") or {}).items() if k != "verbose"}
        if kind == "ReduceLROnPlateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", **sargs)
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss", "interval": "epoch"}}
        if kind == "StepLR":
            epochs = int(self.cfg.get("train_parms.num_epochs"))
            sargs.setdefault("step_size", max(1, epochs // 3))
            return {"optimizer": optimizer,
                    "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, **sargs)}
        return optimizer

    def state_dict_for_export(self) -> dict[str, Tensor]:
        return self.vposer.state_dict()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # keep the frozen body model out of checkpoints: it is rebuilt from the config
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items()
                                    if not k.startswith("body.")}
        checkpoint["vposer_config"] = self.vposer.config.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        body_state = {f"body.{k}": v for k, v in self.body.state_dict().items()}
        checkpoint["state_dict"] = {**checkpoint["state_dict"], **body_state}


def vposer_from_module_state(state: dict[str, Tensor], config: VPoserConfig | None = None) -> dict[str, Tensor]:
    """The VPoser weights of a module checkpoint's ``state_dict`` (prefix ``vposer.`` removed)."""
    return {k[len("vposer."):]: v for k, v in state.items() if k.startswith("vposer.")}
