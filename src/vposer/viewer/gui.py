"""The viewer's control panel (viser GUI): widgets, and callbacks that call :class:`ViewerApp`.

Every callback runs in viser's thread pool and goes through a public method of the app, which
takes the app's lock; errors the user can fix (:class:`vposer.VPoserError`) become a notification
in the browser instead of a traceback on the server.
"""
from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from ..errors import VPoserError

if TYPE_CHECKING:  # pragma: no cover
    from .app import ViewerApp

SLIDER_RANGE = 4.0  # latent sliders span [-4, 4]: beyond 4 standard deviations of the prior
SLIDER_STEP = 0.01


@dataclass
class Controls:
    """Handles of the widgets the app reads or writes."""

    seed: Any
    temperature: Any
    bodies: Any
    selected: Any
    show_mesh: Any
    show_skeleton: Any
    pose_path: Any
    frame: Any
    method: Any
    steps: Any
    fps: Any
    loop: Any
    status: Any
    latents: list[Any]


def _guarded(app: ViewerApp, func: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap a callback: skip it while the app writes widgets itself, report user errors."""

    @functools.wraps(func)
    def callback(event: Any) -> None:
        if app.syncing:
            return
        try:
            func(event)
        except VPoserError as exc:
            app.notify(f"{exc}", title="error", client=getattr(event, "client", None))

    return callback


def build_controls(app: ViewerApp, latent_dim: int, num_bodies: int, max_bodies: int,
                   pose_path: str = "") -> Controls:
    """Add the panel to ``app.server.gui`` and wire it to ``app``."""
    gui = app.server.gui
    on = functools.partial(_guarded, app)

    # The main controls first and compact (one row per pair of buttons), so that sampling,
    # export and the first latent sliders fit a 1440 x 810 window without scrolling; the rest
    # in folders that open on a click.
    with gui.add_folder("Sample"):
        seed = gui.add_number("Seed", 0, step=1, hint="seed of the next draw; counts up after each")
        temperature = gui.add_slider("Temperature", 0.0, 2.0, 0.05, 1.0,
                                     hint="scale of the latent codes: below 1, more typical poses")
        draw = gui.add_button_group("Codes", ("Sample", "Reset"),
                                    hint="Sample: new codes for every body; Reset: all codes to "
                                    "zero (the prior's mode)")
        save = gui.add_button_group("Save", ("Export pose", "Screenshot"),
                                    hint="the edited body's pose_body (1, 63) and z (1, D) as "
                                    ".npz; a PNG of this view")
        status = gui.add_markdown("")
    with gui.add_folder("Bodies and display", expand_by_default=False):
        bodies = gui.add_slider("Bodies", 1, max_bodies, 1, num_bodies, hint="bodies side by side")
        selected = gui.add_slider("Edit body", 0, max(1, num_bodies - 1), 1, 0,
                                  disabled=num_bodies == 1, hint="the body the sliders edit")
        show_mesh = gui.add_checkbox("Mesh", True)
        show_skeleton = gui.add_checkbox("Skeleton", False)
    with gui.add_folder("Interpolate", expand_by_default=False):
        marks = gui.add_button_group("Poses", ("Set A", "Set B"),
                                     hint="remember the edited body's pose as A or B")
        method = gui.add_dropdown("Method", ("slerp", "lerp"), initial_value="slerp")
        steps = gui.add_number("Steps", 30, min=2, max=1000, step=1)
        fps = gui.add_slider("Speed (fps)", 1, 60, 1, 15)
        loop = gui.add_checkbox("Loop", False, hint="play A to B and back until stopped")
        playback = gui.add_button_group("Playback", ("Play", "Stop"))
    with gui.add_folder("Pose file", expand_by_default=False):
        path = gui.add_text("Path", pose_path, hint="an .npz with pose_body (N, 63), on the server")
        load = gui.add_button("Load file")
        upload = gui.add_upload_button("Upload .npz", hint="send a pose file from this browser")
        frame = gui.add_number("Frame", 0, min=0, step=1)
        encode = gui.add_button("Encode frame", hint="the frame's latent code to the edited body")
    with gui.add_folder("Latent code"):
        latents = [gui.add_slider(f"z{i}", -SLIDER_RANGE, SLIDER_RANGE, SLIDER_STEP, 0.0)
                   for i in range(latent_dim)]

    actions: dict[str, Callable[[Any], Any]] = {
        "Sample": lambda e: app.sample(seed=int(seed.value), temperature=float(temperature.value),
                                       advance_seed=True),
        "Reset": lambda e: app.reset(),
        "Export pose": lambda e: app.export_pose(client=e.client),
        "Screenshot": lambda e: app.screenshot(client=e.client),
        "Set A": lambda e: app.mark("A"),
        "Set B": lambda e: app.mark("B"),
        "Play": lambda e: app.play_interpolation(),
        "Stop": lambda e: app.stop_playback(),
    }
    for group in (draw, save, marks, playback):
        group.on_click(on(lambda e: actions[e.target.value](e)))
    bodies.on_update(on(lambda e: app.set_num_bodies(int(bodies.value))))
    selected.on_update(on(lambda e: app.select(int(selected.value))))
    show_mesh.on_update(on(lambda e: app.set_visibility(mesh=bool(show_mesh.value))))
    show_skeleton.on_update(on(lambda e: app.set_visibility(skeleton=bool(show_skeleton.value))))
    load.on_click(on(lambda e: app.load_poses(path.value)))
    upload.on_upload(on(lambda e: _load_upload(app, e.target.value)))
    encode.on_click(on(lambda e: app.encode_file(frame=int(frame.value))))
    for i, slider in enumerate(latents):
        slider.on_update(on(functools.partial(_latent_moved, app, i)))
    return Controls(seed, temperature, bodies, selected, show_mesh, show_skeleton, path, frame,
                    method, steps, fps, loop, status, latents)


def _latent_moved(app: ViewerApp, i: int, event: Any) -> None:
    app.set_latent(i, float(event.target.value))


def _load_upload(app: ViewerApp, uploaded: Any) -> None:
    """Load an uploaded pose file (through a temporary copy, removed afterwards)."""
    name = Path(getattr(uploaded, "name", "") or "upload.npz").name
    with tempfile.TemporaryDirectory(prefix="vposer_view_") as folder:
        target = Path(folder) / (name if name.endswith(".npz") else name + ".npz")
        target.write_bytes(uploaded.content)
        app.load_poses(target, label=f"upload:{name}")
