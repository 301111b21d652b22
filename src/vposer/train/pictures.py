"""A picture per validation epoch: bodies sampled from the prior (top row) and validation poses
with their reconstructions (originals middle row, reconstructions bottom row)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from .._torchtools import eval_mode


class ValidationPictures(pl.Callback):
    """Writes ``<run>/images/epoch_NNN.png`` on the global-zero rank after each validation.

    Rendering needs a headless OpenGL context (``vposer[render]``); without one, it warns once
    and training goes on.
    """

    def __init__(self, num_bodies: int = 10):
        self.num_bodies = max(1, min(int(num_bodies), 10))
        self._disabled = False

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: Any) -> None:
        if self._disabled or not trainer.is_global_zero or trainer.sanity_checking:
            return
        try:
            from ..render import gl_available, render_grid, save_image
        except ImportError as exc:
            self._disable(f"vposer.render is unavailable ({exc})")
            return
        ok, why = gl_available()
        if not ok:
            self._disable(why)
            return
        vp = module.vposer
        with eval_mode(vp), torch.no_grad():
            n = self.num_bodies
            sampled = vp.sample(n, seed=0).axis_angle
            every = trainer.datamodule.val_poses
            picks = torch.linspace(0, len(every) - 1, n).round().long()  # spread over takes
            val_poses = every[picks].to(module.device)
            rec = vp.decode(vp.encode(val_poses).mean).axis_angle
            poses = torch.cat([sampled, val_poses.reshape(-1, 21, 3), rec]).reshape(-1, 63)
            verts = module.body(pose_body=poses).vertices.float().cpu().numpy()
        faces = module.body.faces.cpu().numpy()
        rows = [verts[i * n:(i + 1) * n] for i in range(3) if len(verts[i * n:(i + 1) * n]) == n]
        images = [render_grid(r, faces, angles=(0,), cell_size=200) for r in rows]
        folder = Path(trainer.default_root_dir) / "images"
        save_image(np.concatenate(images, axis=0), folder / f"epoch_{trainer.current_epoch:03d}.png")

    def _disable(self, why: str) -> None:
        warnings.warn(f"no validation pictures: {why}", stacklevel=2)
        self._disabled = True
