"""Reference code detection, conversion and reprojection onto a scene grid."""

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from urbanseg_core.errors import ReferenceError_
from urbanseg_core.io.references import detect_codes, read_reference, to_index
from urbanseg_core.io.scene import Scene


@pytest.mark.parametrize("values, expected", [
    ([0, 1, 2, 255], "index"),
    ([0, 1, 2], "index"),
    ([0, 1, 250, 255], "esm"),
    ([1, 1, 1, 255, 0], "esm"),        # ESM tile without non-residential: 1 dominates
    ([0, 0, 0, 1, 255], "index"),
    ([1, 2, 11, 21, 255], "ghsl"),
    ([0, 3, 4, 5], "ghsl"),
    ([111, 121, 211, 311], "corine"),
    ([11100, 12100, 31000], "corine"),
])
def test_detect_codes(values, expected):
    assert detect_codes(np.array(values)) == expected


def test_detect_codes_rejects_unknown():
    with pytest.raises(ReferenceError_):
        detect_codes(np.array([0, 7, 9]))
    with pytest.raises(ReferenceError_):
        detect_codes(np.array([0.5, 1.0]))


def test_to_index_each_convention():
    assert to_index(np.array([0, 1, 2, 255, 7]), "index").tolist() == [0, 1, 2, 255, 255]
    assert to_index(np.array([0, 1, 250, 255]), "esm").tolist() == [255, 0, 1, 2]
    assert to_index(np.array([0, 2, 5, 11, 15, 21, 25, 255]), "ghsl").tolist() == [
        0, 0, 0, 2, 2, 1, 1, 255]
    assert to_index(np.array([111, 112, 121, 122, 311, 11210, 12100, 0]), "corine").tolist() == [
        2, 2, 1, 0, 0, 2, 1, 255]
    assert to_index(np.array([0, 1, 250, 255]), "auto").tolist() == [255, 0, 1, 2]
    with pytest.raises(ReferenceError_):
        to_index(np.array([1]), "nonsense")


def _scene(shape, transform, crs="EPSG:32633"):
    h, w = shape
    return Scene(np.zeros((11, h, w), "float32"), np.ones((h, w), bool), CRS.from_user_input(crs),
                 transform)


def _write(path, data, transform, crs="EPSG:32633", nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                       count=1, dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def test_read_reference_resamples_20m_esm_onto_10m_grid(tmp_path):
    esm = np.array([[1, 250], [255, 0]], dtype="uint8")
    path = _write(tmp_path / "esm.tif", esm, from_origin(500000, 4000040, 20, 20))
    scene = _scene((6, 6), from_origin(500000, 4000040, 10, 10))
    out = read_reference(path, scene)
    expected = np.full((6, 6), 255, "uint8")
    expected[0:2, 0:2] = 0
    expected[0:2, 2:4] = 1
    expected[2:4, 0:2] = 2
    np.testing.assert_array_equal(out, expected)


def test_read_reference_other_crs(tmp_path):
    # A GHSL-coded reference in WGS84 covering the scene; the scene is in UTM 33N.
    data = np.full((50, 50), 21, dtype="uint8")
    data[:, :25] = 11
    path = _write(tmp_path / "ghsl.tif", data, from_origin(14.9, 52.1, 0.004, 0.004),
                  crs="EPSG:4326")
    # UTM 33N grid around (15.0 E, 52.0 N): x ~ 500000, y ~ 5761000
    scene = _scene((20, 20), from_origin(499900, 5762000, 10, 10))
    out = read_reference(path, scene)
    assert set(np.unique(out)) <= {1, 2}
    # west of 14.9 + 25 * 0.004 = 15.0 E (UTM x = 500000) is residential, east non-residential
    assert (out[:, :8] == 2).all() and (out[:, 12:] == 1).all()


def test_read_reference_file_nodata_and_errors(tmp_path):
    data = np.array([[0, 1], [2, 9]], dtype="uint8")
    path = _write(tmp_path / "idx.tif", data, from_origin(0, 20, 10, 10), nodata=9)
    scene = _scene((2, 2), from_origin(0, 20, 10, 10))
    assert read_reference(path, scene).tolist() == [[0, 1], [2, 255]]
    far = _scene((2, 2), from_origin(90000, 20, 10, 10))
    with pytest.raises(ReferenceError_, match="overlap"):
        read_reference(path, far)
    with pytest.raises(ReferenceError_, match="not found"):
        read_reference(tmp_path / "missing.tif", scene)
    (tmp_path / "bad.tif").write_text("not a raster")
    with pytest.raises(ReferenceError_):
        read_reference(tmp_path / "bad.tif", scene)
