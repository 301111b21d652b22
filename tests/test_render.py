"""Rendering: real OpenGL renders (headless EGL/llvmpipe in CI) checked pixel by pixel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vposer.errors import VPoserError
from vposer.render import geometry, io
from vposer.render.toy import capsule, toy_bodies

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def bodies():
    return toy_bodies(3, seed=0)


def body_mask(cell: np.ndarray, tol: int = 12) -> np.ndarray:
    """Pixels that differ from a white background."""
    return (255 - cell[..., :3].astype(int)).max(-1) > tol


# ---------------------------------------------------------------- geometry (no OpenGL)


def test_vertex_normals_are_radial_on_a_capsule():
    v, f = capsule(0.2, 0.0, segments=48, rings=16)  # a sphere
    n = geometry.vertex_normals(v[None], f)[0]
    radial = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert np.abs((n * radial).sum(1)).min() > 0.995
    assert (n * radial).sum(1).min() > 0  # outward, not inward


def test_outward_faces_fixes_clockwise_meshes():
    v, f = capsule(0.2, 0.3)
    flipped = f[:, ::-1]
    assert np.array_equal(geometry.outward_faces(v[None], flipped), f)
    assert np.array_equal(geometry.outward_faces(v[None], f), f)


def test_placements_ground_and_centre_every_view(bodies):
    v, _ = bodies
    v = v + np.array([[[0.3, 1.5, -0.2]], [[0.0, -2.0, 0.0]], [[-1.0, 0.0, 4.0]]], dtype=np.float32)
    m = geometry.placements(v, [0, 90, -90, 33])
    placed = geometry.transform(v[:, None].astype(np.float64), m)  # (N, A, V, 3)
    np.testing.assert_allclose(placed[..., 1].min(-1), 0.0, atol=1e-5)
    for k in (0, 2):
        np.testing.assert_allclose(placed[..., k].min(-1) + placed[..., k].max(-1), 0.0, atol=1e-5)
    # rotation about y by +90 degrees takes the front (+z) to +x
    np.testing.assert_allclose(geometry.rotation_y(90.0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)


def test_frame_camera_keeps_every_point_inside_the_margin():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(500, 3)) * [0.8, 0.5, 0.3] + [0, 0.9, 0]
    for aspect, elev in ((1.0, 10.0), (1.6, 0.0), (0.5, 30.0)):
        cam = geometry.frame_camera(pts, aspect=aspect, yfov_deg=30, elevation_deg=elev, margin=0.1)
        w, h = 200 * aspect, 200
        px = cam.project(pts, w, h)
        assert (px[:, 0] >= 0.05 * w - 1e-6).all() and (px[:, 0] <= 0.95 * w + 1e-6).all()
        assert (px[:, 1] >= 0.05 * h - 1e-6).all() and (px[:, 1] <= 0.95 * h + 1e-6).all()
        # tight: some point touches the margin
        edge = np.minimum.reduce([px[:, 0] / w, 1 - px[:, 0] / w, px[:, 1] / h, 1 - px[:, 1] / h])
        assert edge.min() == pytest.approx(0.05, abs=1e-6)


def test_colour_specifications():
    n, v = 2, 5
    assert geometry.vertex_colors(None, n, v).shape == (n, v, 3)
    pal = geometry.vertex_colors("palette", n, v)
    assert not np.allclose(pal[0], pal[1])
    np.testing.assert_allclose(geometry.vertex_colors([255, 128, 0], n, v)[1, 3], [1, 128 / 255, 0], rtol=1e-6)
    np.testing.assert_allclose(geometry.vertex_colors(np.array([0, 255, 0], np.uint8), n, v)[0, 0], [0, 1, 0])
    np.testing.assert_allclose(geometry.vertex_colors([1.5, 0.5, -1.0], n, v)[0, 0], [1, 0.5, 0])  # clipped
    per_vertex = np.random.default_rng(0).uniform(size=(v, 3))
    np.testing.assert_allclose(geometry.vertex_colors(per_vertex, n, v)[1], per_vertex, rtol=1e-6)
    with pytest.raises(VPoserError):
        geometry.vertex_colors(np.zeros((3, 3)), n, v)
    with pytest.raises(VPoserError):
        geometry.vertex_colors("rainbow", n, v)


def test_bad_meshes_raise():
    v, f = capsule(0.1, 0.1)
    with pytest.raises(VPoserError, match="vertices"):
        geometry.as_mesh_batch(v[:, :2], f)
    with pytest.raises(VPoserError, match="faces"):
        geometry.as_mesh_batch(v, f + v.shape[0])
    bad = v.copy()
    bad[0, 0] = np.nan
    with pytest.raises(VPoserError, match="NaN"):
        geometry.as_mesh_batch(bad, f)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.png"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VPoserError):
        io.save_gif(np.zeros((2, 4, 4, 3)), tmp_path / "x.gif")  # float frames
    assert list(tmp_path.iterdir()) == []


def test_writers_refuse_what_they_cannot_store(tmp_path):
    """A non-positive frame rate, an OSError of the format (named, as OutputError), and RGBA
    saved as JPEG (flattened onto white, not refused)."""
    from vposer.errors import OutputError

    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(VPoserError, match="frame rate"):
        io.save_mp4(frames, tmp_path / "x.mp4", fps=-5)
    with pytest.raises(OutputError, match="x.png: cannot write"):
        with io.atomic_path(tmp_path / "x.png"):
            raise OSError(28, "No space left on device")
    Image = pytest.importorskip("PIL.Image", reason="images need Pillow (the render extra)")
    rgba = np.zeros((8, 8, 4), np.uint8)
    io.save_image(rgba, tmp_path / "clear.jpg")

    assert np.asarray(Image.open(tmp_path / "clear.jpg")).min() > 240  # transparent -> white
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clear.jpg"]


# ---------------------------------------------------------------- real renders


@pytest.mark.render
def test_grid_cells_hold_whole_bodies_on_background(gl, bodies):
    from vposer.render import render_grid

    v, f = bodies
    size = 128
    img = render_grid(v, f, angles=(0, 90, -90), cell_size=size, floor=False, progress=False)
    assert img.shape == (3 * size, 3 * size, 3) and img.dtype == np.uint8
    cells = img.reshape(3, size, 3, size, 3).transpose(0, 2, 1, 3, 4)
    for r in range(3):
        for c in range(3):
            mask = body_mask(cells[r, c])
            assert 0.03 < mask.mean() < 0.5, (r, c, mask.mean())
            border = np.concatenate([mask[:2].ravel(), mask[-2:].ravel(), mask[:, :2].ravel(), mask[:, -2:].ravel()])
            assert not border.any(), f"body clipped in cell {(r, c)}"
            assert (cells[r, c][~mask] >= 250).all()  # background is white
    # views differ, and samples differ
    for c in range(3):
        assert np.abs(cells[0, c].astype(int) - cells[1, c]).mean() > 3
        assert np.abs(cells[1, c].astype(int) - cells[2, c]).mean() > 3
    assert np.abs(cells[0, 0].astype(int) - cells[0, 1]).mean() > 3


@pytest.mark.render
def test_same_input_same_image_and_grounding_invariance(gl, bodies):
    from vposer.render import render_grid

    v, f = bodies
    a = render_grid(v, f, angles=(0, 90), cell_size=96, progress=False)
    b = render_grid(v, f, angles=(0, 90), cell_size=96, progress=False)
    assert np.array_equal(a, b)
    # each body is put on the floor and centred: moving bodies around changes nothing
    moved = v + np.array([[[0.0, 0.7, 0.0]], [[0.4, -1.3, 0.2]], [[-2.0, 0.1, 3.0]]], dtype=np.float32)
    c = render_grid(moved, f, angles=(0, 90), cell_size=96, progress=False)
    assert np.abs(a.astype(int) - c).max() <= 2


@pytest.mark.render
def test_framing_is_shared_and_tight(gl, bodies):
    from vposer.render import Renderer

    v, f = bodies
    r = Renderer(128)
    cells = r.render_meshes(np.concatenate([v[:1], v[:1] * 0.5]), f, [0], floor=False, progress=False)
    big, small = body_mask(cells[0, 0]), body_mask(cells[1, 0])
    rows_big, rows_small = np.nonzero(big.any(1))[0], np.nonzero(small.any(1))[0]
    height_big, height_small = np.ptp(rows_big), np.ptp(rows_small)
    assert height_big > 0.75 * 128  # the tallest body fills the frame
    assert 0.4 < height_small / height_big < 0.6  # same camera: half the size
    assert abs(rows_big.max() - rows_small.max()) <= 6  # both stand on the same floor line


@pytest.mark.render
def test_floor_shadow_and_transparency(gl, bodies):
    from vposer.render import Renderer

    v, f = bodies
    r = Renderer(128)
    plain = r.render_mesh(v[0], f, floor=False)
    with_floor = r.render_mesh(v[0], f, floor=True)
    no_shadow = r.render_mesh(v[0], f, floor=True, shadow=False)
    red = r.render_mesh(v[0], f, floor=True, shadow=False, colors=(1.0, 0.0, 0.0)).astype(int)
    body = (red[..., 0] - red[..., 1]) > 20  # framed as with a floor: the (red) body, and its
    body = body | np.roll(body, 1, 0) | np.roll(body, -1, 0) | np.roll(body, 1, 1) | np.roll(body, -1, 1)
    ground = ~body  # edge pixels
    shade = 255 - with_floor[..., :3].astype(int).mean(-1)
    assert (shade[ground] > 40).sum() > 30  # a shadow on the floor
    assert (255 - no_shadow[..., :3].astype(int).mean(-1))[ground].max() < 40  # floor alone is light
    rgba = r.render_mesh(v[0], f, background="transparent", floor=False)
    assert rgba.shape == (128, 128, 4)
    mask = body_mask(plain)
    assert (rgba[..., 3][~mask] == 0).mean() > 0.99 and (rgba[..., 3][mask] > 0).all()
    shadow_alpha = r.render_mesh(v[0], f, background="transparent", floor=True)[..., 3]
    assert ((shadow_alpha > 30) & ground).sum() > 30  # the shadow is caught on transparent output


@pytest.mark.render
def test_colours_per_sample(gl, bodies):
    from vposer.render import Renderer

    v, f = bodies
    cells = Renderer(96).render_meshes(v[:2], f, [0], colors=[[0.9, 0.1, 0.1], [0.1, 0.2, 0.9]], floor=False)
    m0, m1 = body_mask(cells[0, 0]), body_mask(cells[1, 0])
    red, blue = cells[0, 0][m0].mean(0), cells[1, 0][m1].mean(0)
    assert red[0] > red[2] + 60 and blue[2] > blue[0] + 60


@pytest.mark.render
def test_gif_mp4_strip(gl, bodies, tmp_path):
    from PIL import Image

    from vposer.render import frame_strip, render_animation, save_gif, save_mp4

    v, f = bodies
    t = np.linspace(0, 1, 7)[:, None, None]
    seq = ((1 - t) * v[0] + t * v[1]).astype(np.float32)  # (7, V, 3)
    frames = render_animation(seq, f, size=64, progress=False)
    assert frames.shape == (7, 64, 64, 3)
    gif = save_gif(frames, tmp_path / "anim.gif", duration_ms=80)
    with Image.open(gif) as im:
        assert im.n_frames == 7 and im.info.get("loop") == 0
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations == [80] * 7
    import imageio.v2 as imageio

    mp4 = save_mp4(frames, tmp_path / "anim.mp4", fps=10)
    reader = imageio.get_reader(mp4, format="FFMPEG")
    try:
        assert reader.get_meta_data()["fps"] == pytest.approx(10.0)
        back = np.stack([frame for frame in reader.iter_data()])
    finally:
        reader.close()
    assert back.shape == (7, 64, 64, 3)
    assert np.abs(back.astype(int) - frames).mean() < 6  # the same pictures, up to compression
    strip = frame_strip(frames, 3)
    assert strip.shape == (64, 192, 3)
    assert np.array_equal(strip[:, 64:128], frames[3]) and np.array_equal(strip[:, 128:], frames[6])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anim.gif", "anim.mp4"]  # no temp files


def test_export_meshes_read_back(bodies, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    from vposer.render import export_meshes

    v, f = bodies
    (one,) = export_meshes(v[0], f, tmp_path / "one.ply")
    mesh = trimesh.load(one, process=False)
    np.testing.assert_allclose(mesh.vertices, v[0], atol=1e-6)
    assert np.array_equal(mesh.faces, f)
    (glb,) = export_meshes(v, f, tmp_path / "all.glb", colors="palette")
    scene = trimesh.load(glb)
    assert len(scene.geometry) == 3
    assert sum(g.vertices.shape[0] for g in scene.geometry.values()) == 3 * v.shape[1]
    (obj,) = export_meshes(v[:2], f, tmp_path / "two.obj", spacing=1.0)
    merged = trimesh.load(obj, process=False, force="mesh")
    assert merged.bounds[1, 0] - merged.bounds[0, 0] > 1.0
    plys = export_meshes(v[:2], f, tmp_path / "each.ply")
    assert [p.name for p in plys] == ["each_000.ply", "each_001.ply"]
    with pytest.raises(VPoserError, match="format"):
        export_meshes(v[0], f, tmp_path / "x.fbx")


# ---------------------------------------------------------------- pipelines with stand-in models


class _Decoded:
    def __init__(self, aa):
        self.axis_angle = aa


class FakeModel:
    """Decodes a code to a pose whose first component is the code's first value."""

    latent_dim = 4

    def sample_latent(self, n, seed=None):
        import torch

        return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))

    def sample(self, n, seed=None, temperature=1.0):
        return self.decode(self.sample_latent(n, seed) * temperature)

    def decode(self, z):
        import torch

        aa = torch.zeros(z.shape[0], 21, 3)
        aa[:, 0, 0] = z[:, 0]
        return _Decoded(aa)

    def encode(self, poses):
        import torch

        z = torch.zeros(poses.shape[0], 4)
        z[:, 0] = poses.reshape(-1, 63)[:, 0]
        return torch.distributions.Normal(z, torch.ones_like(z))


