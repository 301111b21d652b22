"""``human_body_prior.tools.training_tools``: the cvpr19 line's early stopping counter."""
from __future__ import annotations

import math

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """``EarlyStopping(patience=7)``; ``stop = es(val_loss)`` is True once the loss has not
    improved for ``patience`` calls."""

    def __init__(self, patience: int = 7):
        self.reset(patience)

    def __call__(self, val_loss: float) -> bool:
        score = -float(val_loss)
        if self.best_score is None or score >= self.best_score:
            self.best_score, self.counter = score, 0
        else:
            self.counter += 1
            if self.counter >= self.patience:
                self.early_stop = True
        return self.early_stop

    def reset(self, patience: int = 7) -> None:
        self.patience = patience
        self.counter = 0
        self.best_score = None
        self.early_stop = False
        self.val_loss_min = math.inf
