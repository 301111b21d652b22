"""Training data: AMASS preparation and motion-capture import with retargeting to SMPL.

::

    from vposer.data import load_prepared, prepare_amass, import_mocap
    prepare_amass("AMASS", "prepared", recipe="v2", target_fps=30)   # or `vposer prepare`
    import_mocap("../shared/data/cmu", "cmu_prepared")                # or `vposer import-mocap`
    train = load_prepared("prepared", "train")     # memory-mapped
    train.pose_body[:128]                          # (128, 63) float32 axis-angle
    train.trace(0)                                 # (source file or take key, frame index)

Modules: :mod:`.prepared` (the on-disk format), :mod:`.amass` (layout, aliases, split recipes),
:mod:`.pipeline` (``vposer prepare``), :mod:`.select` (subsampling, de-duplication),
:mod:`.skeleton` (FK, SMPL rest skeleton), :mod:`.retarget`, :mod:`.mapping` (joint names),
:mod:`.cmu`, :mod:`.bvh`, :mod:`.quality`, :mod:`.mocap` (``vposer import-mocap``),
:mod:`.summaries` (what ``prepare_amass`` and ``import_mocap`` return and write).
Exports are imported lazily, so worker processes stay light.
"""
from __future__ import annotations

from .._lazy import lazy_exports


_EXPORTS = {
    "PreparedSplit": "vposer.data.prepared",
    "load_prepared": "vposer.data.prepared",
    "prepare_amass": "vposer.data.pipeline",
    "import_mocap": "vposer.data.mocap",
    "PrepareSummary": "vposer.data.summaries",
    "ImportSummary": "vposer.data.summaries",
    "Skeleton": "vposer.data.skeleton",
    "body_skeleton": "vposer.data.skeleton",
    "forward_kinematics": "vposer.data.skeleton",
    "Retargeter": "vposer.data.retarget",
    "read_bvh": "vposer.data.bvh",
    "write_bvh": "vposer.data.bvh",
    "load_cmu": "vposer.data.cmu",
    "load_recipe": "vposer.data.amass",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