class FakeBody:
    """Toy figures whose arms follow the pose's first value."""

    def __init__(self):
        self.v, self.f = toy_bodies(5, seed=3)

    def __call__(self, pose_body):
        import torch

        x = pose_body.reshape(-1, 63)[:, 0].numpy()
        idx = np.clip(np.rint(np.abs(x) * 2), 0, 4).astype(int)

        class Out:
            vertices = torch.as_tensor(self.v[idx])
            faces = torch.as_tensor(self.f.astype(np.int64))

        return Out()


@pytest.mark.render
def test_pose_grid_and_interpolation_with_stand_ins(gl, tmp_path):
    from vposer.render import interpolation_animation, load_pose, pose_grid, save_poses

    image, poses = pose_grid(FakeModel(), FakeBody(), n=4, seed=0, angles=(0, 90, -90), size=64, progress=False)
    assert image.shape == (192, 256, 3) and poses.shape == (4, 63) and poses.dtype == np.float32
    again, _ = pose_grid(FakeModel(), FakeBody(), n=4, seed=0, angles=(0, 90, -90), size=64, progress=False)
    assert np.array_equal(image, again)
    frames, pose, codes = interpolation_animation(
        FakeModel(), FakeBody(), seeds=(1, 2), steps=5, there_and_back=True, size=48, progress=False
    )
    assert frames.shape == (8, 48, 48, 3) and pose.shape == (8, 63) and codes.shape == (8, 4)
    np.testing.assert_allclose(codes[1], codes[-1], atol=1e-6)  # the way back mirrors the way out
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_poses(a, np.full((1, 63), 0.5, np.float32))
    np.savez(b, poses=np.full((3, 156), 1.0, np.float32))  # AMASS-style full poses
    np.testing.assert_allclose(load_pose(b), 1.0)
    _, pose, _ = interpolation_animation(
        FakeModel(), FakeBody(), poses=np.stack([load_pose(a), load_pose(b)]), steps=3, size=48, progress=False
    )
    np.testing.assert_allclose(pose[[0, -1], 0], [0.5, 1.0], atol=1e-6)


