"""``human_body_prior.mesh.mesh_viewer``: ``MeshViewer`` wrapped pyrender; not provided."""
from .._refused import DISPLAY, refused

__all__ = ["MeshViewer"]

MeshViewer = refused("human_body_prior.mesh.mesh_viewer.MeshViewer", DISPLAY)
