"""A folder of single-band files as one input: band names, choosing files, stacking, the CLI."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from urbanseg_core.io.bandfolder import find_band_files, looks_level2a, product_offset, stack_folder

from urbanseg_core.errors import InputError
from urbanseg_core.io.scene import read_scene
from urbanseg_core.sentinel2 import band_of
from urbanseg_core.sentinel2 import MODEL_BANDS


NATIVE_M = {"B2": 10, "B3": 10, "B4": 10, "B8": 10, "B5": 20, "B6": 20, "B7": 20, "B8A": 20,
            "B11": 20, "B12": 20, "B9": 60, "B1": 60}


def write_band(path, band, size_m=120 * 10, pixel_m=None, seed=0, west=500000, fill=None):
    """One uint16 band file in EPSG:32633 on its native grid; DN = 1000 + 100 * band index +
    noise (or ``fill`` everywhere)."""
    pixel_m = pixel_m or NATIVE_M[band]
    n = size_m // pixel_m
    rng = np.random.default_rng(seed)
    dn = (1000 + 100 * MODEL_BANDS.index(band) if band in MODEL_BANDS else 500)
    data = (dn + rng.integers(0, 50, (n, n))).astype("uint16")
    if fill is not None:
        data[:] = fill
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(west, 5000000, pixel_m, pixel_m),
                       nodata=0) as dst:
        dst.write(data, 1)
    return data


def band_folder(root, bands=MODEL_BANDS + ("B1",), name="T33UUU_20180801T100031_{}.tif",
                **kwargs):
    for b in bands:
        write_band(root / name.format(b.replace("B", "B0") if len(b) == 2 else b), b, **kwargs)
    return root


@pytest.mark.parametrize("name, band", [
    ("S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B02.tif", "B2"),
    ("T43SCT_20181227T055231_B8A_20m.jp2", "B8A"),
    ("T43SCT_20181227T055231_B12_20m.jp2", "B12"),
    ("b4.tif", "B4"),
    ("T43SCT_20181227T055231_SCL_20m.jp2", None),
    ("T43SCT_20181227T055231_TCI_10m.jp2", None),
    ("B13.tif", None),
])
def test_band_is_read_from_the_file_name(name, band):
    assert band_of(name) == band


def test_finest_file_of_a_band_is_used_and_same_grid_duplicates_are_refused(tmp_path):
    write_band(tmp_path / "R10m" / "T_B02_10m.tif", "B2", pixel_m=10)
    write_band(tmp_path / "R20m" / "T_B02_20m.tif", "B2", pixel_m=20)
    write_band(tmp_path / "R20m" / "T_SCL_20m.tif", "B2", pixel_m=20)  # not a band name
    files = find_band_files(tmp_path)
    assert files == {"B2": tmp_path / "R10m" / "T_B02_10m.tif"}
    write_band(tmp_path / "other_date" / "T_B02.tif", "B2", pixel_m=10)
    with pytest.raises(InputError, match="more than one B2 file.*one image"):
        find_band_files(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="No band files"):
        find_band_files(tmp_path / "empty")


def test_quality_masks_are_skipped_and_two_areas_are_not_mixed(tmp_path):
    granule = band_folder(tmp_path / "granule" / "IMG_DATA").parent
    write_band(granule / "QI_DATA" / "MSK_QUALIT_B01.tif", "B1")   # a mask, not a band
    write_band(granule / "QI_DATA" / "MSK_DETFOO_B02.tif", "B2", pixel_m=20)
    files = find_band_files(granule)
    assert all(p.parent.name == "IMG_DATA" for p in files.values())
    # a second, smaller image 50 km east: its 20 m bands must not join the first one's
    mixed = tmp_path / "mixed"
    band_folder(mixed / "a", bands=("B2", "B3", "B4", "B8"), size_m=2400)
    band_folder(mixed / "b", bands=("B5", "B6", "B7", "B8A", "B9", "B11", "B12"),
                west=550000)
    with pytest.raises(InputError, match=r"covers a different area than a/.*B02.*more than one"):
        find_band_files(mixed)


def test_level2a_folders_are_recognised(cli, tmp_path):
    plain = band_folder(tmp_path / "l1c")
    assert not looks_level2a(plain)
    l2a = band_folder(tmp_path / "prod" / "R20m")
    assert looks_level2a(tmp_path / "prod")
    scl = band_folder(tmp_path / "scl")
    write_band(scl / "T33UUU_20180801T100031_SCL_20m.tif", "B2", pixel_m=20)
    assert looks_level2a(scl) and l2a.is_dir()
    res = cli("stack", scl, "-o", tmp_path / "s.tif")
    assert res.returncode == 0 and "--dn-offset -1000" in res.stderr


def mtd_xml(offsets) -> str:
    """A minimal MTD_MSIL2A.xml with one BOA_ADD_OFFSET per band (namespaced root, as ESA's)."""
    items = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{v}</BOA_ADD_OFFSET>'
                    for i, v in enumerate(offsets))
    return ('<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/'
            'User_Product_Level-2A.xsd"><n1:General_Info><Product_Image_Characteristics>'
            f'<BOA_ADD_OFFSET_VALUES_LIST>{items}</BOA_ADD_OFFSET_VALUES_LIST>'
            '</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>')


