"""`urbanseg batch` on a real dask LocalCluster (2 worker processes, 1 thread each).

One cluster serves the whole module (process start-up is the slow part). The model is a tiny
random UNet whose output layer is scaled up so that its class map is spatially busy (all
three classes, thousands of class edges): a mosaic that mishandled tile margins, offsets or
seams would disagree with the single-process prediction in many pixels.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import from_bounds
from typer.testing import CliRunner

from urbanseg_core.batch import aoi_input, file_input, run_batch
from urbanseg_core.cli import app
from urbanseg_core.evaluation.areas import class_areas
from urbanseg_core.inference.features import add_indices, channel_statistics
from urbanseg_core.inference.pipeline import segment_file
from urbanseg_core.io.sample import SAMPLE_SCENE
from urbanseg_core.io.scene import read_scene
from urbanseg_core.model.card import (DEFAULT_CLASSES, Architecture, ModelCard, Normalisation,
                                      write_card)
from urbanseg_core.model.loading import load_model
from urbanseg_core.model.unet import UNet
from urbanseg_core.util import sha256_file

distributed = pytest.importorskip("distributed")

SHARED = Path(os.environ.get("URBANSEG_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
SAMPLE_TILE_KM = 2.0  # 1 model stride (384 px tiles, 192 px overlap: 1.92 km): 3 x 4 tiles
SAMPLE_TILES = 12  # batch tiles on the sample


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A random UNet(15, 3, base_width=4) card, normalised with the sample's statistics."""
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = UNet(15, 3, base_width=4, align_corners=False)
    state = net.state_dict()
    state["outc.conv.weight"] *= 1000.0  # random features -> busy, three-class maps
    state["outc.conv.bias"].zero_()
    torch.save(state, folder / "tiny.pt")
    scene = read_scene(SAMPLE_SCENE)
    mean, std = channel_statistics(add_indices(scene.reflectance[None, :, ::8, ::8]),
                                   scene.valid[None, ::8, ::8])
    card = ModelCard(name="tiny-random", weights="tiny.pt", sha256=sha256_file(folder / "tiny.pt"),
                     architecture=Architecture(base_width=4, align_corners=False),
                     normalisation=Normalisation(method="standardize", mean=mean, std=std),
                     classes=DEFAULT_CLASSES, tile_size=96)  # 384 px tiles chosen
    write_card(card, folder / "tiny.json")
    return folder / "tiny.json"


@pytest.fixture(scope="module")
def client():
    """LocalCluster with 2 worker processes x 1 thread (what `urbanseg batch` starts)."""
    from urbanseg_core.batch import local_cluster

    cluster = local_cluster(2)
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