# ---------------------------------------------------------------- the CLI end to end


def _real_model_and_body():
    import vposer

    fixture = SHARED / "fixtures" / "vposer" / "V02_fixture"
    if not fixture.exists():
        pytest.skip(f"shared fixtures absent: {fixture}")
    try:
        vposer.load_model(fixture)
        vposer.load_body(None)
    except (ImportError, AttributeError, NotImplementedError) as exc:
        pytest.skip(f"load_model/load_body not available yet: {exc}")
    return fixture


@pytest.mark.render
def test_cli_render_and_interpolate(gl, tmp_path):
    from PIL import Image

    from vposer.cli import main

    fixture = _real_model_and_body()
    out = tmp_path / "grid.png"
    assert main(["render", "--model", str(fixture), "-n", "2", "--seed", "0", "--size", "64", "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (128, 192)
    with np.load(tmp_path / "grid.png.npz") as data:  # named after the whole image name
        assert data["pose"].shape == (2, 63) and data["pose"].dtype == np.float32
        np.testing.assert_array_equal(data["pose"], data["pose_body"])
    gif = tmp_path / "anim.gif"
    args = ["interpolate", "--model", str(fixture), "--seeds", "1", "2", "--steps", "4", "--there-and-back",
            "--size", "48", "-o", str(gif), "--mp4", str(tmp_path / "anim.mp4"), "--strip", str(tmp_path / "s.png"),
            "--strip-frames", "3"]
    assert main(args) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 6
    with Image.open(tmp_path / "s.png") as im:
        assert im.size == (144, 48)
    with np.load(tmp_path / "anim.gif.npz") as data:
        assert data["pose"].shape == (6, 63) and data["z"].shape[0] == 6
    assert main(["interpolate", "--model", str(fixture), "--seeds", "1", "2", "-o", str(tmp_path / "x.avi")]) == 1
