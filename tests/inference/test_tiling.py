"""Tile plans: cores partition the raster (property-based), seamless tiled prediction."""

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from urbanseg_core.inference.predict import predict_scene
from urbanseg_core.inference.tiling import plan_axis, plan_tiles
from urbanseg_core.io.scene import Scene
from urbanseg_core.sentinel2 import NODATA

from ..conftest import textured_reflectance


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 3000), tile=st.integers(2, 600), overlap=st.integers(0, 300),
       multiple=st.sampled_from([1, 16]))
def test_axis_cores_partition_exactly(n, tile, overlap, multiple):
    if overlap >= tile:
        with pytest.raises(ValueError):
            plan_axis(n, tile, overlap, multiple)
        return
    spans = plan_axis(n, tile, overlap, multiple)
    covered = np.zeros(n, dtype=int)
    for i, s in enumerate(spans):
        assert s.start <= s.core_start < s.core_end <= s.start + s.size  # core inside tile
        assert s.size == tile
        if (tile - overlap) % multiple == 0:
            assert s.start % multiple == 0  # same grid phase for every tile
        if i:  # a core starts at least overlap // 2 px inside the tile it shares an edge with
            assert s.core_start - s.start >= overlap // 2
            assert spans[i - 1].start + tile - s.core_start >= overlap // 2
        covered[s.core_start:s.core_end] += 1
    assert (covered == 1).all()  # every pixel predicted exactly once
    assert spans[0].start == 0 and spans[-1].start + tile >= n


@settings(max_examples=100, deadline=None)
@given(h=st.integers(1, 900), w=st.integers(1, 900), tile=st.sampled_from([64, 128, 256]),
       overlap=st.sampled_from([0, 16, 32, 64]))
def test_2d_cores_partition_and_small_rasters_get_small_tiles(h, w, tile, overlap):
    if overlap >= tile:
        return
    tiles = plan_tiles(h, w, tile, overlap)
    count = np.zeros((h, w), dtype=int)
    for t in tiles:
        count[t.rows.core_start:t.rows.core_end, t.cols.core_start:t.cols.core_end] += 1
        assert t.rows.size % 16 == 0 and t.cols.size % 16 == 0
        assert t.rows.size <= max(tile, 16) and t.cols.size <= max(tile, 16)
    assert (count == 1).all()


def _scene(h, w, seed=0):
    return Scene(textured_reflectance(h, w, seed), np.ones((h, w), bool), None,
                 rasterio.Affine.identity())


def test_tiled_prediction_equals_untiled(tiny_model):
    # 320 = 64 + 4 x 64 and 448 = 64 + 6 x 64: tiles of 128 px with 64 px overlap fit exactly.
    scene = _scene(320, 448)
    untiled = predict_scene(scene, tiny_model, tile_size=512, overlap=0)
    assert len(np.unique(untiled)) == 3  # the test model predicts every class
    tiled = predict_scene(scene, tiny_model, tile_size=128, overlap=64, batch_size=3)
    np.testing.assert_array_equal(tiled, untiled)  # no seams at tile borders
    # Without overlap the borders do differ: the test can tell seams from none.
    assert (predict_scene(scene, tiny_model, tile_size=128, overlap=0) != untiled).mean() > 0.005


@pytest.mark.parametrize("shape", [(301, 437), (200, 130)])
def test_tiled_equals_untiled_for_odd_sizes_edges_included(tiny_model, shape):
    scene = _scene(*shape, seed=5)
    untiled = predict_scene(scene, tiny_model, tile_size=512, overlap=0)
    tiled = predict_scene(scene, tiny_model, tile_size=128, overlap=64)
    np.testing.assert_array_equal(tiled, untiled)


def test_odd_sizes_nodata_and_progress(tiny_model):
    scene = _scene(77, 301, seed=3)
    scene.valid[10:20, 30:50] = False
    scene.reflectance[:, ~scene.valid] = 0
    calls = []
    out = predict_scene(scene, tiny_model, tile_size=64, overlap=32,
                        progress=lambda d, t: calls.append((d, t)))
    assert out.shape == (77, 301) and out.dtype == np.uint8
    assert (out[10:20, 30:50] == NODATA).all()
    assert set(np.unique(out[scene.valid])) <= {0, 1, 2}
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] and len(calls) >= 2


def test_all_nodata_scene(tiny_model):
    scene = _scene(40, 40)
    scene.valid[:] = False
    assert (predict_scene(scene, tiny_model) == NODATA).all()