@pytest.fixture(scope="module")
def one_thread():
    """Single-process references with 1 torch thread, like each batch worker."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _predict_reference(path: Path, model: Path) -> np.ndarray:
    """What `urbanseg predict` computes for the file (single process)."""
    return segment_file(path, load_model(model)).classes


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _tile_hashes(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.glob("*.tif"))}


def _agreement(mosaic: np.ndarray, reference: np.ndarray) -> float:
    assert mosaic.shape == reference.shape
    return float((mosaic == reference).mean())


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, tiny_model, client, one_thread):
    """One complete batch of the sample scene, and the single-process reference."""
    out = tmp_path_factory.mktemp("sample_batch")
    result = run_batch([file_input(SAMPLE_SCENE)], out, model=tiny_model, tile_km=SAMPLE_TILE_KM,
                       client=client, threads=1, progress=False)
    reference = _predict_reference(SAMPLE_SCENE, tiny_model)
    return out, result, reference


def test_sample_mosaic_matches_single_process_predict(sample_run, tiny_model):
    out, result, reference = sample_run
    counts = np.bincount(reference.ravel(), minlength=256)
    assert (counts[:3] > 0.05 * reference.size).all(), "reference map is not busy enough"
    assert result.tiles == SAMPLE_TILES == result.computed and result.skipped == 0
    mosaic_path = result.mosaics["sample_t33uuu_2017-02-16"]
    mosaic = _read(mosaic_path)
    agreement = _agreement(mosaic, reference)
    print(f"sample: batch mosaic agrees with single-process predict on {100 * agreement:.4f}% "
          f"of {reference.size} px")
    assert agreement >= 0.9999
    with rasterio.open(mosaic_path) as src:  # a georeferenced COG with colour table
        assert src.crs.to_epsg() == 32633 and src.transform.c == 330000
        assert src.overviews(1) and src.colormap(1)[2][:3] == (0xE6, 0x9F, 0x00)
        assert src.nodata == 255 and src.profile["tiled"]
        mosaic_crs, mosaic_transform = src.crs, src.transform
    with rasterio.open(SAMPLE_SCENE) as src:
        assert (src.transform, src.shape) == (mosaic_transform, mosaic.shape)
    # statistics table: totals equal the areas of the mosaic computed in one go
    stats = class_areas(mosaic, mosaic_crs, mosaic_transform)
    lines = (out / "stats.csv").read_text().splitlines()
    assert len(lines) == 1 + SAMPLE_TILES + 1  # header, tiles, TOTAL
    total = dict(zip(lines[0].split(","), lines[-1].split(",")))
    assert total["tile"] == "TOTAL"
    for c in stats.classes:
        assert float(total[f"{c.name}_km2"]) == pytest.approx(c.area_km2, abs=1e-5)
        assert float(total[f"{c.name}_share"]) == pytest.approx(c.share_of_valid, abs=1e-5)
    manifest = json.loads((out / "batch.json").read_text())
    assert manifest["results"]["computed"] == SAMPLE_TILES
    assert manifest["parameters"]["margin_px"] == 96  # half the 192 px blending overlap
    assert manifest["results"]["reused"] == 0
    (total_json,) = manifest["results"]["totals"]  # numbers, as in stats.csv's TOTAL row
    assert total_json["valid_km2"] == pytest.approx(float(total["valid_km2"]))
    assert isinstance(total_json["built_up_share"], float) and total_json["left"] == 330000


def test_rerun_skips_verified_tiles_and_redoes_damaged_ones(sample_run, tiny_model, client,
                                                          tmp_path):
    src_out, _, _ = sample_run
    out = tmp_path / "resume"
    shutil.copytree(src_out, out)
    tiles = out / "sample_t33uuu_2017-02-16" / "tiles"
    before = _tile_hashes(tiles)
    mosaic_before = _read(out / "sample_t33uuu_2017-02-16" / "mosaic.tif")
    stats_before = (out / "stats.csv").read_bytes()
    names = sorted(p.stem for p in tiles.glob("*.tif"))
    truncated, no_sidecar, bad_sidecar, other_model = names[1], names[4], names[7], names[11]
    data = (tiles / f"{truncated}.tif").read_bytes()
    (tiles / f"{truncated}.tif").write_bytes(data[: len(data) // 2])  # partial write
    (tiles / f"{no_sidecar}.json").unlink()  # killed between tile and sidecar
    (tiles / f"{bad_sidecar}.json").write_text('{"format": ')  # half-written sidecar
    rec = json.loads((tiles / f"{other_model}.json").read_text())
    rec["model_sha256"] = "0" * 64  # made by another model
    (tiles / f"{other_model}.json").write_text(json.dumps(rec))
    (tiles / f".{names[0]}.tif.999.dead.tmp").write_bytes(b"left by a killed worker")
    for suffix in (".tif", ".json"):  # a tile of an earlier run with another --tile-km
        shutil.copy(tiles / f"{names[2]}{suffix}", tiles / f"r000032_c000416{suffix}")
    (tiles / "notes.txt").write_text("the user's own file")
    (out / "sample_t33uuu_2017-02-16" / "mosaic.tif").unlink()
    redone: list[str] = []
    result = run_batch([file_input(SAMPLE_SCENE)], out, model=tiny_model,
                       tile_km=SAMPLE_TILE_KM, client=client, threads=1, progress=False,
                       on_tile_done=lambda r: redone.append(r["tile"]))
    assert sorted(redone) == sorted([truncated, no_sidecar, bad_sidecar, other_model])
    assert (result.computed, result.skipped) == (4, SAMPLE_TILES - 4)
    assert _tile_hashes(tiles) == before  # identical tiles, no stray or stale tile files
    assert not list(tiles.glob(".*.tmp")) and not list(tiles.glob("r000032_c000416.*"))
    assert (tiles / "notes.txt").exists()
    np.testing.assert_array_equal(_read(out / "sample_t33uuu_2017-02-16" / "mosaic.tif"),
                                  mosaic_before)
    assert (out / "stats.csv").read_bytes() == stats_before


def test_interrupted_run_resumes_to_identical_output(sample_run, tiny_model, client, tmp_path):
    src_out, _, _ = sample_run
    out = tmp_path / "interrupted"
    seen: list[str] = []

    def crash_after_three(record):
        seen.append(record["tile"])
        if len(seen) == 3:
            raise SimulatedCrash  # the user pressed Ctrl-C / the client machine died

    with pytest.raises(SimulatedCrash):
        run_batch([file_input(SAMPLE_SCENE)], out, model=tiny_model, tile_km=SAMPLE_TILE_KM,
                  client=client, threads=1, progress=False, on_tile_done=crash_after_three)
    _wait_idle(client)
    tiles = out / "sample_t33uuu_2017-02-16" / "tiles"
    finished = {p.stem for p in tiles.glob("*.json")}
    assert len(finished) >= 3 and not (out / "stats.csv").exists()
    result = run_batch([file_input(SAMPLE_SCENE)], out, model=tiny_model,
                       tile_km=SAMPLE_TILE_KM, client=client, threads=1, progress=False)
    # tiles finished by abandoned tasks after the listing above are reused too
    assert result.skipped >= len(finished) and result.computed + result.skipped == SAMPLE_TILES
    assert result.computed >= 1
    assert _tile_hashes(tiles) == _tile_hashes(src_out / "sample_t33uuu_2017-02-16" / "tiles")
    np.testing.assert_array_equal(_read(result.mosaics["sample_t33uuu_2017-02-16"]),
                                  _read(src_out / "sample_t33uuu_2017-02-16" / "mosaic.tif"))
    assert (out / "stats.csv").read_bytes() == (src_out / "stats.csv").read_bytes()


class SimulatedCrash(Exception):
    """Raised from a progress callback to abort a run midway."""


def _wait_idle(client, timeout: float = 60.0) -> None:
    """Wait until no task is processing on the cluster (abandoned tasks finish or go)."""
    def busy(dask_scheduler):
        return sum(len(ws.processing) for ws in dask_scheduler.workers.values())

    deadline = time.monotonic() + timeout
    while client.run_on_scheduler(busy) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.realdata
def test_oscd_city_mosaic_matches_single_process_predict(tmp_path, tiny_model, client, one_thread,
                                                         sample_run):
    from urbanseg_core.io.bandfolder import stack_folder

    city = SHARED / "oscd_cities" / "milano" / "imgs_1"
    if not city.is_dir():
        pytest.skip(f"OSCD data not found at {city}")
    stack, _ = stack_folder(city, tmp_path / "milano.tif")
    # two inputs in one run (two grids, one statistics table); the sample's tiles are reused
    src_out, sample_result, _ = sample_run
    out = tmp_path / "out"
    shutil.copytree(src_out / "sample_t33uuu_2017-02-16", out / "sample_t33uuu_2017-02-16")
    result = run_batch([file_input(stack), file_input(SAMPLE_SCENE)], out, model=tiny_model,
                       tile_km=2.0, client=client, threads=1, progress=False)
    reference = _predict_reference(stack, tiny_model)
    mosaic = _read(result.mosaics["milano"])
    agreement = _agreement(mosaic, reference)
    print(f"OSCD milano {reference.shape}: agreement {100 * agreement:.4f}%")
    # milano's tiles are computed, the sample's finished tiles reused
    milano_tiles = result.tiles - SAMPLE_TILES
    assert milano_tiles >= 1 and (result.computed, result.skipped) == (milano_tiles,
                                                                       SAMPLE_TILES)
    assert set(result.mosaics) == {"milano", "sample_t33uuu_2017-02-16"}
    totals = {r["input"]: r for r in result.rows if r["tile"] == "TOTAL"}
    assert set(totals) == {"milano", "sample_t33uuu_2017-02-16", "ALL"}
    assert float(totals["ALL"]["valid_km2"]) == pytest.approx(
        float(totals["milano"]["valid_km2"]) + float(totals["sample_t33uuu_2017-02-16"]["valid_km2"]))
    assert (np.bincount(reference.ravel(), minlength=256)[:3] > 0).all()
    assert agreement >= 0.9999


def test_file_in_degrees_is_warped_and_matches_single_process_on_that_grid(
        tmp_path, tiny_model, client, one_thread):
    """A sample copy in EPSG:4326 is tiled on a 10 m UTM grid through a warped VRT; the
    mosaic equals a single-process prediction read through the same VRT."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from urbanseg_core.io.scene import BandFile
    from urbanseg_core.inference.predict import predict_source

    crop = tmp_path / "crop.tif"  # 600 x 900 px of the sample (54 km²)
    with rasterio.open(SAMPLE_SCENE) as src:
        window = rasterio.windows.Window(0, 0, 900, 600)
        profile = src.profile | {"width": 900, "height": 600,
                                 "transform": src.window_transform(window)}
        with rasterio.open(crop, "w", **profile) as dst:
            dst.write(src.read(window=window))
            dst.descriptions = src.descriptions
    geo = tmp_path / "sample_4326.tif"
    with rasterio.open(crop) as src, WarpedVRT(src, crs="EPSG:4326",
                                               resampling=Resampling.nearest) as vrt:
        profile = src.profile | {"crs": vrt.crs, "transform": vrt.transform,
                                 "width": vrt.width, "height": vrt.height}
        with rasterio.open(geo, "w", **profile) as dst:
            dst.write(vrt.read())
            dst.descriptions = src.descriptions
    inp = file_input(geo)
    result = run_batch([inp], tmp_path / "out", model=tiny_model, tile_km=2.0, client=client,
                       threads=1, progress=False)
    mosaic_path = result.mosaics["sample_4326"]
    with rasterio.open(mosaic_path) as src:
        assert src.crs.to_epsg() == 32633 and src.res == (10.0, 10.0)
        mosaic = src.read(1)
    vrt_path = tmp_path / "out" / "sample_4326" / "input_warped.vrt"
    reference = predict_source(BandFile(vrt_path), load_model(tiny_model))
    agreement = _agreement(mosaic, reference)
    layout = json.loads((tmp_path / "out" / "batch.json").read_text())["source"]["inputs"][0]
    print(f"EPSG:4326 input: {result.tiles} tiles of {layout['model_tile_size']} px model "
          f"tiles, agreement {100 * agreement:.4f}%")
    # predict chooses 384 px model tiles for this grid; batch tiles cut along that plan
    assert layout["model_tile_size"] == 384 and result.tiles >= 2
    assert agreement >= 0.9999
    total = next(r for r in result.rows if r["tile"] == "TOTAL")
    assert float(total["valid_km2"]) == pytest.approx(600 * 900 * 1e-4, rel=0.01)  # the crop's


