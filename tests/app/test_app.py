"""The dashboard through Streamlit's AppTest: Run on the sample to the download button, the
Results and Model pages, and plain errors for bad inputs (no exception reaches the page)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from urbanseg_core.model.loading import DEFAULT_CARD

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")

if not os.environ.get("URBANSEG_MODEL") and not DEFAULT_CARD.exists():
    pytest.skip("the bundled model urbanseg_core/model/weights/urbanseg-unet.json is missing",
                allow_module_level=True)

from streamlit.testing.v1 import AppTest  # noqa: E402

from urbanseg_core.app import state  # noqa: E402

from .helpers import ee_settled, errors, key, plain  # noqa: E402

TIMEOUT = 300


@pytest.fixture(autouse=True)
def _no_prefetch(monkeypatch):
    # background prefetch would compete with the test's own Run for the CPU
    monkeypatch.setenv("URBANSEG_PREFETCH", "0")


def _fresh() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def ran():
    """The app after pressing Run on the sample (shared by the tests of this module)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANSEG_PREFETCH", "0")
        at = _fresh()
        at.button(key="w_run").click().run()
        yield at


def offset_key(at: AppTest) -> str:
    """The DN offset box of the kept upload."""
    return key(at, "level2a", at.session_state["urbanseg_upload"]["sha256"][:16])


def _metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}; have {[m.label for m in at.metric]}")


def test_sample_run_reaches_the_download_button(ran):
    assert not ran.exception, [e.value for e in ran.exception]
    assert not ran.error, [e.value for e in ran.error]
    result = ran.session_state[state.RESULT]
    assert result is not None and result.source["kind"] == "sample"
    assert ran.download_button(key="w_dl_tif_run").label.startswith("5. Download")
    assert _metric(ran, "Built-up share") == f"{100 * result.stats.built_up_share:.1f} %"
    # the bytes behind the button: a georeferenced index-coded mask of the sample
    with MemoryFile(result.geotiff("index")) as mem, mem.open() as src:
        assert src.crs.to_epsg() == 32633
        data = src.read(1)
    assert data.shape == (768, 1024)
    assert set(np.unique(data)) <= {0, 1, 2, 255}
    np.testing.assert_array_equal(data, result.classes)


def test_same_inputs_rerun_from_the_cache(ran):
    before = ran.session_state[state.RESULT]
    ran.button(key="w_run").click().run()
    assert not ran.exception
    assert ran.session_state[state.TIMING]["cached"] is True
    assert ran.session_state[state.RESULT].run_id == before.run_id


def test_results_page_shows_statistics_and_downloads(ran):
    ran.switch_page("pages/2_Results.py").run()
    assert not ran.exception, [e.value for e in ran.exception]
    result = ran.session_state[state.RESULT]
    table = ran.dataframe[0].value
    assert list(table["Class"]) == result.class_names
    assert table["Area (km²)"].sum() == pytest.approx(result.stats.valid_km2, abs=0.01)
    assert table["Share of the area with data (%)"].sum() == pytest.approx(100, abs=0.05)
    # 1024 x 768 px of 10 m with data everywhere in the sample = 78.64 km²
    assert _metric(ran, "Area with data") == f"{result.stats.valid_km2:,.2f} km²"
    # the sample's few nodata pixels are not rounded away to "0.00 km²"
    assert 0 < result.stats.nodata_km2 < 0.005
    assert any("Area without data: less than 0.01 km²" in plain(c.value) for c in ran.caption)
    for key in ("w_dl_tif", "w_dl_geojson", "w_dl_png", "w_dl_csv", "w_dl_manifest"):
        assert ran.download_button(key=key) is not None
    manifest = json.loads(result.manifest_json())
    assert manifest["model"]["sha256"] == result.model["sha256"]
    assert manifest["source"]["kind"] == "sample"
    # the engine that ran: the shipped graph with ONNX Runtime (requirements.txt has it)
    assert (manifest["model"]["engine"], manifest["model"]["graph"]) == (
        "ONNX Runtime", DEFAULT_CARD.with_suffix(".onnx").name)
    assert manifest["software"]["packages"]["onnxruntime"]
    # switching away and back keeps the result
    ran.switch_page("pages/3_Model.py").run()
    ran.switch_page("pages/2_Results.py").run()
    assert ran.session_state[state.RESULT].run_id == result.run_id
    assert ran.dataframe[0].value.equals(table)


