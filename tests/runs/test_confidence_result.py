"""The split confidence travels from the segmentation into the run result: the map layer, the
statistics CSV, the manifest and the two-band GeoTIFF download."""

import numpy as np
from rasterio.io import MemoryFile

from urbanseg_core.app.overlays import split_confidence as layer_of
from urbanseg_core.evaluation.areas import unsure_built_up
from urbanseg_core.inference.pipeline import segment_scene
from urbanseg_core.io.scene import Scene
from urbanseg_core.runs.result import build_result

from ..conftest import T, UTM33, textured_reflectance


def test_run_result_carries_the_layer_the_map_and_downloads_use(tiny_model):
    refl = textured_reflectance(96, 128)
    seg = segment_scene(Scene(refl, np.ones((96, 128), bool), UTM33, T), tiny_model)
    result = build_result(seg, run_id="x", source={"kind": "test"}, model={}, parameters={})
    assert layer_of(result) is seg.confidence
    assert result.unsure == unsure_built_up(seg)
    assert "split_confidence_below_50pct" in result.csv().decode()
    assert result.manifest()["results"]["unsure_built_up"]["threshold_pct"] == 50
    with MemoryFile(result.geotiff(confidence=True)) as mem, mem.open() as src:
        assert src.count == 2
        assert np.array_equal(src.read(2), seg.confidence)
    with MemoryFile(result.geotiff()) as mem, mem.open() as src:
        assert src.count == 1
