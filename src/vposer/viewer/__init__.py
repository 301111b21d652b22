"""A local web viewer for VPoser: explore the latent space, sample, interpolate, export.

``vposer view`` (or :class:`ViewerApp` from Python) starts a `viser <https://viser.studio>`_
server on 127.0.0.1 and shows the body posed by the model in a 3D scene, with a control panel:

- **Sample**: seed, temperature, number of bodies side by side, *Sample* and *Reset* (z = 0).
- **Display**: which body the sliders edit; mesh and skeleton toggles.
- **Pose file**: load (server path) or upload an ``.npz`` of poses, encode a frame into the code.
- **Interpolate**: *Set A* / *Set B* from the edited body, slerp or lerp, steps, speed, loop, play.
- **Export**: the edited pose (``pose_body`` (1, 63), ``z`` (1, D)) and a PNG screenshot.
- **Latent code**: one slider per latent dimension (all ``D`` = 32 of them).

The sliders are the raw latent dimensions, not principal directions: VPoser's posterior is
trained towards an isotropic ``N(0, I)``, so no direction of the prior is privileged, and every
code a slider reaches is one that ``sample``/``encode`` can produce (principal directions would
need a pose data set at start-up). Sliders span [-4, 4]; codes beyond are kept exactly in the
state and shown clipped.

Needs the ``viewer`` extra (``pip install 'vposer[viewer]'``); viser is imported only when a
viewer starts. :class:`ViewerState` is the GUI-free part (codes, poses, posed bodies).
"""
from .state import Frames, ViewerState

__all__ = ["Frames", "ViewerApp", "ViewerState", "display_url"]


def __getattr__(name: str):
    if name in ("ViewerApp", "display_url"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'vposer.viewer' has no attribute {name!r}")
