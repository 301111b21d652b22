"""Training VPoser (``vposer train``): the v2 and v1 recipes on PyTorch Lightning.

Needs the ``train`` extra (``pip install 'vposer[train]'``). ``load_config`` and the losses import
without Lightning; ``train`` imports it.
"""
from .config import TrainConfig, load_config, preset
from .losses import kl_to_standard_normal, mean_vertex_distance, vposer_loss

__all__ = ["TrainConfig", "kl_to_standard_normal", "load_config", "mean_vertex_distance",
           "preset", "train", "vposer_loss"]


def train(*args, **kwargs):
    """See :func:`vposer.train.run.train`."""
    from .run import train as _train

    return _train(*args, **kwargs)