def fake_fetch(bounds, crs, resolution, *, aoi, log_dir, delay=0.3):
    """Stands in for Earth Engine: the sample scene's pixels for the requested window, and a
    log line (start, end) per call so the test can check the rate limit."""
    started = time.time()
    with rasterio.open(SAMPLE_SCENE) as src:
        assert src.crs == crs and src.res == (resolution, resolution)
        win = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
    scene = read_scene(SAMPLE_SCENE, window=win)
    time.sleep(delay)
    with open(Path(log_dir) / f"{os.getpid()}-{started:.6f}.log", "w") as fh:
        fh.write(f"{started} {time.time()}\n")
    return scene


def _sample_aoi(folder: Path) -> Path:
    """A GeoJSON AOI (lon/lat) inside the sample scene's footprint."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = 332000, 5815500, 338000, 5819000  # 6 x 3.5 km: 256 px model tiles
    ring = [list(to_ll.transform(x, y)) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    aoi = folder / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    return aoi


def flaky_fetch(bounds, crs, resolution, *, aoi, marker):
    """Like :func:`fake_fetch`, but tiles east of x = 333000 fail while ``marker`` exists
    (Earth Engine quota exhausted midway through a run)."""
    from urbanseg_core.errors import EarthEngineError

    if Path(marker).exists() and bounds[0] > 333000:
        raise EarthEngineError("Earth Engine quota exceeded (simulated). Try again later.")
    with rasterio.open(SAMPLE_SCENE) as src:
        win = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
    return read_scene(SAMPLE_SCENE, window=win)


def test_failed_tiles_are_reported_and_a_rerun_completes(tmp_path, tiny_model, client, one_thread):
    from urbanseg_core.batch import BatchError

    marker = tmp_path / "quota-exhausted"
    marker.touch()
    inp = aoi_input(_sample_aoi(tmp_path), fetch=flaky_fetch, options={"marker": str(marker)})
    out = tmp_path / "out"
    with pytest.raises(BatchError, match="Rerun the same command") as err:
        run_batch([inp], out, model=tiny_model, tile_km=2.0, client=client, threads=1,
                  retries=0, progress=False)
    assert "quota exceeded" in str(err.value)
    tiles = out / "aoi" / "tiles"
    kept = {p.stem for p in tiles.glob("*.json")}
    assert kept and not (out / "aoi" / "mosaic.tif").exists() and not (out / "stats.csv").exists()
    assert json.loads((out / "batch.json").read_text())["results"]["failed"]
    marker.unlink()  # quota back
    redone: list[str] = []
    result = run_batch([inp], out, model=tiny_model, tile_km=2.0, client=client, threads=1,
                       progress=False, on_tile_done=lambda r: redone.append(r["tile"]))
    assert result.skipped == len(kept) and set(redone).isdisjoint(kept)
    assert result.computed == result.tiles - len(kept) >= 1
    assert (out / "aoi" / "mosaic.tif").exists() and (out / "stats.csv").exists()


def test_gee_path_fetches_each_tile_once_rate_limited(tmp_path, tiny_model, client, one_thread):
    """--aoi --gee with an injected fetch: each task fetches its own window; at most one
    fetch at a time (gee_concurrency=1) although 2 workers run; the mosaic equals a
    single-process prediction of the same window."""
    aoi = _sample_aoi(tmp_path)
    logs = tmp_path / "fetch-log"
    logs.mkdir()
    inp = aoi_input(aoi, fetch=fake_fetch, options={"log_dir": str(logs)})
    result = run_batch([inp], tmp_path / "out", model=tiny_model, tile_km=2.0, client=client,
                       threads=1, gee_concurrency=1, progress=False)
    calls = sorted(tuple(map(float, p.read_text().split())) for p in logs.iterdir())
    assert len(calls) == result.tiles >= 2  # one fetch per tile
    overlaps = sum(b[0] < a[1] - 1e-3 for a, b in zip(calls, calls[1:]))
    assert overlaps == 0, "two fetches ran at once despite gee_concurrency=1"
    grid = inp.grid
    with rasterio.open(SAMPLE_SCENE) as src:
        win = from_bounds(*grid.bounds, transform=src.transform).round_offsets().round_lengths()
        # the AOI grid lies on the sample's pixel grid
        assert abs(win.col_off - round(win.col_off)) < 1e-9 and win.width == grid.width
    window_file = tmp_path / "window.tif"
    with rasterio.open(SAMPLE_SCENE) as src:
        profile = src.profile | {"height": grid.height, "width": grid.width,
                                 "transform": grid.transform}
        with rasterio.open(window_file, "w", **profile) as dst:
            dst.write(src.read(window=win))
            dst.descriptions = src.descriptions
    reference = _predict_reference(window_file, tiny_model)
    agreement = _agreement(_read(result.mosaics["aoi"]), reference)
    print(f"--gee (fake fetch): {result.tiles} tiles, agreement {100 * agreement:.4f}%")
    assert agreement >= 0.9999


def test_cli_batch_on_a_running_scheduler_then_resume(tmp_path, tiny_model, client):
    runner = CliRunner()
    args = ["batch", "--sample", "-o", str(tmp_path / "runs" / "cli"), "--tile-km", "5",
            "--scheduler", client.scheduler.address, "--model", str(tiny_model)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "computed" in first.output and "mosaic.tif" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "0 computed" in second.output and "reused (verified)" in second.output


@pytest.mark.parametrize("args, message", [
    ([], "exactly one source"),
    (["--sample", "--aoi", "a.geojson", "--gee"], "exactly one source"),
    (["--aoi", "a.geojson"], "go together"),
    (["--sample", "--workers", "2", "--scheduler", "tcp://x:8786"], "not both"),
    (["--sample", "--workers", "0"], "at least 1"),
])
def test_cli_batch_refuses_bad_arguments_in_one_line(cli, tmp_path, args, message):
    result = cli("batch", *args, "-o", tmp_path / "o")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_batch_stacks_a_band_folder_with_its_declared_offset(tmp_path, tiny_model, client):
    """A folder of single-band files in a .SAFE product is stacked into OUTPUT/stacked/, read
    with the DN offset its MTD_MSIL2A.xml declares, segmented like `urbanseg predict` on the
    same folder, and a rerun reuses every tile (the stack is byte-identical)."""
    from ..io.test_bandfolder import band_folder, mtd_xml

    safe = tmp_path / "S2B_MSIL2A_20220801T100031_N0400_R122_T33UUU.SAFE"
    img = band_folder(safe / "GRANULE" / "L2A_T33UUU_A028000" / "IMG_DATA")
    (safe / "MTD_MSIL2A.xml").write_text(mtd_xml([-1000] * 13))
    out = tmp_path / "runs" / "folder"
    args = ["batch", str(img), "-o", str(out), "--scheduler", client.scheduler.address,
            "--model", str(tiny_model)]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "DN offset -1000 as declared in MTD_MSIL2A.xml" in first.output
    stack = out / "stacked" / "IMG_DATA.tif"
    inputs = json.loads((out / "batch.json").read_text())["source"]["inputs"]
    assert [(i["dn_offset"], i["band_folder"], i["path"]) for i in inputs] == [
        (-1000.0, str(img.resolve()), str(stack.resolve()))]
    predicted = tmp_path / "predict.tif"
    res = runner.invoke(app, ["predict", str(img), "-o", str(predicted), "--model",
                              str(tiny_model)])
    assert res.exit_code == 0, res.output
    assert _agreement(_read(out / "IMG_DATA" / "mosaic.tif"), _read(predicted)) >= 0.9999
    stack_bytes = stack.read_bytes()
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "0 computed" in second.output and stack.read_bytes() == stack_bytes


@pytest.mark.parametrize("case, message", [
    ("two folders of one name", "same name"), ("bands for a folder", "--bands does not apply"),
    ("missing", "does not exist"), ("zero tile km", "--tile-km must be a positive"),
    ("two images", "The folder two holds more than one B1 file")])
def test_cli_batch_refuses_band_folder_mistakes_before_creating_anything(cli, tmp_path, case,
                                                                         message):
    from ..io.test_bandfolder import band_folder

    a = band_folder(tmp_path / "a" / "IMG_DATA")
    args = {
        "two folders of one name": lambda: [a, band_folder(tmp_path / "b" / "IMG_DATA")],
        "bands for a folder": lambda: [a, "--bands", "B2,B3"],
        "missing": lambda: [tmp_path / "nowhere"],
        "zero tile km": lambda: [a, "--tile-km", "0"],
        "two images": lambda: [band_folder(band_folder(tmp_path / "two"),
                                           name="T33UUU_20180811T100031_{}.tif")],
    }[case]()
    result = cli("batch", *args, "-o", tmp_path / "o")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()  # nothing created for a refused run


def test_killed_worker_run_completes_with_identical_output(sample_run, tiny_model, client,
                                                           tmp_path):
    """SIGKILL one worker process after the first finished tile: the scheduler reruns its
    tasks elsewhere (the nanny restarts the worker) and the outputs equal a clean run's."""
    src_out, _, _ = sample_run
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed: list[int] = []

    def kill_once(record):
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    out = tmp_path / "killed"
    result = run_batch([file_input(SAMPLE_SCENE)], out, model=tiny_model, tile_km=SAMPLE_TILE_KM,
                       client=client, threads=1, progress=False, on_tile_done=kill_once)
    assert killed and result.computed == SAMPLE_TILES
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()  # the worker really died
    tiles = out / "sample_t33uuu_2017-02-16" / "tiles"
    assert _tile_hashes(tiles) == _tile_hashes(src_out / "sample_t33uuu_2017-02-16" / "tiles")
    assert not list(tiles.glob(".*.tmp"))
    np.testing.assert_array_equal(_read(result.mosaics["sample_t33uuu_2017-02-16"]),
                                  _read(src_out / "sample_t33uuu_2017-02-16" / "mosaic.tif"))
    assert (out / "stats.csv").read_bytes() == (src_out / "stats.csv").read_bytes()


