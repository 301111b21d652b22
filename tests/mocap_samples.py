"""Small motion-capture files shared by the tests and the fuzz seeds (fuzz/seeds.py)."""

# A small skeleton with every quirk: radians, length unit 0.5 (1 unit = 2 inches), a root order
# with rotations first, a root axis ZYX with an orientation, bones listed out of tree order, a
# bone axis ZXY, dof subsets in odd orders (with tx and l), multi-line limits, comments, docs.
ASF = """\
# a comment
:version 1.10
:name TEST
:units
  angle rad
  mass 1.0
  length 0.5
:documentation
  free text: begin end root 1 2 3
:root
   order RX RY RZ TX TY TZ
   axis ZYX
   position 1 2 3
   orientation 0.1 -0.2 0.3
:bonedata
  begin
     id 2
     name shin
     direction 0.6 -0.8 0
     length 5
     axis 0 0 0.2 XYZ
     dof ry rx rz tx l
  end
  begin
     id 1
     name thigh
     direction 0 -1 0
     length 4
     axis 0.3 -0.2 0.5 ZXY
     dof rz rx
     limits (-3.0 3.0)
            (-1.0 1.0)
  end
  begin
     name hipjoint
     direction 1 0 0
     length 1
     axis 0 0 0 XYZ
  end
  begin
     name spine
     direction 0 0.6 0.8
     length 3
     axis 0 0 0 XYZ
     dof rx ry rz
     limits (-inf inf) (-1 1)
            (-2 2)
  end
:hierarchy
  begin
    root hipjoint
    root spine
    hipjoint thigh
    thigh shin
  end
"""


def deepmimic_joint(jid: int, name: str, kind: str, parent: int, attach: tuple) -> dict:
    """One joint of a DeepMimic character file (no rotation of the attachment frame)."""
    return {"ID": jid, "Name": name, "Type": kind, "Parent": parent, "AttachX": attach[0],
            "AttachY": attach[1], "AttachZ": attach[2], "AttachThetaX": 0, "AttachThetaY": 0,
            "AttachThetaZ": 0, "LimLow0": -1, "LimHigh0": 1}


#: A DeepMimic character: root, a spherical spine, a revolute elbow-like joint and a fixed end;
#: a motion frame has 1 + 7 + 4 + 1 + 0 = 13 values (duration, root, spine, hinge, tip).
DEEPMIMIC_CHARACTER = {"Skeleton": {"Joints": [
    deepmimic_joint(0, "root", "none", -1, (0.0, 0.0, 0.0)),
    deepmimic_joint(1, "spine", "spherical", 0, (0.0, 0.3, 0.0)),
    deepmimic_joint(2, "hinge", "revolute", 1, (0.1, 0.2, 0.05)),
    deepmimic_joint(3, "tip", "fixed", 2, (0.0, -0.25, 0.1)),
]}}
