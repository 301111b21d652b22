"""``human_body_prior.mesh``: ``sphere`` (geometry and point markers) is provided; the pyrender
viewer of ``mesh_viewer`` is not (see :mod:`human_body_prior._refused`): draw with :mod:`vposer.render`."""
