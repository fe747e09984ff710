"""Whole regions: batch segmentation on dask.distributed, resumable.

``inputs`` describes what to segment (files, or an AOI fetched from Earth Engine), ``plan``
cuts a grid into tiles with margins aligned to the model's tiles, ``sources`` reads a tile's
pixels (file windows or an Earth Engine composite per tile), ``worker`` predicts one tile and
writes it atomically with a sidecar, ``store`` verifies finished tiles for resuming,
``mosaic`` assembles the COG mosaic and the statistics table, ``cluster`` holds the dask
specifics (local cluster, scheduler connection, rate limit) and ``run`` orchestrates them.
"""

from ..errors import BatchError
from .cluster import local_cluster, thread_cluster
from .inputs import BatchInput, aoi_input, file_input
from .plan import BatchTile, Grid, plan_batch
from .run import BatchResult, run_batch

__all__ = ["BatchError", "BatchInput", "BatchResult", "BatchTile", "Grid", "aoi_input",
           "file_input", "local_cluster", "plan_batch", "run_batch", "thread_cluster"]
