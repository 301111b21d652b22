"""Joint-name mapping tables: which source joint drives each of SMPL's 22 joints.

A source joint "drives" SMPL joint ``j`` when its *global* rotation turns the same bone (in BVH
and ASF a joint's rotation turns the bone from it to its child). Where the source splits one SMPL
bone in two (CMU's lower and upper neck, wrist and hand), the lower joint is listed as the driver
of the composition, i.e. the one whose global frame includes both rotations.

Profiles (name matching ignores case, ``_``, ``-``, spaces, ``:`` and a ``mixamorig`` prefix):

- ``smpl``: SMPL's own names (``L_Hip`` ... or ``left_hip`` ...), e.g. files written from SMPL;
- ``cmu``: the CMU-MotionBuilder BVH naming (``Hips, LHipJoint, LeftUpLeg, LeftLeg, LeftFoot,
  LeftToeBase, LowerBack, Spine, Spine1, Neck, Neck1, Head, LeftShoulder, LeftArm, LeftForeArm,
  LeftHand``, ...);
- ``mixamo``: ``Hips, Spine, Spine1, Spine2, Neck, Head, LeftShoulder, LeftArm, ...``;
- ``cmu-expmap``: the positional names of ``skeleton.json`` in the CMU exponential-map data;
- ``cmu-asf``: the bone names of CMU's ASF skeletons (``root, lhipjoint, lfemur, ltibia, lfoot,
  ltoes, lowerback, upperback, thorax, lowerneck, upperneck, head, lclavicle, lhumerus, lradius,
  lwrist, lhand``, ...), which many labs reuse; an ASF joint is named after the bone it turns;
- ``daz``: CMU's "DAZ-friendly" BVH conversion (``hip, abdomen, chest, neck, head, lCollar,
  lShldr, lForeArm, lHand, lButtock, lThigh, lShin, lFoot``); it has two spine joints for SMPL's
  three: Spine1 stays at rest, abdomen drives Spine2 and chest Spine3 (the segments they turn);
- ``deepmimic``: DeepMimic's humanoid (``root, chest, neck, right_hip, right_knee, right_ankle,
  right_shoulder, right_elbow, right_wrist``, left likewise); it has no spine split, collars,
  wrists, toes or head rotation: chest drives Spine3 (the thorax), and Spine1, Spine2, the
  collars, Head, the feet and the wrists stay at rest.

A SMPL joint listed with the same driver as its parent stays at rest (its local rotation is the
identity; :class:`~vposer.data.retarget.Retargeter`).

A user mapping is a JSON object ``{"L_Hip": "thigh_l", ...}`` with all 22 SMPL names.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from collections.abc import Sequence

from ..errors import InputError, reads_file
from .skeleton import SMPL_JOINTS

__all__ = ["PROFILES", "resolve_mapping", "normalise_name", "load_mapping_file"]


def _sides(table: dict[str, Sequence[str]]) -> dict[str, list[str]]:
    """Expand ``{'L_Hip': ['Left{}UpLeg']}``-style side templates: ``{L}``/``{R}`` placeholders."""
    out = {}
    for joint, names in table.items():
        if joint.startswith("X_"):
            for side, short, long in (("L", "L", "Left"), ("R", "R", "Right")):
                out[f"{side}_{joint[2:]}"] = [n.format(S=short, Side=long, s=short.lower(),
                                                       side=long.lower()) for n in names]
        else:
            out[joint] = list(names)
    return out


PROFILES: dict[str, dict[str, list[str]]] = {
    "smpl": _sides({
        "pelvis": ["pelvis"], "Spine1": ["Spine1", "spine1"],
        "Spine2": ["Spine2", "spine2"], "Spine3": ["Spine3", "spine3"], "Neck": ["Neck", "neck"],
        "Head": ["Head", "head"], "X_Hip": ["{S}_Hip", "{side}_hip"],
        "X_Knee": ["{S}_Knee", "{side}_knee"], "X_Ankle": ["{S}_Ankle", "{side}_ankle"],
        "X_Foot": ["{S}_Foot", "{side}_foot"], "X_Collar": ["{S}_Collar", "{side}_collar"],
        "X_Shoulder": ["{S}_Shoulder", "{side}_shoulder"], "X_Elbow": ["{S}_Elbow", "{side}_elbow"],
        "X_Wrist": ["{S}_Wrist", "{side}_wrist"],
    }),
    "cmu": _sides({
        "pelvis": ["Hips"], "Spine1": ["LowerBack"], "Spine2": ["Spine"], "Spine3": ["Spine1"],
        "Neck": ["Neck1", "Neck"], "Head": ["Head"], "X_Hip": ["{Side}UpLeg"],
        "X_Knee": ["{Side}Leg"], "X_Ankle": ["{Side}Foot"], "X_Foot": ["{Side}ToeBase"],
        "X_Collar": ["{Side}Shoulder"], "X_Shoulder": ["{Side}Arm"],
        "X_Elbow": ["{Side}ForeArm"], "X_Wrist": ["{Side}Hand"],
    }),
    "mixamo": _sides({
        "pelvis": ["Hips"], "Spine1": ["Spine"], "Spine2": ["Spine1"], "Spine3": ["Spine2"],
        "Neck": ["Neck"], "Head": ["Head"], "X_Hip": ["{Side}UpLeg"], "X_Knee": ["{Side}Leg"],
        "X_Ankle": ["{Side}Foot"], "X_Foot": ["{Side}ToeBase", "{Side}Toe"],
        "X_Collar": ["{Side}Shoulder"], "X_Shoulder": ["{Side}Arm"],
        "X_Elbow": ["{Side}ForeArm"], "X_Wrist": ["{Side}Hand"],
    }),
    "cmu-expmap": _sides({
        "pelvis": ["root"], "Spine1": ["root_to_spine"], "Spine2": ["spine"], "Spine3": ["chest"],
        "Neck": ["neck"], "Head": ["head"], "X_Hip": ["{s}hip"], "X_Knee": ["{s}knee"],
        "X_Ankle": ["{s}ankle"], "X_Foot": ["{s}toe"], "X_Collar": ["chest_to_{s}clavicle"],
        "X_Shoulder": ["{s}shoulder"], "X_Elbow": ["{s}elbow"], "X_Wrist": ["{s}wrist_to_hand"],
    }),
    "cmu-asf": _sides({
        "pelvis": ["root"], "Spine1": ["lowerback"], "Spine2": ["upperback"],
        "Spine3": ["thorax"], "Neck": ["upperneck", "lowerneck", "neck"], "Head": ["head"],
        "X_Hip": ["{s}femur"], "X_Knee": ["{s}tibia"], "X_Ankle": ["{s}foot"],
        "X_Foot": ["{s}toes", "{s}foot"], "X_Collar": ["{s}clavicle"],
        "X_Shoulder": ["{s}humerus"], "X_Elbow": ["{s}radius"], "X_Wrist": ["{s}hand", "{s}wrist"],
    }),
    "daz": _sides({
        "pelvis": ["hip"], "Spine1": ["hip"], "Spine2": ["abdomen"], "Spine3": ["chest"],
        "Neck": ["neck"], "Head": ["head"], "X_Hip": ["{s}Thigh"], "X_Knee": ["{s}Shin"],
        "X_Ankle": ["{s}Foot"], "X_Foot": ["{s}Toe", "{s}Foot"], "X_Collar": ["{s}Collar"],
        "X_Shoulder": ["{s}Shldr"], "X_Elbow": ["{s}ForeArm"], "X_Wrist": ["{s}Hand"],
    }),
    "deepmimic": _sides({
        "pelvis": ["root"], "Spine1": ["root"], "Spine2": ["root"], "Spine3": ["chest"],
        "Neck": ["neck"], "Head": ["neck"], "X_Hip": ["{side}_hip"], "X_Knee": ["{side}_knee"],
        "X_Ankle": ["{side}_ankle"], "X_Foot": ["{side}_ankle"], "X_Collar": ["chest"],
        "X_Shoulder": ["{side}_shoulder"], "X_Elbow": ["{side}_elbow"],
        "X_Wrist": ["{side}_wrist", "{side}_elbow"],
    }),
}


def normalise_name(name: str) -> str:
    """Lower case without ``_ - : space`` and without a ``mixamorig`` prefix."""
    name = re.sub(r"^mixamorig\d*[:_]?", "", name.strip(), flags=re.IGNORECASE)
    return re.sub(r"[_\-:\s]", "", name).lower()


def _match(profile: dict[str, list[str]], names: Sequence[str]) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for i, name in enumerate(names):
        lookup.setdefault(normalise_name(name), i)
    found = {}
    for joint, candidates in profile.items():
        for cand in candidates:
            if normalise_name(cand) in lookup:
                found[joint] = lookup[normalise_name(cand)]
                break
    return found


def resolve_mapping(names: Sequence[str], mapping: dict[str, str] | None = None,
                    profile: str | None = None, where: str = "") -> tuple[list[int], str]:
    """Source joint index for each of SMPL's 22 joints.

    Args:
        names: the source joint names.
        mapping: an explicit ``{SMPL name: source name}`` (all 22); overrides profiles.
        profile: force one profile of :data:`PROFILES`; default: the one matching most joints.
        where: the file, for error messages.

    Returns:
        ``(indices, profile_name)`` with ``indices[j]`` the source joint driving SMPL joint ``j``.

    Raises:
        InputError: some SMPL joints have no source joint.
    """
    if mapping is not None:
        chosen, label = {k: [v] for k, v in mapping.items()}, "user"
        found = _match(chosen, names)
    else:
        candidates = [profile] if profile else list(PROFILES)
        scored = [(len(_match(PROFILES[p], names)), -k, p) for k, p in enumerate(candidates)]
        _, _, label = max(scored)
        found = _match(PROFILES[label], names)
    missing = [j for j in SMPL_JOINTS if j not in found]
    if missing:
        raise InputError(
            f"no source joint for SMPL joint(s) {', '.join(missing)} with the '{label}' naming "
            f"(source joints: {', '.join(names)}); pass a mapping file", where or None)
    return [found[j] for j in SMPL_JOINTS], label


@reads_file
def load_mapping_file(path: str) -> dict[str, str]:
    """A user mapping JSON ``{SMPL joint name: source joint name}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise InputError(f"unreadable mapping file: {exc}", path) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InputError("expected a JSON object {SMPL joint name: source joint name}", path)
    unknown = sorted(set(data) - set(SMPL_JOINTS))
    if unknown:
        raise InputError(f"unknown SMPL joint names {unknown}; use {list(SMPL_JOINTS)}", path)
    return data