def test_the_offset_declared_in_the_product_metadata_is_used(cli, tmp_path, tiny_model_path):
    safe = tmp_path / "S2B_MSIL2A_20220801T100031_N0400_R122_T33UUU.SAFE"
    img = band_folder(safe / "GRANULE" / "L2A_T33UUU_A028000" / "IMG_DATA")
    (safe / "MTD_MSIL2A.xml").write_text(mtd_xml([-1000] * 13))
    assert product_offset(img) == (-1000.0, safe / "MTD_MSIL2A.xml")
    assert product_offset(band_folder(tmp_path / "plain")) is None
    stack, _ = stack_folder(img, tmp_path / "stack.tif")
    runs = {}
    for name, source, extra in (("folder", img, []), ("explicit", stack, ["--dn-offset", "-1000"]),
                                ("zero", img, ["--dn-offset", "0"]),
                                ("zero_stack", stack, [])):
        out = tmp_path / f"{name}.tif"
        res = cli("predict", source, "-o", out, "--model", tiny_model_path, *extra)
        assert res.returncode == 0, res.stderr
        runs[name] = (rasterio.open(out).read(), res.stderr)
    assert "DN offset -1000 as declared in MTD_MSIL2A.xml" in runs["folder"][1]
    np.testing.assert_array_equal(runs["folder"][0], runs["explicit"][0])
    assert "as declared in" not in runs["zero"][1]         # an explicit --dn-offset wins
    np.testing.assert_array_equal(runs["zero"][0], runs["zero_stack"][0])
    (safe / "MTD_MSIL2A.xml").write_text(mtd_xml([-1000, -1000, -900]))
    with pytest.raises(InputError, match="different offsets per band"):
        product_offset(img)


def test_stack_keeps_every_band_value_on_the_10_m_grid(tmp_path):
    folder = tmp_path / "bands"
    arrays = {b: write_band(folder / f"T33UUU_{b}.tif", b, seed=i)
              for i, b in enumerate(MODEL_BANDS)}
    out, notes = stack_folder(folder, tmp_path / "stack.tif")
    assert notes == []
    with rasterio.open(out) as src:
        assert src.count == 11 and src.res == (10.0, 10.0) and src.shape == (120, 120)
        assert list(src.descriptions) == list(MODEL_BANDS)
        stack = src.read()
    for i, b in enumerate(MODEL_BANDS):
        factor = NATIVE_M[b] // 10  # nearest neighbour: each native pixel repeated
        expected = np.repeat(np.repeat(arrays[b], factor, 0), factor, 1)
        np.testing.assert_array_equal(stack[i], expected)


def test_b8a_stands_in_for_a_missing_b8_and_other_gaps_are_named(tmp_path):
    folder = band_folder(tmp_path / "l2a", bands=tuple(b for b in MODEL_BANDS if b != "B8"))
    out, notes = stack_folder(folder, tmp_path / "stack.tif")
    assert len(notes) == 1 and "B8A is used" in notes[0]
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(MODEL_BANDS.index("B8") + 1),
                                      src.read(MODEL_BANDS.index("B8A") + 1))
    folder = band_folder(tmp_path / "gaps", bands=("B2", "B3", "B4", "B8"))
    with pytest.raises(InputError, match="lacks the band file.*B5, B6, B7, B8A, B9, B11, B12"):
        stack_folder(folder, tmp_path / "x.tif")


def test_too_large_a_stack_is_refused_before_it_is_written(cli, tmp_path):
    folder = band_folder(tmp_path / "scene")
    with pytest.raises(InputError, match=r"120 x 120 px .*14,400 pixels\), more than the 10,000"):
        stack_folder(folder, tmp_path / "big.tif", max_pixels=10_000)
    assert not (tmp_path / "big.tif").exists()
    res = cli("predict", folder, "-o", tmp_path / "m.tif", "--max-pixels", "10000")
    assert res.returncode == 2 and "more than the 10,000" in res.stderr
    assert "Traceback" not in res.stderr


