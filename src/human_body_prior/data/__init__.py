"""Compatibility layer (see :mod:`human_body_prior`)."""
