"""Compatibility layer: the module paths, names and signatures of the original
``human_body_prior`` package (its cvpr19 line and its 2021 v2 line), implemented as thin
wrappers over :mod:`vposer`. Migrating code changes only its install line.

Nothing here imports or executes code found in a model directory. The few names that only
wrapped display packages (psbody-mesh and pyrender viewers) or the 2020 training loops import
fine and raise :class:`human_body_prior._refused.NotProvidedError` naming the replacement; the
README's table lists every module and name.
"""
