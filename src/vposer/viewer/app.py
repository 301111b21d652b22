"""The browser viewer: a viser server showing VPoser poses on a body, with a control panel.

Threading: viser serves the page and runs GUI callbacks in its own threads; every public method
of :class:`ViewerApp` takes one re-entrant lock, changes the :class:`ViewerState` and pushes the
changed scene nodes (viser sends them to the browsers asynchronously, so no call waits for a
frame to be drawn). Interpolation plays in a background thread that takes the lock once per
frame; any edit stops it first. Screenshots ask a connected browser for a render *without*
holding the lock.
"""
from __future__ import annotations

import itertools
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import PathLike
from ..errors import InputError, VPoserError
from ..fileio import expand_path, write_bytes
from .gui import SLIDER_RANGE, build_controls
from .scene import SceneView, flatten_rgba, render_offline
from .state import MAX_BODIES, Frames, ViewerState
if TYPE_CHECKING:
    from ..body import BodyModel
    from ..model import VPoser


DEFAULT_SHOT = (720, 1280)  # (height, width) of a screenshot when the browser reports no size


def import_viser() -> Any:
    """``import viser``, or a :class:`VPoserError` saying how to install it."""
    try:
        import viser
    except ImportError as exc:
        raise VPoserError(f"the viewer needs viser ({exc}): pip install 'vposer[viewer]'") from None
    return viser


