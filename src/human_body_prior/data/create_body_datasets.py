"""``human_body_prior.data.create_body_datasets`` (2018): ``create_dataset_records_V2`` writes
``<out_dir>/<split>/data_{pose,betas,trans,gender}.pt`` as :func:`~human_body_prior.data.
prepare_data.dump_amass2pytroch` does; ``create_dataset_records_V1`` read per-dataset pytables
``.h5`` exports of an unpublished 2018 AMASS and is not provided."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from .._refused import refused
from .prepare_data import _dump_takes, remove_Zrot

__all__ = ["create_dataset_records_V1", "create_dataset_records_V2", "remove_Zrot"]

create_dataset_records_V1 = refused(
    "human_body_prior.data.create_body_datasets.create_dataset_records_V1",
    "it read the per-dataset pytables .h5 files of an unpublished 2018 AMASS export; use "
    "create_dataset_records_V2 (AMASS .npz takes) or 'vposer prepare'")


def create_dataset_records_V2(datasets: Sequence[str], amass_dir: str, out_dir: str,  # noqa: N802
                              split_name: str, logger: Callable | None = None,
                              rnd_seed: int = 100) -> None:
    """A random 24 % of the middle 80 % of each take's frames, seeded."""
    _dump_takes(datasets, amass_dir, out_dir, split_name, logger, rnd_seed, prefix="data_")
