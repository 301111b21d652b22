"""The browser viewer (vposer.viewer, ``vposer view``).

Three layers: the GUI-free state (always), the viser app driven from Python (needs viser), and an
end-to-end run of ``vposer view`` in headless Chromium through Playwright (needs Debian's
chromium and the playwright package; skipped without them unless VPOSER_REQUIRE_BROWSER=1).
Models are small random VPoser networks built here, so nothing needs ../shared.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import vposer
from vposer.errors import InputError
from vposer.model import VPoserConfig, build_model
from vposer.viewer import ViewerState
from vposer.viewer.state import ground, skeleton_segments, slot_offsets

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = (1440, 810)  # a laptop's browser window: the main controls must fit it unscrolled
#: Deadline of every wait on the browser or the viewer process: generous, because software WebGL
#: on a loaded 2-core machine takes seconds per frame; a wait ends as soon as its condition holds.
DEADLINE = 120.0
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                 "--no-sandbox"]


def small_model(architecture: str = "v2", latent_dim: int = 32, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(VPoserConfig(architecture, num_neurons=64, latent_dim=latent_dim))


@pytest.fixture(scope="module")
def body():
    return vposer.load_body(None)


@pytest.fixture(scope="module")
def model():
    return small_model()


def pose_vertices(body, pose_body: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return body(pose_body=torch.as_tensor(pose_body)).vertices.numpy()


# -- the state, without a GUI ---------------------------------------------------------------
def test_state_starts_at_mode_and_samples_like_the_cli(model, body):
    state = ViewerState(model, body, num_bodies=2)
    assert state.z.shape == (2, 32) and not state.z.any()
    z = state.sample(seed=7, temperature=0.5)
    np.testing.assert_array_equal(z, model.sample_latent(2, seed=7, temperature=0.5).numpy())
    expected = model.decode(torch.as_tensor(z)).axis_angle.detach().reshape(2, 63).numpy()
    np.testing.assert_allclose(state.pose_body, expected, atol=1e-6)
    # the mesh is the body posed with the decoded pose, grounded and moved to its slot
    raw = pose_vertices(body, expected)
    moved = state.vertices - raw
    np.testing.assert_allclose(moved.std(axis=1), 0, atol=1e-4)  # a pure translation per body
    np.testing.assert_allclose(state.vertices[:, :, 1].min(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(moved[:, 0, 0], slot_offsets(2, 1.0)[:, 0], atol=1e-5)


def test_set_latent_edits_only_the_selected_body(model, body):
    state = ViewerState(model, body, num_bodies=3)
    state.sample(seed=1)
    before = state.pose_body.copy()
    state.select(1)
    state.set_latent(5, 2.5)
    assert state.z[1, 5] == 2.5
    changed = np.abs(state.pose_body - before).max(axis=1)
    assert changed[1] > 1e-3 and changed[0] == 0 and changed[2] == 0
    np.testing.assert_allclose(state.current_pose, model.decode(torch.as_tensor(state.z[1])).axis_angle.detach()
                               .reshape(63).numpy(), atol=1e-5)
    with pytest.raises(InputError, match="latent dimension"):
        state.set_latent(32, 0.0)
    with pytest.raises(InputError, match="finite"):
        state.set_latent(0, float("nan"))
    with pytest.raises(InputError, match="body index"):
        state.select(3)


def test_num_bodies_keeps_codes_and_draws_new_ones(model, body):
    state = ViewerState(model, body, num_bodies=2)
    state.sample(seed=3)
    kept = state.z.copy()
    state.set_num_bodies(4, seed=11)
    assert state.vertices.shape[0] == 4
    np.testing.assert_array_equal(state.z[:2], kept)
    np.testing.assert_array_equal(state.z[2:], model.sample_latent(2, seed=11).numpy())
    state.select(3)
    state.set_num_bodies(1)
    assert state.selected == 0 and state.z.shape == (1, 32)
    with pytest.raises(InputError, match="number of bodies"):
        state.set_num_bodies(0)


def test_encode_frame_uses_the_posterior_mean(model, body, tmp_path):
    poses = model.sample(3, seed=2).axis_angle.reshape(3, 63).numpy()
    from vposer.posefiles import atomic_savez

    path = atomic_savez(tmp_path / "p.npz", {"pose_body": poses})
    state = ViewerState(model, body)
    with pytest.raises(InputError, match="no pose file"):
        state.encode_frame(0)
    assert state.load_file(path) == 3
    z = state.encode_frame(2)
    np.testing.assert_allclose(z, model.encode(torch.as_tensor(poses[2:3])).mean[0].detach().numpy(), atol=1e-6)
    with pytest.raises(InputError, match="frame must be in 0..2"):
        state.encode_frame(3)


def test_interpolation_runs_from_a_to_b(model, body):
    state = ViewerState(model, body, num_bodies=2)
    state.select(1)
    with pytest.raises(InputError, match="mark pose A and B"):
        state.interpolation()
    state.sample(seed=4)
    a = state.mark("A")
    b_pose = state.sample(seed=5)
    b = state.mark("B")
    frames = state.interpolation(steps=9, method="slerp")
    assert frames.vertices.shape == (9, body.num_vertices, 3)
    np.testing.assert_allclose(frames.z[0], a, atol=1e-6)
    np.testing.assert_allclose(frames.z[-1], b, atol=1e-5)
    np.testing.assert_allclose(frames.vertices[-1], state.vertices[1], atol=1e-4)  # B, in slot 1
    assert np.abs(np.diff(frames.pose_body, axis=0)).max() > 0
    looped = state.interpolation(steps=9, method="lerp", there_and_back=True)
    assert len(looped.z) == 16
    state.show_frame(frames, 0)
    np.testing.assert_allclose(state.current_z, a)
    assert b_pose.shape == (2, 32)


def test_placement_and_skeleton_helpers(body):
    vertices = np.random.default_rng(0).normal(size=(3, 10, 3)).astype(np.float32)
    joints = vertices[:, :4].copy()
    v, j = ground(vertices, joints, slot_offsets(3, 2.0))
    np.testing.assert_allclose(v[:, :, 1].min(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(v[:, :, 0] - vertices[:, :, 0], np.repeat([[-2.0], [0.0], [2.0]], 10, 1), atol=1e-6)
    np.testing.assert_allclose(j - joints, (v - vertices)[:, :4], atol=1e-6)
    parents = body.parents.numpy()
    posed = body(pose_body=torch.zeros(2, 63)).joints.numpy()
    seg = skeleton_segments(posed, parents)
    assert seg.shape == (2 * 21, 2, 3)  # 21 bones of the 22 body joints, per body
    lengths = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=-1)
    expected = np.linalg.norm(posed[0, 1:22] - posed[0, parents[1:22]], axis=-1)
    np.testing.assert_allclose(lengths[:21], expected, atol=1e-6)


def test_export_arrays(model, body):
    state = ViewerState(model, body)
    state.sample(seed=9)
    arrays = state.export_arrays()
    assert arrays["pose_body"].shape == (1, 63) and arrays["pose_body"].dtype == np.float32
    np.testing.assert_array_equal(arrays["z"][0], state.z[0])
    assert '"seed": 9' in str(arrays["meta"])


# -- the viser app, driven from Python --------------------------------------------------------
@pytest.fixture
def app(model, body, tmp_path):
    pytest.importorskip("viser", reason="the viewer extra (viser) is not installed")
    from vposer.viewer import ViewerApp

    viewer = ViewerApp(model, body, host="127.0.0.1", port=0, output_dir=tmp_path)
    yield viewer
    viewer.stop()


def test_app_serves_the_client_on_loopback(app):
    import urllib.request

    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", app.url) and app.port > 0
    with urllib.request.urlopen(app.url, timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read(2000).lower()


def test_app_methods_update_state_and_widgets(app, model, tmp_path):
    app.sample(seed=5, temperature=0.8, advance_seed=True)
    z = model.sample_latent(1, seed=5, temperature=0.8).numpy()[0]
    np.testing.assert_array_equal(app.current_z, z)
    assert app.controls.seed.value == 6
    np.testing.assert_allclose([s.value for s in app.controls.latents], np.clip(z, -4, 4).round(2), atol=1e-6)
    np.testing.assert_allclose(app.scene.meshes[0].vertices, app.state.vertices[0])
    # a slider moved by the user goes through the callback into the state
    app.controls.latents[3].value = 1.25
    assert app.current_z[3] == pytest.approx(1.25)
    pose = app.current_pose
    path = app.export_pose(tmp_path / "pose.npz")
    with np.load(path) as data:
        np.testing.assert_array_equal(data["pose_body"], pose[None])
        assert data["z"].shape == (1, 32) and data["z"][0, 3] == pytest.approx(1.25)
    app.controls.bodies.value = 3  # the panel's body count
    assert app.state.num_bodies == 3 and len(app.scene.meshes) == 3
    app.set_visibility(skeleton=True, mesh=False)
    assert app.scene.skeleton.visible and not any(m.visible for m in app.scene.meshes)
    assert app.controls.show_skeleton.value is True


def test_app_plays_interpolation_in_background(app):
    app.sample(seed=1)
    app.mark("A")
    app.sample(seed=2)
    b = app.mark("B")
    start = time.perf_counter()
    thread = app.play_interpolation(steps=12, method="lerp", fps=200)
    assert thread.daemon and thread is not threading.current_thread()
    assert app.wait_playback(10) and not thread.is_alive()
    assert time.perf_counter() - start >= 11 / 200 * 0.9
    np.testing.assert_allclose(app.current_z, b, atol=1e-6)  # ends at B, sliders synced
    assert app.controls.latents[0].value == pytest.approx(round(float(b[0]), 2))
    # a looping playback runs until an edit stops it
    thread = app.play_interpolation(steps=5, fps=100, loop=True)
    seen = set()
    wait_for(lambda: seen.add(round(float(app.current_z[0]), 6)) or len(seen) >= 3, DEADLINE,
             "the loop to show three frames")
    assert thread.is_alive()
    app.set_latent(0, 0.0)
    assert not thread.is_alive() and app.current_z[0] == 0.0


def test_app_encodes_an_uploaded_pose_file(app, model, tmp_path):
    from types import SimpleNamespace

    from vposer.posefiles import atomic_savez
    from vposer.viewer.gui import _load_upload

    poses = model.sample(3, seed=8).axis_angle.reshape(3, 63).numpy()
    content = atomic_savez(tmp_path / "mine.npz", {"pose_body": poses}).read_bytes()
    _load_upload(app, SimpleNamespace(name="mine.npz", content=content))
    assert app.controls.pose_path.value == "upload:mine.npz" and app.controls.frame.max == 2
    z = app.encode_file(frame=1)
    np.testing.assert_allclose(z, model.encode(torch.as_tensor(poses[1:2])).mean[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(app.current_z, z)


def test_app_reports_user_errors_in_the_browser(app):
    from vposer.viewer.gui import _guarded

    seen = []
    app.notify = lambda message, title="vposer", client=None: seen.append((title, message))
    callback = _guarded(app, lambda event: app.load_poses("/nonexistent/poses.npz"))
    callback(type("Event", (), {"client": None})())
    assert seen == [("error", "/nonexistent/poses.npz: no such file")]
    with pytest.raises(InputError, match="mark pose A and B"):
        app.play_interpolation()


def test_app_works_with_other_models(body, tmp_path):
    pytest.importorskip("viser", reason="the viewer extra (viser) is not installed")
    from vposer.viewer import ViewerApp

    for model in (small_model("v1"), small_model("v2", latent_dim=8)):
        with ViewerApp(model, body, port=0, output_dir=tmp_path) as viewer:
            assert len(viewer.controls.latents) == model.latent_dim
            viewer.sample(seed=0)
            viewer.set_latent(model.latent_dim - 1, 1.0)
            assert viewer.current_pose.shape == (63,)


def test_missing_viser_is_a_clear_error(monkeypatch):
    from vposer.errors import VPoserError
    from vposer.viewer.app import display_url, import_viser

    monkeypatch.setitem(sys.modules, "viser", None)  # import fails as if not installed
    with pytest.raises(VPoserError, match=r"pip install 'vposer\[viewer\]'"):
        import_viser()
    assert display_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert display_url("::1", 80) == "http://[::1]:80"


def test_cli_view_is_registered():
    from vposer.cli import build_parser

    args = build_parser().parse_args(["view", "--port", "0", "--bodies", "2"])
    assert args.host == "127.0.0.1" and args.port == 0 and args.bodies == 2 and args.body == "open"


# -- end to end, in a browser -----------------------------------------------------------------
def _need_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    for module in ("playwright", "viser"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module}")
    if missing:
        reason = "end-to-end viewer test needs " + ", ".join(missing)
        if os.environ.get("VPOSER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"VPOSER_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


class ViewerProcess:
    """``python -m vposer view`` in a subprocess; :attr:`url` once it prints it."""

    def __init__(self, args: list[str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "vposer", "view", *args], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"})
        self.lines: list[str] = []
        self.url_ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.search(r"running at (http://\S+)", line)
            if found:
                self.url = found.group(1)
                self.url_ready.set()

    def interrupt(self, timeout: float = 20.0) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_for(predicate, timeout: float, what: str, fail: bool = True):
    """``predicate()``'s first truthy value, polled until ``timeout`` seconds have passed; then
    an AssertionError naming ``what`` (or the last value when ``fail`` is False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not value and fail:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")
    return value


def test_end_to_end_in_headless_chromium(tmp_path):
    _need_browser()
    from playwright.sync_api import sync_playwright

    model_path = vposer.save_model(small_model(seed=1), tmp_path / "model.safetensors")
    out = tmp_path / "out"
    viewer = ViewerProcess(["--model", str(model_path), "--port", "0", "--output-dir", str(out)], tmp_path)
    try:
        assert viewer.url_ready.wait(DEADLINE), "viewer did not start:\n" + "".join(viewer.lines)
        assert viewer.url.startswith("http://127.0.0.1:")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
                page.set_default_timeout(DEADLINE * 1000)
                page.goto(viewer.url)
                button = lambda label: page.get_by_role("button", name=label, exact=True)  # noqa: E731
                button("Sample").wait_for()
                # toasts (software WebGL warning, download links) play no part here and cost frames
                page.add_style_tag(content=".mantine-Notifications-root { display: none !important; }")

                # the main controls fit the window as it opens: sampling, export, the first sliders
                label = page.locator("label").filter(has_text=re.compile(r"^z0$"))
                root = page.locator(f'[id="{label.get_attribute("for")}"]')
                track = root.locator(".mantine-Slider-track")
                for name, widget in [("Sample", button("Sample")), ("Export pose", button("Export pose")),
                                     ("Screenshot", button("Screenshot")), ("slider z0", track)]:
                    box = widget.bounding_box()
                    assert box and 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT[1], (name, box)

                exported = []

                def export_until(done, what: str) -> dict:
                    """Click 'Export pose' until the file shows ``done`` (GUI callbacks run
                    concurrently on the server, so an export may overtake the edit before it)."""
                    for _ in range(20):
                        press(button("Export pose"))
                        path = out / f"vposer_pose_{len(exported) + 1:03d}.npz"
                        wait_for(path.exists, DEADLINE, path.name)
                        with np.load(path) as data:
                            exported.append({key: data[key] for key in data.files})
                        if done(exported[-1]):
                            return exported[-1]
                    raise AssertionError(f"the exported pose never showed {what}")

                first = export_until(lambda d: True, "anything")
                assert first["pose_body"].shape == (1, 63) and first["z"].shape == (1, 32)
                assert not first["z"].any()  # the viewer starts at z = 0
                press(button("Sample"))
                sampled = export_until(lambda d: d["z"].any(), "a sampled code")
                expected = small_model(seed=1).sample_latent(1, seed=0)
                np.testing.assert_array_equal(sampled["z"], expected.numpy())  # exact: not rounded by a slider
                assert np.abs(sampled["pose_body"] - first["pose_body"]).max() > 1e-2

                # click latent slider z0 at 3/4 of its track: about -4 + 0.75 * 8 = 2
                thumb = root.locator("[role=slider]")

                def slider_at_two() -> float:
                    value = float(thumb.get_attribute("aria-valuenow"))
                    return value if abs(value - 2) < 0.25 else 0.0

                def click_track() -> None:
                    box = settled_box(track)
                    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + box["height"] / 2)

                until(click_track, slider_at_two, "the slider to move")
                shown = slider_at_two()
                assert abs(shown - 2.0) < 0.25, shown
                moved = export_until(lambda d: abs(d["z"][0, 0] - shown) < 1e-4, f"z0 = {shown}")
                np.testing.assert_array_equal(moved["z"][0, 1:], sampled["z"][0, 1:])
                assert np.abs(moved["pose_body"] - sampled["pose_body"]).max() > 1e-3

                # the canvas shows a body
                page.mouse.move(5, VIEWPORT[1] - 5)
                shot = tmp_path / "viewer.png"
                wait_for(lambda: page.screenshot(path=str(shot)) and body_fraction(shot) > 0.01, DEADLINE,
                         "a body in the 3D view")
                if os.environ.get("VPOSER_VIEWER_SNAPSHOT"):
                    shutil.copy(shot, os.environ["VPOSER_VIEWER_SNAPSHOT"])
                # those pixels are the mesh: hiding it empties the view
                mesh = page.get_by_label("Mesh", exact=True)
                until(lambda: press(page.get_by_text("Bodies and display", exact=True)),
                      lambda: mesh.is_visible(), "the display folder to open")
                until(lambda: press(mesh), lambda: not mesh.is_checked(), "the Mesh box to clear")
                wait_for(lambda: page.screenshot(path=str(shot)) and body_fraction(shot) < 0.001, DEADLINE,
                         "the body to disappear")
            finally:
                browser.close()
        assert viewer.interrupt(DEADLINE) == 0, "".join(viewer.lines)
        assert "vposer viewer stopped" in "".join(viewer.lines)
    finally:
        viewer.kill()


