"""Whole regions: batch segmentation on dask.distributed, resumable.

``plan`` cuts a grid into tiles with margins aligned to the model's tiles, ``sources`` reads a
tile's pixels (file windows or an Earth Engine composite per tile), ``worker`` predicts one
tile and writes it atomically with a sidecar, ``store`` verifies finished tiles for resuming,
``mosaic`` assembles the COG mosaic and the statistics table, and ``run`` orchestrates them on a
LocalCluster or any dask scheduler.
"""

from .plan import BatchTile, Grid, plan_batch
from .run import BatchError, BatchInput, BatchResult, aoi_input, file_input, run_batch

__all__ = ["BatchError", "BatchInput", "BatchResult", "BatchTile", "Grid", "aoi_input",
           "file_input", "plan_batch", "run_batch"]
