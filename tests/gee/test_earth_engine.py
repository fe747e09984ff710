"""Earth Engine graphs, download, export and layers, offline with ``ee.apitestcase``.

The real ``earthengine-api`` builds and serialises every expression; only the HTTP boundary
(``ee.data.computePixels``, ``computeValue``, ``getMapId``, ``exportImage``, task status) is
replaced by fakes that answer like the server would.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest

ee = pytest.importorskip("ee")
from ee import apitestcase  # noqa: E402

from urbanseg_core.aoi import from_bounds  # noqa: E402
from urbanseg_core.errors import EarthEngineError  # noqa: E402
from urbanseg_core.gee import composite as comp  # noqa: E402
from urbanseg_core.gee import download, export, layers, reference  # noqa: E402
from urbanseg_core.gee.download import RetryPolicy  # noqa: E402
from urbanseg_core.gee.grid import (  # noqa: E402
    REQUEST_LIMIT_BYTES, bytes_per_pixel, grid_for_aoi, pixel_grid)
from urbanseg_core.io.references import to_index  # noqa: E402
from urbanseg_core.io.scene import read_scene  # noqa: E402
from urbanseg_core.sentinel2 import MODEL_BANDS

pytestmark = pytest.mark.gee

BERLIN = from_bounds(13.30, 52.50, 13.33, 52.52, name="berlin")
NO_WAIT = RetryPolicy(max_tries=4, base_delay=0.0, max_delay=0.0)


@pytest.fixture
def ee_api():
    """``ee`` initialised against the bundled algorithm list, no network."""
    case = apitestcase.ApiTestCase()
    case.setUp()
    saved = {name: getattr(ee.data, name) for name in
             ("computePixels", "exportImage", "newTaskId", "getTaskStatus", "getTaskList")}
    try:
        yield case
    finally:
        for name, fn in saved.items():
            setattr(ee.data, name, fn)
        case.tearDown()


def graph(obj) -> dict:
    """The expression with every value inlined (no valueReference indirection)."""
    return ee.serializer.encode(obj, is_compound=False, for_cloud_api=True)


def invocations(obj) -> list[tuple[str, dict]]:
    """Every (functionName, arguments) in a serialised expression."""
    out: list[tuple[str, dict]] = []

    def walk(node):
        if isinstance(node, dict):
            if "functionName" in node:
                out.append((node["functionName"], node.get("arguments", {})))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(graph(obj))
    return out


def constants(args: dict, key: str):
    node = args.get(key, {})
    return node.get("constantValue")


def names(obj) -> set[str]:
    return {n for n, _ in invocations(obj)}


# --------------------------------------------------------------------------- graphs

def test_gee_composite_graph_collections_mask_reducer_bands(ee_api):
    image = comp.composite(comp.ee_geometry(BERLIN))
    calls = invocations(image)
    loads = {constants(a, "id") for n, a in calls if n == "ImageCollection.load"}
    assert loads == {"COPERNICUS/S2_SR_HARMONIZED", "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"}
    link = [a for n, a in calls if n == "Image.linkCollection"]
    assert link and constants(link[0], "linkedBands") == ["cs_cdf"]
    gte = [a for n, a in calls if n == "Image.gte"]
    assert gte  # every comparison is cs_cdf >= 0.6 (the mapped mask, inlined per use)
    for a in gte:
        left = a["image1"]["functionInvocationValue"]
        right = a["image2"]["functionInvocationValue"]
        assert left["functionName"] == "Image.select"
        assert constants(left["arguments"], "bandSelectors") == ["cs_cdf"]
        assert right["functionName"] == "Image.constant"
        assert constants(right["arguments"], "value") == 0.6
    selects = [constants(a, "bandSelectors") for n, a in calls if n == "Image.select"]
    assert ["cs_cdf"] in selects and list(MODEL_BANDS) in selects
    assert "Reducer.median" in names(image) and "Reducer.mean" not in names(image)
    assert "Reducer.count" in names(image) and "Image.toUint16" in names(image)
    divide = [a for n, a in calls if n == "Image.divide"]
    assert "10000" in json.dumps(divide)
    renames = [constants(a, "names") for n, a in calls if n == "Image.rename"]
    assert list(MODEL_BANDS) in renames and ["clear_count"] in renames
    dates = [a for n, a in calls if n == "DateRange"]
    assert "2018-01-01" in json.dumps(dates) and "2019-01-01" in json.dumps(dates)
    assert {"Image.updateMask", "Image.clip", "Image.unmask", "Filter.intersects"} <= names(image)


def test_gee_composite_mean_threshold_and_bad_params(ee_api):
    image = comp.composite(comp.ee_geometry(BERLIN), "2020-05-01", "2020-09-01",
                           cloud_threshold=0.8, reducer="mean")
    assert "Reducer.mean" in names(image) and "Reducer.median" not in names(image)
    gte = [a for n, a in invocations(image) if n == "Image.gte"]
    assert "0.8" in json.dumps(gte) and "0.6" not in json.dumps(gte)
    assert "2020-05-01" in json.dumps(graph(image))
    for bad in (dict(reducer="max"), dict(cloud_threshold=1.5), dict(start="2019-02-30"),
                dict(start="2019-01-01", end="2018-01-01"), dict(start="2015-06-01")):
        kwargs = {"start": "2018-01-01", "end": "2019-01-01", **bad}
        with pytest.raises(EarthEngineError):
            comp.composite(comp.ee_geometry(BERLIN), **kwargs)


def test_gee_reference_graph_maps_ghsl_classes(ee_api):
    image = reference.ghsl_reference(comp.ee_geometry(BERLIN))
    calls = invocations(image)
    assert {constants(a, "id") for n, a in calls if n == "ImageCollection.load"} == {
        "JRC/GHSL/P2023A/GHS_BUILT_C"}
    assert "ImageCollection.mosaic" in names(image)
    assert ["built_characteristics"] in [constants(a, "bandSelectors")
                                         for n, a in calls if n == "Image.select"]
    remap = [a for n, a in calls if n == "Image.remap"][0]
    frm, to = constants(remap, "from"), constants(remap, "to")
    mapping = dict(zip(frm, to))
    assert {k: mapping[k] for k in (11, 15, 21, 25)} == {11: 2, 15: 2, 21: 1, 25: 1}
    assert len(mapping) == 10 and constants(remap, "defaultValue") == 0
    assert "255" in json.dumps([a for n, a in calls if n == "Image.unmask"])
    # the same mapping on a local array
    codes = np.array([[0, 1, 11, 15], [21, 25, 30, 255]])
    assert to_index(codes, "ghsl").tolist() == [[0, 0, 2, 2], [1, 1, 0, 255]]


# --------------------------------------------------------------------------- download

class FakeServer:
    """Answers computePixels like Earth Engine: NPY bytes of a structured array on the
    requested grid. Band values encode each pixel's absolute position on the full grid, so
    any offset or stitching error shows."""

    def __init__(self, x0, y0, fmt="npy", failures=()):
        self.x0, self.y0, self.fmt = x0, y0, fmt
        self.failures = list(failures)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @staticmethod
    def value(rows, cols, band_index):
        return rows * 1000.0 + cols + band_index * 1e6

    @staticmethod
    def count(rows, cols):
        return ((rows + cols) % 4).astype("uint16")

    def __call__(self, params):
        with self.lock:
            self.requests.append(params)
            if self.failures:
                raise self.failures.pop(0)
        g = params["grid"]
        at, dims = g["affineTransform"], g["dimensions"]
        h, w = dims["height"], dims["width"]
        r0 = round((self.y0 - at["translateY"]) / 10)
        c0 = round((at["translateX"] - self.x0) / 10)
        rows, cols = np.mgrid[r0:r0 + h, c0:c0 + w]
        bands = params["bandIds"]
        if bands == ["reference"]:
            arrays = {"reference": ((rows + cols) % 3).astype("uint8")}
        else:
            arrays = {b: self.value(rows, cols, i).astype("float32")
                      for i, b in enumerate(MODEL_BANDS)}
            arrays["clear_count"] = self.count(rows, cols)
        if self.fmt == "geotiff":
            import rasterio
            from rasterio.io import MemoryFile

            stack = np.stack([arrays[b].astype("float32") for b in bands])
            with MemoryFile() as mem:
                with mem.open(driver="GTiff", width=w, height=h, count=len(bands),
                              dtype="float32", crs=g["crsCode"],
                              transform=rasterio.Affine(10, 0, at["translateX"], 0, -10,
                                                        at["translateY"])) as dst:
                    dst.write(stack)
                return mem.read()
        rec = np.zeros((h, w), dtype=[(b, arrays[b].dtype) for b in bands])
        for b in bands:
            rec[b] = arrays[b]
        buf = io.BytesIO()
        np.save(buf, rec)
        return buf.getvalue()


def test_gee_fetch_scene_grid_chunks_and_exact_stitching(ee_api):
    grid = grid_for_aoi(BERLIN)
    server = FakeServer(grid.transform.c, grid.transform.f)
    ee.data.computePixels = server
    counted = []
    ee.data.computeValue = lambda obj: counted.append(graph(obj)) or 7
    progress = []
    scene = download.fetch_scene(BERLIN, max_chunk_side=37, progress=lambda d, t: progress.append((d, t)),
                                 retry=NO_WAIT)
    # the scene-count request asks for S2 scenes in 2018 over the AOI
    assert "COPERNICUS/S2_SR_HARMONIZED" in json.dumps(counted[0])
    # grid: UTM 33N, 10 m, whole-metre origin
    reqs = server.requests
    assert len(reqs) == len(download.plan_chunks(grid, 58, max_side=37)) > 4
    bpp = bytes_per_pixel(["float32"] * 11 + ["uint16"])
    for p in reqs:
        g = p["grid"]
        assert g["crsCode"] == "EPSG:32633"
        at = g["affineTransform"]
        assert (at["scaleX"], at["scaleY"], at["shearX"], at["shearY"]) == (10, -10, 0, 0)
        assert at["translateX"] % 10 == 0 and at["translateY"] % 10 == 0
        assert g["dimensions"]["width"] * g["dimensions"]["height"] * bpp <= REQUEST_LIMIT_BYTES
        assert p["fileFormat"] == "NPY" and p["bandIds"] == list(MODEL_BANDS) + ["clear_count"]
        assert {"COPERNICUS/S2_SR_HARMONIZED", "cs_cdf"} <= set(
            json.dumps(graph(p["expression"])).replace('"', " ").split())
    assert progress[0] == (0, len(reqs)) and progress[-1] == (len(reqs), len(reqs))
    # stitched exactly: every pixel holds its own absolute position
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    count = FakeServer.count(rows, cols)
    valid = count > 0
    assert scene.shape == (grid.height, grid.width)
    assert np.array_equal(scene.clear_count, count)
    assert np.array_equal(scene.valid, valid)
    for i in range(11):
        expected = np.where(valid, FakeServer.value(rows, cols, i), 0).astype("float32")
        assert np.array_equal(scene.reflectance[i], expected)
    assert scene.crs.to_epsg() == 32633
    assert tuple(scene.transform)[:6] == (10, 0, grid.transform.c, 0, -10, grid.transform.f)
    assert scene.reflectance.dtype == np.float32 and scene.band_names == MODEL_BANDS
    assert any("no clear observation" in n for n in scene.notes)
    # the reference for this scene comes on the very same grid
    ref = download.fetch_reference(scene, max_chunk_side=37, retry=NO_WAIT)
    assert ref.shape == scene.shape
    assert server.requests[-1]["bandIds"] == ["reference"]


def test_gee_fetched_scene_segments_directly(ee_api, tmp_path):
    """segment_scene runs on a GeeScene (tiny untrained UNet: checks wiring, not skill)."""
    from urbanseg_core.model.loading import LoadedModel, build_model
    from urbanseg_core.model.card import DEFAULT_CLASSES, Architecture, ModelCard, Normalisation
    from urbanseg_core.inference.pipeline import segment_scene

    small = from_bounds(13.30, 52.50, 13.305, 52.503)
    grid = grid_for_aoi(small)
    ee.data.computePixels = FakeServer(grid.transform.c, grid.transform.f)
    ee.data.computeValue = lambda obj: 3
    scene = download.fetch_scene(small, retry=NO_WAIT)
    scene.reflectance[:] = np.where(scene.valid, 0.1, 0).astype("float32")
    card = ModelCard(name="tiny", weights="none.pt", architecture=Architecture(base_width=4),
                     classes=DEFAULT_CLASSES, tile_size=32, overlap=8,
                     normalisation=Normalisation(mean=[0.0] * 15, std=[1.0] * 15))
    loaded = LoadedModel(build_model(card.architecture).eval(), card, Path("none.pt"), "0")
    seg = segment_scene(scene, loaded)
    assert seg.classes.shape == scene.shape
    assert (seg.classes[~scene.valid] == 255).all() and (seg.classes[scene.valid] <= 2).all()


def test_gee_reference_fetch_geotiff_answers(ee_api):
    grid = grid_for_aoi(BERLIN)
    server = FakeServer(grid.transform.c, grid.transform.f, fmt="geotiff")
    ee.data.computePixels = server
    ref = download.fetch_reference(BERLIN, grid=grid, max_chunk_side=50, retry=NO_WAIT)
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    assert ref.dtype == np.uint8 and np.array_equal(ref, (rows + cols) % 3)
    assert all(p["bandIds"] == ["reference"] for p in server.requests)
    assert "JRC/GHSL/P2023A/GHS_BUILT_C" in json.dumps(graph(server.requests[0]["expression"]))


def test_gee_retries_on_429_and_503_then_succeeds(ee_api):
    grid = grid_for_aoi(BERLIN)
    server = FakeServer(grid.transform.c, grid.transform.f, failures=[
        ee.EEException("Too many concurrent aggregations."),
        ee.EEException("503 Service Unavailable"),
        TimeoutError("The read operation timed out"),
    ])
    ee.data.computePixels = server
    waits: list[float] = []
    out = download.fetch_image(comp.composite(comp.ee_geometry(BERLIN)), grid,
                               comp.BAND_DTYPES, max_workers=1,
                               retry=RetryPolicy(max_tries=5, base_delay=1.0, max_delay=30.0),
                               sleep=waits.append)
    assert len(server.requests) == 4  # one chunk: three failures, then the answer
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0
    assert out["clear_count"].shape == (grid.height, grid.width)


def test_gee_real_client_http_429_then_npy(ee_api):
    """The real ee.data.computePixels and googleapiclient build the HTTP request; only the
    transport answers (a 429 JSON error, then NPY bytes)."""
    from googleapiclient.http import HttpMockSequence

    small = from_bounds(13.30, 52.50, 13.301, 52.501)
    grid = grid_for_aoi(small)
    rec = np.zeros((grid.height, grid.width),
                   dtype=[(b, np.dtype(d)) for b, d in comp.BAND_DTYPES.items()])
    rec["B4"], rec["clear_count"] = 0.05, 3
    buf = io.BytesIO()
    np.save(buf, rec)
    http = HttpMockSequence([
        ({"status": "429"}, json.dumps({"error": {
            "code": 429, "message": "Too many concurrent aggregations.",
            "status": "RESOURCE_EXHAUSTED"}}).encode()),
        ({"status": "200"}, buf.getvalue()),
    ])
    with apitestcase.UsingCloudApi(mock_http=http):
        ee.data.setMaxRetries(0)  # leave the retry to urbanseg
        out = download.fetch_image(comp.composite(comp.ee_geometry(small)), grid,
                                   comp.BAND_DTYPES, retry=NO_WAIT)
    sent = http.request_sequence  # (uri, method, body, headers) of each HTTP request
    assert len(sent) == 2 and all(uri.endswith("image:computePixels?") for uri, *_ in sent)
    body = json.loads(sent[-1][2])
    assert body["fileFormat"] == "NPY" and body["bandIds"] == list(comp.BAND_DTYPES)
    assert body["grid"] == pixel_grid(grid) and body["grid"]["crsCode"] == "EPSG:32633"
    assert out["B4"].shape == (grid.height, grid.width) and (out["B4"] == np.float32(0.05)).all()
    assert (out["clear_count"] == 3).all() and out["clear_count"].dtype == np.uint16


def test_gee_gives_up_with_plain_message_and_does_not_retry_fatal_errors(ee_api):
    grid = grid_for_aoi(BERLIN)
    image = comp.composite(comp.ee_geometry(BERLIN))
    server = FakeServer(grid.transform.c, grid.transform.f,
                        failures=[ee.EEException("503 Service Unavailable")] * 10)
    ee.data.computePixels = server
    with pytest.raises(EarthEngineError) as err:
        download.fetch_image(image, grid, comp.BAND_DTYPES, max_workers=1, retry=NO_WAIT,
                             sleep=lambda s: None)
    assert len(server.requests) == NO_WAIT.max_tries
    msg = str(err.value)
    assert "Try again in a few minutes" in msg and "after 4 tries" in msg
    assert "Traceback" not in msg
    # quota: retried, then a plain quota sentence
    ee.data.computePixels = FakeServer(grid.transform.c, grid.transform.f, failures=[
        ee.EEException("Quota exceeded: too many requests for project my-project.")] * 10)
    with pytest.raises(EarthEngineError, match="quota for this project is used up"):
        download.fetch_image(image, grid, comp.BAND_DTYPES, max_workers=1, retry=NO_WAIT)
    # memory limit: not retried
    server = FakeServer(grid.transform.c, grid.transform.f,
                        failures=[ee.EEException("User memory limit exceeded.")])
    ee.data.computePixels = server
    with pytest.raises(EarthEngineError, match="smaller area"):
        download.fetch_image(image, grid, comp.BAND_DTYPES, max_workers=1, retry=NO_WAIT)
    assert len(server.requests) == 1


def test_gee_empty_collection_and_all_cloudy_are_plain_messages(ee_api):
    grid = grid_for_aoi(BERLIN)
    server = FakeServer(grid.transform.c, grid.transform.f)
    ee.data.computePixels = server
    ee.data.computeValue = lambda obj: 0
    with pytest.raises(EarthEngineError, match="No Sentinel-2 image covers this area between "
                                               "2018-01-01 and 2019-01-01"):
        download.fetch_scene(BERLIN, retry=NO_WAIT)
    assert server.requests == []  # nothing fetched
    # images exist but every pixel is cloudy: count band all 0
    class Cloudy(FakeServer):
        @staticmethod
        def count(rows, cols):
            return np.zeros(rows.shape, "uint16")

    ee.data.computePixels = Cloudy(grid.transform.c, grid.transform.f)
    ee.data.computeValue = lambda obj: 12
    with pytest.raises(EarthEngineError, match="No clear .* 12 image"):
        download.fetch_scene(BERLIN, retry=NO_WAIT)
    # a server-side "no bands" failure reads the same way
    ee.data.computePixels = FakeServer(grid.transform.c, grid.transform.f, failures=[ee.EEException(
        "Image.select: Pattern 'B2' did not match any bands.")])
    ee.data.computeValue = lambda obj: 5
    with pytest.raises(EarthEngineError, match="No clear Sentinel-2 image"):
        download.fetch_scene(BERLIN, retry=NO_WAIT)


def test_gee_not_initialised_is_plain(ee_api):
    ee.Reset()
    with pytest.raises(EarthEngineError, match="Not connected to Earth Engine"):
        download.fetch_scene(BERLIN)
    with pytest.raises(EarthEngineError, match="earthengine authenticate"):
        layers.ghsl_source()


# --------------------------------------------------------------------------- export / layers

def test_gee_export_pair_tasks_drive_and_gcs(ee_api):
    started: list[dict] = []
    ids = iter(f"TASK{i}" for i in range(100))
    ee.data.newTaskId = lambda count=1: [next(ids)]

    def fake_export(request_id, params):
        started.append(params)
        return {"name": f"projects/my-project/operations/{request_id}"}

    ee.data.exportImage = fake_export
    grid = grid_for_aoi(BERLIN)
    t_img, t_msk = export.export_pair(BERLIN, folder="pairs")
    assert (t_img.id, t_msk.id) == ("TASK0", "TASK1")
    drive = [p["fileExportOptions"]["driveDestination"] for p in started]
    assert drive == [{"folder": "pairs", "filenamePrefix": "berlin_image"},
                     {"folder": "pairs", "filenamePrefix": "berlin_mask"}]
    assert started[1]["fileExportOptions"]["geoTiffOptions"]["noData"] == {"floatValue": 255.0}
    for p in started:
        assert p["fileExportOptions"]["fileFormat"] == "GEO_TIFF"
        g = json.dumps(graph(p["expression"]))
        x0, y0 = grid.transform.c, grid.transform.f
        assert "EPSG:32633" in g and f"[10.0, 0.0, {x0}, 0.0, -10.0, {y0}]" in g
        assert f"[0, 0, {grid.width}, {grid.height}]" in g  # dimensions
    assert "COPERNICUS/S2_SR_HARMONIZED" in json.dumps(graph(started[0]["expression"]))
    assert "JRC/GHSL/P2023A/GHS_BUILT_C" in json.dumps(graph(started[1]["expression"]))
    img_sel = [constants(a, "bandSelectors") for n, a in invocations(started[0]["expression"])
               if n == "Image.select"]
    assert img_sel[0] == list(MODEL_BANDS)  # outermost select: no count band exported
    started.clear()
    task = export.export_composite(BERLIN, "big", "gcs", "exports", bucket="my-bucket")
    dest = started[0]["fileExportOptions"]["cloudStorageDestination"]
    assert dest == {"bucket": "my-bucket", "filenamePrefix": "exports/big_image"}
    assert task.location == "gs://my-bucket/exports"
    with pytest.raises(Exception, match="bucket"):
        export.export_composite(BERLIN, "big", "gcs", "exports", bucket=None)


def test_gee_task_status_messages(ee_api):
    ee.data.getTaskStatus = lambda ids: [
        {"id": ids[0], "state": "COMPLETED", "description": "berlin_image",
         "destination_uris": ["https://drive.google.com/x"]},
        {"id": ids[1], "state": "FAILED", "description": "berlin_mask",
         "error_message": "Export too large."},
    ]
    done, failed = export.task_status(["A", "B"])
    assert done.done and done.message == ("Export berlin_image has finished. Output: "
                                          "https://drive.google.com/x")
    assert failed.done and "failed" in failed.message and "Export too large." in failed.message


def test_gee_layer_sources_describe_the_images_and_send_nothing(ee_api):
    tc = layers.true_colour_source(BERLIN, "2018-01-01", "2019-01-01", 0.6)
    assert "COPERNICUS/S2_SR_HARMONIZED" in json.dumps(graph(tc.image))
    assert tc.vis == layers.TRUE_COLOUR_VIS and tc.name == "Sentinel-2 median 2018"
    assert tc.legend == ()
    gh = layers.ghsl_source(BERLIN)
    assert "JRC/GHSL/P2023A/GHS_BUILT_C" in json.dumps(graph(gh.image))
    assert "CC BY 4.0" in gh.attribution
    assert [name for name, _ in gh.legend] == ["non-residential", "residential"]
    assert gh.vis["palette"] == [c.lstrip("#") for _, c in gh.legend]  # legend = map colours
    assert ee_api.last_mapid_call is None  # map ids are asked for by the app (geemap)


def test_gee_cli_export_pairs_local_writes_training_layout(ee_api, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import urbanseg_core.gee.auth as auth
    from urbanseg_core.cli import app

    monkeypatch.setattr(auth, "connect", lambda *a, **k: auth.Connection(
        True, "my-project", "Connected to Earth Engine project my-project"))
    aois = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "berlin"},
         "geometry": BERLIN.to_geojson()}]}
    path = tmp_path / "aois.geojson"
    path.write_text(json.dumps(aois))
    grid = grid_for_aoi(BERLIN)
    ee.data.computePixels = FakeServer(grid.transform.c, grid.transform.f)
    ee.data.computeValue = lambda obj: 4
    out = tmp_path / "pairs"
    res = CliRunner().invoke(app, ["gee-export-pairs", str(path), "--out-folder", str(out),
                                   "--local"])
    assert res.exit_code == 0, res.output
    image, mask = out / "berlin_image.tif", out / "berlin_mask.tif"
    assert image.exists() and mask.exists()
    scene = read_scene(image)
    assert scene.band_names == MODEL_BANDS  # read from the band descriptions
    import rasterio

    with rasterio.open(mask) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255 and src.crs.to_epsg() == 32633
        rows, cols = np.mgrid[0:grid.height, 0:grid.width]
        assert np.array_equal(src.read(1), (rows + cols) % 3)
    # gee-fetch: the composite and reference of one AOI as GeoTIFFs on the same grid
    one = tmp_path / "berlin.geojson"
    one.write_text(json.dumps(aois["features"][0]))
    res = CliRunner().invoke(app, ["gee-fetch", str(one), "-o", str(tmp_path / "s.tif"),
                                   "--reference", str(tmp_path / "r.tif"), "--reducer", "mean"])
    assert res.exit_code == 0, res.output
    fetched = read_scene(tmp_path / "s.tif")
    assert np.array_equal(fetched.reflectance, scene.reflectance)
    assert fetched.transform == scene.transform
    res = CliRunner().invoke(app, ["gee-fetch", str(one), "-o", str(tmp_path / "t.tif"),
                                   "--reducer", "max"])
    assert res.exit_code == 2 and "use one of median, mean" in res.output
    # missing bucket / conflicting options are one plain line, exit 2
    res = CliRunner().invoke(app, ["gee-export-pairs", str(path), "--out-folder", "x",
                                   "--local", "--bucket", "b"])
    assert res.exit_code == 2 and "not both" in res.output