def test_the_sample_can_be_compared_with_a_reference(ran):
    """A reference uploaded with the sample scene selected (the Results page tells users to
    upload one next to their image): index codes, equal to the prediction but for a
    residential strip made non-residential."""
    import rasterio
    from urbanseg_core.io.sample import SAMPLE_SCENE

    pred = ran.session_state[state.RESULT].classes.copy()
    ref = np.where(pred == 255, 0, pred).astype("uint8")
    ref[:, :100][ref[:, :100] == 2] = 1
    with rasterio.open(SAMPLE_SCENE) as src:
        grid = {"crs": src.crs, "transform": src.transform}
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=ref.shape[1], height=ref.shape[0], count=1,
                      dtype="uint8", **grid) as dst:
            dst.write(ref, 1)
        ref_bytes = mem.read()
    at = _fresh()
    assert at.radio(key=key(at, "source")).value == "sample"
    at.file_uploader(key=key(at, "reference")).set_value(("ref.tif", ref_bytes, "image/tiff"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    summary = [plain(c.value) for c in at.caption if "Run will use" in plain(c.value)]
    assert summary == ["Run will use: the sample scene, reference ref.tif."], summary
    at.button(key="w_run").click().run()
    metrics = at.session_state[state.RESULT].metrics
    valid = pred != 255
    moved = ((pred == 2) & (ref == 1))[valid].sum()
    assert metrics["confusion_matrix"][1][2] == moved > 0
    assert np.trace(np.asarray(metrics["confusion_matrix"])) == valid.sum() - moved


def test_results_page_says_where_the_split_is_unsure(ran):
    ran.switch_page("pages/2_Results.py").run()
    result = ran.session_state[state.RESULT]
    unsure = result.unsure
    assert unsure is not None and unsure.built_up_km2 > 0
    words = [plain(c.value) for c in ran.caption if "is unsure whether" in plain(c.value)]
    assert len(words) == 1, [plain(c.value) for c in ran.caption]
    assert f"{100 * unsure.share_of_built_up:.0f} %" in words[0]
    assert f"{unsure.unsure_km2:,.2f} km²" in words[0]
    # the side legend lists every layer of the map, the hatching too (off at first)
    legend = " ".join(m.value for m in ran.markdown)
    assert "Prediction" in legend and "Split confidence below 50 % (off at first" in legend
    assert "unsure: residential or non-residential?" in legend
    assert legend.index("Split confidence") < legend.index("Prediction")  # top layer first
    assert legend.index("Scene footprint") < legend.index("Split confidence")  # drawn on top
    assert not any("reference" in plain(c.value).lower() for c in ran.caption
                   if "layer switcher" in plain(c.value))  # this run has no reference
    ran.checkbox(key="w_dl_confidence").check().run()
    assert not ran.exception, [e.value for e in ran.exception]
    with MemoryFile(result.download("tif-index-confidence")) as mem, mem.open() as src:
        assert src.count == 2
        confidence = src.read(2)
    assert np.array_equal(confidence, result.split_confidence)


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key=key(at, "source")).set_value("upload").run()
    at.file_uploader(key=key(at, "upload")).set_value((name, data, "image/tiff")).run()
    return at


def test_bad_upload_gives_a_plain_error_not_an_exception():
    at = _upload(_fresh(), "holiday_photo.tif", b"this is not a GeoTIFF at all")
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "could not be read as a raster" in errors
    assert "Traceback" not in errors
    assert at.button(key="w_run").disabled


def _raster_bytes(count: int, descriptions: list[str] | None = None) -> bytes:
    data = np.full((count, 32, 32), 1200, dtype="uint16")
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=32, height=32, count=count, dtype="uint16",
                      crs="EPSG:32633", transform=from_origin(330000, 5822040, 10, 10)) as dst:
            dst.write(data)
            for i, d in enumerate(descriptions or [], start=1):
                dst.set_band_description(i, d)
        return mem.read()