def test_unreachable_scheduler_is_one_plain_line(cli, tmp_path, tiny_model, monkeypatch):
    from urbanseg_core.batch import cluster as batch_cluster

    monkeypatch.setattr(batch_cluster, "SCHEDULER_TIMEOUT", "1s")
    result = cli("batch", "--sample", "-o", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9",
                 "--model", tiny_model)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Error: Cannot reach the dask scheduler at tcp://127.0.0.1:9" in result.stderr


def test_local_run_is_threads_sharing_one_model_and_matches_predict(sample_run, tiny_model,
                                                                    tmp_path):
    """Without --scheduler, the workers are threads of this process (no worker process to
    start) that load the model once and share it; the mosaic is predict's class map."""
    from urbanseg_core.batch import worker

    _, _, reference = sample_run
    worker._MODELS.clear()
    result = run_batch([file_input(SAMPLE_SCENE)], tmp_path / "local", model=tiny_model,
                       tile_km=SAMPLE_TILE_KM, workers=2, progress=False)
    assert result.computed == SAMPLE_TILES
    assert [key[0] for key in worker._MODELS] == [str(tiny_model.resolve())]  # loaded once
    assert _agreement(_read(next(iter(result.mosaics.values()))), reference) >= 0.9999


def test_haze_card_tiles_get_the_whole_input_haze(tiny_model, tmp_path):
    """A card that removes haze: every tile is corrected with the haze of the whole input, as
    predict corrects the whole raster (a per-tile estimate would differ between tiles)."""
    card = json.loads(tiny_model.read_text())
    card["normalisation"]["haze"] = "dark_object"
    hazy = tiny_model.with_name("tiny-haze.json")
    hazy.write_text(json.dumps(card))
    result = run_batch([file_input(SAMPLE_SCENE)], tmp_path / "haze", model=hazy,
                       tile_km=SAMPLE_TILE_KM, workers=2, progress=False)
    reference = _predict_reference(SAMPLE_SCENE, hazy)
    assert _agreement(_read(next(iter(result.mosaics.values()))), reference) >= 0.9999


