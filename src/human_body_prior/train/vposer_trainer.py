"""``human_body_prior.train.vposer_trainer``: the v2 Lightning trainer.

``VPoserTrainer`` and ``train_vposer_once`` drove a 2020 Lightning API (``gpus=``,
``distributed_backend=``, ``LearningRateLogger``) that current Lightning no longer has; they are
not provided: ``vposer train CONFIG.yaml`` reads the same yaml fields (V02_05.yaml loads as it
is) and writes a run folder that ``load_model`` reads. ``create_expr_message`` is provided.
"""
from __future__ import annotations

from typing import Any

from .._refused import refused

__all__ = ["VPoserTrainer", "create_expr_message", "train_vposer_once"]

_WHY = ("it drove the 2020 PyTorch Lightning API; train with 'vposer train CONFIG.yaml' "
        "(the same yaml fields)")

VPoserTrainer = refused("human_body_prior.train.vposer_trainer.VPoserTrainer", _WHY)
train_vposer_once = refused("human_body_prior.train.vposer_trainer.train_vposer_once", _WHY)


def create_expr_message(ps: Any) -> str:
    """``'[<expr_id>] batch_size = <n>.'``"""
    return f"[{ps.general.expr_id}] batch_size = {ps.train_parms.batch_size}."