def display_url(host: str, port: int) -> str:
    """The address to open for a server bound to ``host:port`` (wildcards shown as loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class ViewerApp:
    """A running viewer (the server starts in the constructor; :meth:`stop` ends it).

    Args:
        model: a :class:`vposer.VPoser`.
        body: a :class:`vposer.BodyModel` (None: the open body).
        host, port: where to serve; port 0 takes a free port, a busy port the next free one
            (read :attr:`url`).
        poses: an ``.npz`` pose file to load for encoding (optional).
        num_bodies: bodies side by side.
        output_dir: where the GUI's export and screenshot buttons write.
        verbose: let viser log its own messages.

    The methods are what the control panel calls; scripts and tests may call them directly.
    """

    def __init__(self, model: VPoser, body: BodyModel | None = None, *, host: str = "127.0.0.1", port: int = 8080,
                 poses: PathLike | None = None, num_bodies: int = 1, output_dir: PathLike = ".",
                 spacing: float = 1.0, verbose: bool = False):
        viser = import_viser()
        if body is None:
            from ..body import load_body

            body = load_body(None)
        self.state = ViewerState(model, body, num_bodies=num_bodies, spacing=spacing)
        if poses is not None:
            self.state.load_file(poses)
        self.output_dir = expand_path(output_dir)
        self.host = host
        self._lock = threading.RLock()
        self._local = threading.local()
        self._player: threading.Thread | None = None
        self._halt = threading.Event()
        self._stopped = False
        self.server = viser.ViserServer(host=host, port=int(port), label="vposer", verbose=verbose)
        try:
            self.scene = SceneView(self.server, self.state)
            self.controls = build_controls(self, self.state.latent_dim, self.state.num_bodies,
                                           MAX_BODIES, str(poses or ""))
            if self.state.loaded is not None:
                self._file_loaded()
            self._sync_gui()
        except BaseException:
            self.server.stop()
            raise

    # -- properties ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.server.get_port())

    @property
    def url(self) -> str:
        return display_url(self.host, self.port)

    @property
    def z(self) -> np.ndarray:
        """``(B, D)`` codes of all bodies (a copy)."""
        with self._lock:
            return self.state.z.copy()

    @property
    def current_z(self) -> np.ndarray:
        with self._lock:
            return self.state.current_z

    @property
    def current_pose(self) -> np.ndarray:
        """``(63,)`` axis-angle pose of the body being edited."""
        with self._lock:
            return self.state.current_pose

    @property
    def syncing(self) -> bool:
        """True inside this thread's own writes to the widgets (their callbacks are skipped)."""
        return getattr(self._local, "syncing", False)

    @property
    def playing(self) -> bool:
        return self._player is not None and self._player.is_alive()

    # -- edits --------------------------------------------------------------------------------
    def sample(self, seed: int | None = None, temperature: float | None = None,
               advance_seed: bool = False) -> np.ndarray:
        """Draw new codes for all bodies (defaults: the panel's seed and temperature); with
        ``advance_seed`` the panel's seed counts up, so the next click draws other poses."""
        self.stop_playback()
        with self._lock:
            seed = int(self.controls.seed.value) if seed is None else int(seed)
            temp = float(self.controls.temperature.value) if temperature is None else float(temperature)
            z = self.state.sample(seed=seed, temperature=temp)
            self.scene.update(self.state)
            self._sync_gui(seed=seed + 1 if advance_seed else None)
            self._status(f"sampled {self.state.num_bodies} with seed {seed}, temperature {temp:g}")
            return z

    def reset(self) -> None:
        self.stop_playback()
        with self._lock:
            self.state.reset()
            self.scene.update(self.state)
            self._sync_gui()

    def set_latent(self, i: int, value: float) -> None:
        """Set dimension ``i`` of the edited body's code (a no-op when it has that value: a
        drag queues many callbacks that all read the slider's latest value)."""
        self.stop_playback()
        with self._lock:
            if 0 <= int(i) < self.state.latent_dim and self.state.z[self.state.selected, int(i)] == np.float32(value):
                return
            self.state.set_latent(i, value)
            self.scene.update(self.state, bodies=[self.state.selected])

    def set_num_bodies(self, n: int) -> None:
        """Show ``n`` bodies; new ones are drawn with the panel's seed (which then counts up)."""
        self.stop_playback()
        with self._lock:
            seed = int(self.controls.seed.value)
            self.state.set_num_bodies(n, seed=seed, temperature=float(self.controls.temperature.value))
            self.scene.rebuild(self.state)
            SceneView.frame_camera(self.server, self.state.num_bodies, self.state.spacing)
            self.controls.selected.max = max(1, self.state.num_bodies - 1)
            self.controls.selected.disabled = self.state.num_bodies == 1
            self._sync_gui(seed=seed + 1 if n > 1 else None)

    def select(self, body: int) -> None:
        """Edit body ``body`` (its code goes to the sliders)."""
        self.stop_playback()
        with self._lock:
            self.state.select(body)
            self.scene.update(self.state)
            self._sync_gui()

    def set_visibility(self, mesh: bool | None = None, skeleton: bool | None = None) -> None:
        with self._lock:
            self.scene.set_visibility(mesh=mesh, skeleton=skeleton)
            self._sync_gui()

    # -- pose files ---------------------------------------------------------------------------
    def load_poses(self, path: PathLike, label: str | None = None) -> int:
        """Load a pose file to encode from (``label``: its name in the panel, default the
        path); returns its number of poses."""
        with self._lock:
            if not str(path).strip():
                raise InputError("no pose file given: type a path or upload a file")
            n = self.state.load_file(Path(str(path).strip()).expanduser())
            if label is not None:
                self.state.loaded_path = Path(label)
            self._file_loaded()
            return n

    def encode_file(self, path: PathLike | None = None, frame: int = 0) -> np.ndarray:
        """Encode pose ``frame`` of ``path`` (default: the loaded file) into the edited body."""
        self.stop_playback()
        with self._lock:
            if path is not None:
                self.load_poses(path)
            z = self.state.encode_frame(frame)
            self.scene.update(self.state, bodies=[self.state.selected])
            self._sync_gui()
            self._status(f"encoded frame {frame} of {self.state.loaded_path.name}")
            return z

    def _file_loaded(self) -> None:
        n = len(self.state.loaded)
        self.controls.frame.max = n - 1
        self._sync_gui(path=str(self.state.loaded_path))
        self._status(f"loaded {n} poses from {self.state.loaded_path.name}")

    # -- interpolation ------------------------------------------------------------------------
    def mark(self, name: str) -> np.ndarray:
        """Remember the edited body's code as endpoint ``'A'`` or ``'B'``."""
        with self._lock:
            z = self.state.mark(name)
            self._status(f"pose {name} set ({' and '.join(sorted(self.state.endpoints))} marked)")
            return z

    def play_interpolation(self, steps: int | None = None, method: str | None = None,
                           fps: float | None = None, loop: bool | None = None) -> threading.Thread:
        """Play A to B on the edited body in a background thread (returned; see
        :meth:`wait_playback`). Defaults come from the panel; with ``fps`` None the speed
        slider is read at every frame. ``loop`` plays A to B and back until stopped."""
        self.stop_playback()
        with self._lock:
            c = self.controls
            loop = bool(c.loop.value) if loop is None else bool(loop)
            frames = self.state.interpolation(
                steps=int(c.steps.value) if steps is None else int(steps),
                method=str(c.method.value) if method is None else method, there_and_back=loop)
            self._halt.clear()
            self._player = threading.Thread(target=self._play, args=(frames, fps, loop),
                                            name="vposer-viewer-playback", daemon=True)
            self._player.start()
            return self._player

    def _play(self, frames: Frames, fps: float | None, loop: bool) -> None:
        t, count = 0, len(frames.z)
        while not self._halt.is_set():
            with self._lock:
                if self._halt.is_set():
                    break
                self.state.show_frame(frames, t)
                self.scene.update(self.state, bodies=[self.state.selected])
                rate = float(self.controls.fps.value) if fps is None else float(fps)
            t += 1
            if t == count:
                if not loop:
                    break
                t = 0
            self._halt.wait(1.0 / max(rate, 1e-3))
        with self._lock:
            self._sync_gui()

    def stop_playback(self, timeout: float = 5.0) -> None:
        """Stop a running interpolation (and wait for its thread)."""
        player = self._player
        if player is None or player is threading.current_thread():
            return
        self._halt.set()
        player.join(timeout)
        self._player = None

    def wait_playback(self, timeout: float | None = None) -> bool:
        """Wait for the interpolation to end; True when it has."""
        player = self._player
        if player is not None:
            player.join(timeout)
        return not self.playing

    # -- output -------------------------------------------------------------------------------
    def export_pose(self, path: PathLike | None = None, client: Any = None) -> Path:
        """Write the edited body's pose: ``pose_body`` ``(1, 63)``, ``z`` ``(1, D)``, ``meta``
        (default name: ``vposer_pose_NNN.npz`` in ``output_dir``); a ``client`` also gets it as
        a download."""
        from ..posefiles import atomic_savez

        with self._lock:
            arrays = self.state.export_arrays()
        path = atomic_savez(Path(path) if path is not None else self._next_name("vposer_pose", ".npz"),
                            arrays)
        self._delivered(path, client)
        return path

    def screenshot(self, path: PathLike | None = None, client: Any = None,
                   size: tuple[int, int] | None = None, timeout: float = 30.0) -> Path:
        """Save a PNG of the scene (default name ``vposer_view_NNN.png`` in ``output_dir``).

        Rendered by ``client`` (or the first connected browser) from its current camera; with
        no browser connected, rendered on the server with :mod:`vposer.render` (needs the
        ``render`` extra and OpenGL). ``size`` is ``(height, width)``.
        """
        import imageio.v3 as iio

        client = client if client is not None else next(iter(self.server.get_clients().values()), None)
        if client is not None:
            height, width = size or self._client_size(client)
            image = flatten_rgba(client.get_render(height, width, transport_format="png", timeout=timeout))
        else:
            with self._lock:
                vertices = self.state.vertices.copy()
            height, width = size or DEFAULT_SHOT
            image = render_offline(vertices, self.state.faces, width, height)
        path = Path(path) if path is not None else self._next_name("vposer_view", ".png")
        write_bytes(path, iio.imwrite("<bytes>", image, extension=".png"))
        self._delivered(path, client)
        return path

    @staticmethod
    def _client_size(client: Any) -> tuple[int, int]:
        height, width = int(client.camera.image_height), int(client.camera.image_width)
        return (height, width) if height > 0 and width > 0 else DEFAULT_SHOT

    def _next_name(self, stem: str, suffix: str) -> Path:
        for k in itertools.count(1):
            path = self.output_dir / f"{stem}_{k:03d}{suffix}"
            if not path.exists():
                return path
        raise AssertionError("unreachable")  # pragma: no cover

    def _delivered(self, path: Path, client: Any) -> None:
        self._status(f"saved {path.name}")
        if client is not None:
            client.send_file_download(path.name, path.read_bytes())

    # -- messages and widgets -----------------------------------------------------------------
    def notify(self, message: str, title: str = "vposer", client: Any = None) -> None:
        """A notification in one browser (or all connected)."""
        targets = [client] if client is not None else list(self.server.get_clients().values())
        for c in targets:
            c.add_notification(title, message, auto_close_seconds=8.0)

    def _status(self, text: str) -> None:
        self.controls.status.content = text

    def _sync_gui(self, seed: int | None = None, path: str | None = None) -> None:
        """Write the state into the widgets without triggering their callbacks."""
        with self._lock:
            self._local.syncing = True
            try:
                c = self.controls
                z = np.clip(self.state.current_z, -SLIDER_RANGE, SLIDER_RANGE)
                for slider, value in zip(c.latents, z):
                    slider.value = round(float(value), 2)
                c.bodies.value = self.state.num_bodies
                c.selected.value = self.state.selected
                c.show_mesh.value = self.scene.show_mesh
                c.show_skeleton.value = self.scene.show_skeleton
                if seed is not None:
                    c.seed.value = seed
                if path is not None:
                    c.pose_path.value = path
            finally:
                self._local.syncing = False

    # -- life cycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop playback and the server (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.stop_playback()
        self.server.stop()

    def __enter__(self) -> ViewerApp:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_until_interrupted(self, poll: float = 0.25) -> int:
        """Block until SIGINT or SIGTERM (Ctrl-C), then stop; returns 0. Main thread only."""
        done = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not done.wait(poll):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()
        return 0