def until(action, done, what: str) -> None:
    """Do ``action`` until ``done()`` holds: a click the page lost (it landed while a panel was
    still moving, seconds per frame with software WebGL) is repeated, up to :data:`DEADLINE`."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        action()
        if wait_for(done, 20, what, fail=False):
            return
    raise AssertionError(f"timed out after {DEADLINE} s waiting for {what}")


def settled_box(locator) -> dict:
    """The widget's bounding box once it stands still (scrolled into view first): the same box
    over half a second of polls, so that a slow animation frame is not taken for rest."""
    locator.evaluate("e => e.scrollIntoView({block: 'center', behavior: 'instant'})")
    boxes = [locator.bounding_box()]

    def settled() -> bool:
        boxes.append(locator.bounding_box())
        return boxes[-1] is not None and len(boxes) >= 6 and all(b == boxes[-1] for b in boxes[-6:])

    wait_for(settled, DEADLINE, "the widget to settle")
    return boxes[-1]


def press(locator) -> None:
    """Scroll to a widget and click it once it stands still. Playwright's own click waits for two
    equal animation frames, which take seconds each with software WebGL; a forced click without
    this wait could land while the panel still scrolls."""
    settled_box(locator)
    locator.click(force=True)


def body_fraction(path: Path) -> float:
    """Share of body-coloured pixels around the body in a screenshot of the viewer."""
    import imageio.v3 as iio

    image = iio.imread(path)[..., :3].astype(int)
    h, w = image.shape[:2]
    view = image[int(0.15 * h):int(0.95 * h), int(0.2 * w):int(0.65 * w)]  # around the body, clear of
    # the panel (right) and the axes (bottom left)
    r, b = view[..., 0], view[..., 2]
    # the body is grey-blue (b > r), the background and floor grid grey or white
    body = (b - r > 8) & (view.sum(-1) < 3 * 235) & (view.sum(-1) > 3 * 60)
    return float(body.mean())
