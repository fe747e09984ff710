"""End to end on a real city: OSCD Milano (Sentinel-2 L1C, EPSG:4326 band files) -> mask.

Skipped when ``../shared/data`` is absent.
"""

import numpy as np
import pytest
import rasterio

from urbanseg_core.evaluation.areas import areas_of
from urbanseg_core.inference.pipeline import segment_file
from urbanseg_core.io.bandfolder import stack_folder


def oscd_stack(city_dir, out_path):
    """Stack an OSCD city's ``imgs_1`` band files onto one 10 m UTM grid."""
    return stack_folder(city_dir / "imgs_1", out_path)[0]


@pytest.mark.realdata
def test_milano_end_to_end(shared_data, tmp_path):
    path = oscd_stack(shared_data / "oscd_cities" / "milano", tmp_path / "milano.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32632 and src.res == (10.0, 10.0)  # UTM 32N, 10 m
    seg = segment_file(path)
    out = seg.write(tmp_path / "milano_mask.tif")
    with rasterio.open(out) as src:
        mask = src.read(1)
        assert src.crs.to_epsg() == 32632 and mask.shape == seg.shape
    assert set(np.unique(mask)) <= {0, 1, 2, 255}
    assert 25 < areas_of(seg).valid_km2 < 40  # the OSCD Milano crop is about 5.6 x 6.1 km
    # Central Milan is mostly built up; the bundled model must see that.
    assert areas_of(seg).built_up_share > 0.4, areas_of(seg).rows()
