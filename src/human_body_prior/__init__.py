"""Compatibility layer: the names and signatures of the original ``human_body_prior`` package,
implemented as thin wrappers over :mod:`vposer`. Migrating code changes only its install line.

Nothing here imports or executes code found in a model directory.
"""
