"""``human_body_prior.visualizations.training_visualization``: the v2 trainer's pyrender
renderers; not provided (``vposer train`` draws sampled and reconstructed bodies itself)."""
from .._refused import DISPLAY, refused

__all__ = ["pyrenderer", "vposer_trainer_renderer"]

pyrenderer = refused("human_body_prior.visualizations.training_visualization.pyrenderer", DISPLAY)
vposer_trainer_renderer = refused(
    "human_body_prior.visualizations.training_visualization.vposer_trainer_renderer", DISPLAY)