def test_predict_and_evaluate_accept_a_band_folder(cli, tmp_path, tiny_model_path):
    folder = band_folder(tmp_path / "scene")
    stack, _ = stack_folder(folder, tmp_path / "stack.tif")
    from_folder, from_stack = tmp_path / "a.tif", tmp_path / "b.tif"
    for source, out in ((folder, from_folder), (stack, from_stack)):
        res = cli("predict", source, "-o", out, "--model", tiny_model_path)
        assert res.returncode == 0, res.stderr
    with rasterio.open(from_folder) as a, rasterio.open(from_stack) as b:
        assert a.transform == b.transform and a.crs == b.crs
        np.testing.assert_array_equal(a.read(), b.read())
    res = cli("evaluate", folder, from_stack, "--model", tiny_model_path,
                  "--reference-codes", "index", "--json")
    assert res.returncode == 0, res.stderr
    assert "Stacked the band files" in res.stderr
    assert json.loads(res.stdout)["dice_weighted"] == pytest.approx(1.0)  # its own prediction
    scene = read_scene(stack)
    assert scene.reflectance.shape == (11, 120, 120)


def test_folder_mistakes_are_one_plain_line(cli, tmp_path, tiny_model_path):
    folder = band_folder(tmp_path / "scene")
    res = cli("predict", folder, "-o", tmp_path / "m.tif", "--bands", "B2,B3,B4")
    assert res.returncode == 2 and "--bands does not apply to a folder" in res.stderr
    empty = band_folder(tmp_path / "zeros", fill=0)   # every pixel nodata
    res = cli("predict", empty, "-o", tmp_path / "z.tif", "--model", tiny_model_path)
    assert res.returncode == 2 and "no valid pixels" in res.stderr
    assert not (tmp_path / "z.tif").exists()
    assert "Traceback" not in res.stderr
    l2a = band_folder(tmp_path / "S2B_MSIL2A_20220801T100031" / "IMG_DATA")
    res = cli("predict", l2a, "-o", tmp_path / "l.tif", "--model", tiny_model_path)
    assert res.returncode == 0 and "--dn-offset -1000" in res.stderr
    assert "band descriptions" not in res.stderr  # the stack's own names are not news
    res = cli("predict", l2a, "-o", tmp_path / "l.tif", "--model", tiny_model_path,
              "--dn-offset", "-1000", "--overwrite")
    assert res.returncode == 0 and "--dn-offset -1000" not in res.stderr


def test_stack_command_and_its_errors(cli, tmp_path):
    folder = band_folder(tmp_path / "scene", bands=tuple(b for b in MODEL_BANDS if b != "B8"))
    res = cli("stack", folder, "-o", tmp_path / "s.tif")
    assert res.returncode == 0, res.stderr
    assert "11 bands" in res.stdout and "B8A is used" in res.stderr
    res = cli("stack", folder, "-o", tmp_path)
    assert res.returncode == 2 and "such as " + str(tmp_path / "scene_stack.tif") in res.stderr
    res = cli("stack", folder, "-o", tmp_path / "stacked")
    assert res.returncode == 2 and "ending in .tif" in res.stderr
    res = cli("stack", tmp_path / "missing", "-o", tmp_path / "s.tif")
    assert res.returncode == 2 and "not a folder" in res.stderr and "Traceback" not in res.stderr
    (folder / "T33UUU_B03.tif").write_bytes(b"not a raster")  # a second, broken B3
    res = cli("predict", folder, "-o", tmp_path / "m.tif")
    assert res.returncode == 2 and "T33UUU_B03.tif cannot be read as a raster" in res.stderr
    (tmp_path / "empty").mkdir()
    res = cli("predict", tmp_path / "empty", "-o", tmp_path / "m.tif")
    assert res.returncode == 2 and "No band files" in res.stderr
    assert "Traceback" not in res.stderr


def test_bercy_band_folder_scores_as_the_training_stack(cli, shared_data):
    """Training and the cross-city table score Bercy on a nearest-neighbour UTM stack of the
    band files (training.datasets.load_bercy); evaluating the folder itself must give the
    same numbers."""
    from urbanseg_core.model.loading import load_model
    from urbanseg_core.training.crossval import city_scores
    from urbanseg_core.training.datasets import LabelledImage, load_bercy

    folder, scene, ref = next(iter(load_bercy(shared_data)))
    assert folder == "imgs_1"
    expected = city_scores(load_model(), [LabelledImage("bercy", scene, ref)])
    d = shared_data / "bercy_urban_atlas"
    res = cli("evaluate", d / "imgs_1", d / "bercy_reference_10m.tif", "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["dice_macro_builtup"] == pytest.approx(expected["dice_macro_builtup"], abs=1e-6)
    assert got["dice_weighted"] == pytest.approx(expected["dice_weighted"], abs=1e-6)