def test_engine_threads_share_out_the_cluster_threads():
    from urbanseg_core.batch.run import engine_threads

    assert [engine_threads(2, n) for n in (1, 2, 12)] == [2, 1, 1]
    assert engine_threads(8, 3) == 2 and engine_threads(1, 0) == 1


def test_a_single_tile_runs_here_without_a_cluster(tiny_model, tmp_path, monkeypatch):
    """One tile to compute: no cluster is started; the mosaic is predict's class map, the
    model runs with the run's threads, and a failing tile is retried, then reported."""
    from urbanseg_core.batch import BatchError, run as batch_run, worker
    from urbanseg_core.errors import InputError

    def no_cluster(*args):
        raise AssertionError("a cluster was started for one tile")

    monkeypatch.setattr(batch_run, "connect_client", no_cluster)
    worker._MODELS.clear()
    result = run_batch([file_input(SAMPLE_SCENE)], tmp_path / "one", model=tiny_model,
                       tile_km=100, workers=2, progress=False)
    assert result.tiles == result.computed == 1
    assert [key[2] for key in worker._MODELS] == [2]
    reference = _predict_reference(SAMPLE_SCENE, tiny_model)
    assert _agreement(_read(next(iter(result.mosaics.values()))), reference) >= 0.9999
    calls = []

    def failing(job):
        calls.append(job)
        raise InputError("the tile's file is damaged")

    monkeypatch.setattr(batch_run, "run_tile", failing)
    with pytest.raises(BatchError, match="the tile's file is damaged"):
        run_batch([file_input(SAMPLE_SCENE)], tmp_path / "fails", model=tiny_model,
                  tile_km=100, retries=2, progress=False)
    assert len(calls) == 3


def test_cli_batch_says_when_the_tile_side_differs_from_the_one_asked(cli, tmp_path, tiny_model):
    """The tiny model's tiles are 384 px with 192 px overlap: strides of 1.92 km; 2 km is
    close enough, 3 km becomes two strides (3.84 km) and the command says so."""
    close = cli("batch", "--sample", "-o", tmp_path / "a", "--tile-km", "2", "--model",
                tiny_model)
    assert close.returncode == 0 and "Note:" not in close.stderr
    rounded = cli("batch", "--sample", "-o", tmp_path / "b", "--tile-km", "3", "--model",
                  tiny_model)
    assert rounded.returncode == 0
    assert "tiles of 3.84 km, not 3 km" in rounded.stderr