def _band_bytes(band: str, pixel_m: int) -> bytes:
    n = 320 // pixel_m
    data = np.full((1, n, n), 1000 + 10 * int("".join(c for c in band if c.isdigit())),
                   dtype="uint16")
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=n, height=n, count=1, dtype="uint16",
                      crs="EPSG:32633",
                      transform=from_origin(330000, 5822040, pixel_m, pixel_m)) as dst:
            dst.write(data)
        return mem.read()


def test_upload_of_single_band_files_is_stacked_and_runs(monkeypatch):
    from urbanseg_core.app import panels

    res = {"B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20, "B8A": 20, "B9": 60,
           "B11": 20, "B12": 20}  # no B8: B8A stands in
    files = [(f"T33UUU_20170216_{b.replace('B', 'B0') if len(b) == 2 else b}.tif",
              _band_bytes(b, m), "image/tiff") for b, m in res.items()]
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("upload").run()
    at.file_uploader(key=key(at, "upload")).set_value(files).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    kept = at.session_state["urbanseg_upload"]
    assert kept["name"] == "T33UUU_20170216_stack.tif"
    infos = " ".join(i.value for i in at.info)
    assert "Stacked from 10 band files" in infos and "B8A is used in its place" in infos
    at.button(key="w_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state[state.RESULT]
    assert result.classes.shape == (32, 32) and result.stem == "urbanseg_T33UUU_20170216_stack"
    # files whose names name no band only: a plain error, and the earlier image is no longer
    # the one shown or run (the user's latest choice failed)
    bad = [(n, _band_bytes("B2", 10), "image/tiff") for n in ("holiday.tif", "map.tif")]
    at.file_uploader(key=key(at, "upload")).set_value(bad).run()
    assert not at.exception
    assert "holiday.tif, map.tif: no Sentinel-2 band in the file names" in errors(at)
    assert "urbanseg_upload" not in at.session_state
    assert at.button(key="w_run").disabled
    assert not any("T33UUU_20170216_stack.tif" in t.value for t in at.text)
    calls = []
    real = panels.save_band_uploads
    monkeypatch.setattr(panels, "save_band_uploads", lambda f: calls.append(1) or real(f))
    at.run()  # a rerun shows the same error without stacking the files again
    assert "no Sentinel-2 band in the file names" in errors(at)
    assert calls == []
    monkeypatch.undo()
    # too few band files: the message names the upload, not an internal folder
    at.file_uploader(key=key(at, "upload")).set_value(files[:3]).run()
    assert errors(at).startswith("The upload lacks the band file(s) B5"), errors(at)
    assert "urbanseg_uploads" not in errors(at)
    # a Level-2A folder's extra layers are left out with a note, and the offset box is
    # ticked from the evidence (dark blue pixels at 1020 DN) with one sentence saying so
    l2a = [(f"T33UUU_20220216_{name.rsplit('_', 1)[-1][:-4]}_20m.tif", data, mime)
           for name, data, mime in files]
    l2a.append(("T33UUU_20220216_SCL_20m.tif", files[0][1], "image/tiff"))
    at.file_uploader(key=key(at, "upload")).set_value(l2a).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    infos = plain(" ".join(i.value for i in at.info))
    assert "Not used (no band in the name): T33UUU_20220216_SCL_20m.tif" in infos
    assert at.checkbox(key=offset_key(at)).value is True
    captions = plain(" ".join(c.value for c in at.caption))
    assert "The box is ticked: these are Level-2A files" in captions
    # one band file alone: asked to select all of them
    at.file_uploader(key=key(at, "upload")).set_value(files[0]).run()
    assert not at.exception
    assert "is one band (B2) of an image" in errors(at)
    assert at.button(key="w_run").disabled
    # removing every file from the uploader clears the choice: nothing to run
    at.file_uploader(key=key(at, "upload")).set_value([]).run()
    assert "urbanseg_upload" not in at.session_state and at.button(key="w_run").disabled


def test_product_metadata_uploaded_with_the_bands_sets_the_offset():
    from ..io.test_bandfolder import mtd_xml

    res = {"B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20, "B8A": 20, "B9": 60,
           "B11": 20, "B12": 20}
    files = [(f"T33UUU_20220216_{b.replace('B', 'B0') if len(b) == 2 else b}_20m.tif",
              _band_bytes(b, m), "image/tiff") for b, m in res.items()]
    mtd = ("MTD_MSIL2A.xml", mtd_xml([-1000] * 13).encode(), "text/xml")
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("upload").run()
    at.file_uploader(key=key(at, "upload")).set_value(files + [mtd]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    infos = plain(" ".join(i.value for i in at.info))
    assert "MTD_MSIL2A.xml declares a DN offset of -1000" in infos
    assert "Stacked from 10 band files" in infos and "Not used" not in infos
    assert at.checkbox(key=offset_key(at)).value is True
    at.button(key="w_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.RESULT].manifest()["parameters"]["dn_offset"] == -1000.0
    # the user can still untick it, and the next run reads the files without the offset
    at.checkbox(key=offset_key(at)).uncheck().run()
    at.button(key="w_run").click().run()
    assert at.session_state[state.RESULT].manifest()["parameters"]["dn_offset"] == 0.0
    # an offset the app cannot apply, or the metadata alone: plain errors
    odd = ("MTD_MSIL2A.xml", mtd_xml([-2000] * 13).encode(), "text/xml")
    at.file_uploader(key=key(at, "upload")).set_value(files + [odd]).run()
    assert not at.exception
    assert "declares a DN offset of -2000" in errors(at)
    at.file_uploader(key=key(at, "upload")).set_value([mtd]).run()
    assert not at.exception
    assert "MTD_MSIL2A.xml: no Sentinel-2 band in the file names" in errors(at)


def test_upload_without_band_names_asks_for_the_band_mapping():
    at = _upload(_fresh(), "five_bands.tif", _raster_bytes(5))
    assert not at.exception, [e.value for e in at.exception]
    band_boxes = [s for s in at.selectbox if s.key and s.key.startswith("w_band_orders_")]
    assert len(band_boxes) == 5
    assert any("band mapping is incomplete" in e.value for e in at.error)
    assert at.button(key="w_run").disabled


def test_upload_with_band_names_runs_and_keeps_inputs_on_error():
    names = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    at = _upload(_fresh(), "tiny.tif", _raster_bytes(11, names))
    assert not at.exception
    assert not at.button(key="w_run").disabled
    at.button(key="w_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state[state.RESULT]
    assert result.source["name"] == "tiny.tif" and result.classes.shape == (32, 32)
    # a reference that does not fit: plain error, the upload stays selected
    at.file_uploader(key=key(at, "reference")).set_value(("ref.tif", b"garbage",
                                                          "image/tiff")).run()
    assert not at.exception
    assert errors(at).startswith("ref.tif could not be read as a raster"), errors(at)
    assert at.radio(key=key(at, "source")).value == "upload"
    assert at.session_state["urbanseg_upload"]["name"] == "tiny.tif"

    # a reference in ESM codes on the same grid: scores against the prediction
    pred = result.classes
    esm = np.array([1, 250, 255], dtype="uint8")[pred]       # reference == prediction ...
    esm[:, :16] = 1                                           # ... except the left half: other
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=32, height=32, count=1, dtype="uint8",
                      crs="EPSG:32633", transform=from_origin(330000, 5822040, 10, 10),
                      nodata=0) as dst:
            dst.write(esm, 1)
        ref_bytes = mem.read()
    at.file_uploader(key=key(at, "reference")).set_value(("esm.tif", ref_bytes, "image/tiff")).run()
    at.button(key="w_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = at.session_state[state.RESULT].metrics
    want = np.where(np.arange(32)[None, :] < 16, 0, pred)
    cm = np.zeros((3, 3), int)
    np.add.at(cm, (want.ravel(), pred.ravel()), 1)
    assert metrics["confusion_matrix"] == cm.tolist()
    at.switch_page("pages/2_Results.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Agreement with the reference" in [s.value for s in at.subheader]
    assert list(at.table[0].value["Class"]) == result.class_names
    # the headline is the built-up classes' mean Dice, not the weighted Dice (mostly other)
    headline = {m.label: m.value for m in at.metric}["Built-up classes agree (Dice)"]
    dice = [2 * cm[c, c] / (cm[c].sum() + cm[:, c].sum()) for c in (1, 2) if cm[c].sum()]
    assert headline == f"{np.mean(dice):.3f}"

    # removing the reference: the next run has none, the image stays
    at.switch_page("pages/1_Map_and_run.py").run()
    at.button(key=key(at, "reference_remove")).click().run()
    at.button(key="w_run").click().run()
    assert not at.exception
    assert at.session_state[state.RESULT].metrics is None
    assert at.session_state[state.RESULT].source["name"] == "tiny.tif"


def test_earth_engine_without_connection_says_not_connected():
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("earthengine").run()
    ee_settled(at)
    assert not at.exception, [e.value for e in at.exception]
    assert any("not connected" in w.value for w in at.warning)
    assert at.button(key="w_run").disabled
    # an uploaded GeoJSON area gets its size and time estimate
    square = {"type": "Polygon", "coordinates": [[[12.50, 52.46], [12.55, 52.46],
                                                   [12.55, 52.49], [12.50, 52.49],
                                                   [12.50, 52.46]]]}
    at.file_uploader(key=key(at, "aoi_upload")).set_value(
        ("aoi.geojson", json.dumps(square).encode(), "application/geo+json")).run()
    assert not at.exception, [e.value for e in at.exception]
    area = float(_metric(at, "Area").split()[0])
    assert area == pytest.approx(3.39 * 3.34, rel=0.05)  # 0.05° lon x 0.03° lat at 52.5° N
    assert at.button(key="w_run").disabled  # still not connected


def test_model_page_renders_and_refuses_bad_weights():
    at = _fresh()
    at.switch_page("pages/3_Model.py").run()
    assert not at.exception, [e.value for e in at.exception]
    from urbanseg_core.model.loading import load_model

    card = load_model().card
    assert any(card.name in plain(s.value) for s in at.subheader)
    if card.metrics:  # the classes (with colour swatches) and the scores, as full tables
        assert len(at.table) >= 2
    tables = (card.metrics or {}).get("cross_city") or []
    if tables:  # this model's recipe first; other runs only for comparison, folded away
        assert any(tables[0]["label"] in plain(c.value) for c in at.caption)
        if len(tables) > 1:
            assert any("for comparison" in e.label for e in at.expander)
    at.file_uploader(key="w_weights").set_value(("final_model.pth", b"not weights",
                                                 "application/octet-stream"))
    submit = [b for b in at.button if "Check and use" in b.label][0]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = errors(at)
    assert "final_model.pth is not a model weights file" in shown
    assert "(" not in shown.split("file")[1][:20]  # no PyTorch words cut mid-sentence
    assert at.expander and any(e.label == "Technical detail" for e in at.expander)
    assert at.session_state[state.MODEL_PATH] is None


def test_about_page_gives_steps_and_attributions():
    at = _fresh()
    at.switch_page("pages/4_About.py").run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for needle in ("five steps", "Copernicus Sentinel", "MIT", "CC BY 4.0", "ESM",
                   "earthengine authenticate"):
        assert needle in text, needle


def test_missing_model_is_a_plain_error_and_run_is_disabled(monkeypatch, tmp_path):
    monkeypatch.setenv("URBANSEG_MODEL", str(tmp_path / "no-such-model.json"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "no-such-model.json" in errors(at)
    assert at.button(key="w_run").disabled


def _submit_weights(at: AppTest, weights: tuple, card: tuple | None) -> AppTest:
    at.file_uploader(key="w_weights").set_value(weights)
    if card is not None:
        at.file_uploader(key="w_card").set_value(card)
    [b for b in at.button if "Check and use" in b.label][0].click().run()
    return at


def test_model_page_loads_fitting_weights_and_explains_misfits():
    import torch

    from urbanseg_core.model.loading import default_model_path, load_model
    from urbanseg_core.model.unet import UNet

    card_path = default_model_path()
    card = json.loads(card_path.read_text())
    weights_bytes = (card_path.parent / card["weights"]).read_bytes()
    at = _fresh()
    at.switch_page("pages/3_Model.py").run()

    # weights of another width, with a card that does not pin a checksum: listed misfits
    loose = dict(card)
    loose.pop("sha256", None)
    buf = io.BytesIO()
    torch.save(UNet(15, 3, base_width=8).state_dict(), buf)
    _submit_weights(at, ("narrow.pt", buf.getvalue(), "application/octet-stream"),
                    ("narrow.json", json.dumps({**loose, "weights": "narrow.pt"}).encode(),
                     "application/json"))
    assert not at.exception, [e.value for e in at.exception]
    message = errors(at)
    assert "The weights in narrow.pt do not fit" in message and "mis-shaped" in message
    assert at.session_state[state.MODEL_PATH] is None

    # the bundled weights with their card: accepted, and this session now uses them
    _submit_weights(at, (card["weights"], weights_bytes, "application/octet-stream"),
                    (card_path.name, card_path.read_bytes(), "application/json"))
    assert not at.exception, [e.value for e in at.exception]
    chosen = at.session_state[state.MODEL_PATH]
    assert chosen is not None and load_model(chosen).sha256 == load_model().sha256
    assert any("the weights fit the model" in plain(m.value) for m in at.success)


def test_settings_survive_switching_pages():
    names = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    at = _upload(_fresh(), "tiny.tif", _raster_bytes(11, names))
    at.checkbox(key=offset_key(at)).check().run()
    at.switch_page("pages/4_About.py").run()
    at.switch_page("pages/1_Map_and_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key=key(at, "source")).value == "upload"
    assert at.checkbox(key=offset_key(at)).value is True
    assert not at.button(key="w_run").disabled   # the upload is still there
    at.radio(key=key(at, "source")).set_value("earthengine").run()
    at.slider(key=key(at, "cloud")).set_value(0.8).run()
    at.switch_page("pages/3_Model.py").run()
    at.switch_page("pages/1_Map_and_run.py").run()
    assert at.slider(key=key(at, "cloud")).value == pytest.approx(0.8)
    assert not at.warning or all("Session State" not in w.value for w in at.warning)


def test_uploaded_area_can_be_cleared_and_is_applied_once():
    at = _fresh()
    at.radio(key=key(at, "source")).set_value("earthengine").run()
    square = {"type": "Polygon", "coordinates": [[[12.50, 52.46], [12.55, 52.46],
                                                   [12.55, 52.49], [12.50, 52.49],
                                                   [12.50, 52.46]]]}
    at.file_uploader(key=key(at, "aoi_upload")).set_value(
        ("aoi.geojson", json.dumps(square).encode(), "application/geo+json")).run()
    assert at.session_state[state.AOI] is not None
    at.button(key=key(at, "aoi_clear")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.AOI] is None       # the file is still there, not re-applied
    # the metrics keep their place (dashes), so drawing an area never moves the map
    assert _metric(at, "Area") == "–" and _metric(at, "Estimated time") == "–"
