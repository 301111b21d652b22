"""``human_body_prior.tools.rotation_tools_pt``: the v2 line's ``local2global_pose``."""
from .rotation_tools import local2global_pose

__all__ = ["local2global_pose"]
