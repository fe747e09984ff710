"""``urbanseg adapt``: a model other commands use, refusals in plain words, Ctrl-C, Earth
Engine (offline, the downloads replaced by arrays)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import learnable_scene, load_once, write_geotiff
from urbanseg_core.gee.download import GeeScene
from urbanseg_core.io.scene import read_scene
from urbanseg_core.model.card import read_card
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.training.adapt import inputs as inputs_module
from urbanseg_core.training.adapt import loop as loop_module
from urbanseg_core.training.adapt.loop import AdaptResult

FAST = ["--minutes", "0.5", "--threads", "1"]


@pytest.fixture
def adapt_cli(cli, monkeypatch):
    """The ``cli`` runner, with the adaptation made small and fast (64 px crops, 10 steps,
    2 checks) and models loaded once per session."""
    monkeypatch.setattr("urbanseg_core.cli.adapt.load_model", load_once)
    original = loop_module.AdaptSettings

    def small(**kwargs):
        return original(**{**kwargs, "crop_size": 64, "batch_size": 4, "max_steps": 10,
                           "checks": 2})

    monkeypatch.setattr(loop_module, "AdaptSettings", small)
    return cli


def test_adapt_writes_a_model_that_predict_and_evaluate_use(adapt_cli, learnable_files,
                                                            tiny_model_path, tmp_path):
    image, reference = learnable_files
    out = tmp_path / "my-model.json"
    res = adapt_cli("adapt", image, reference, "-o", out, "--model", tiny_model_path, *FAST)
    assert res.returncode == 0, res.stderr
    assert "Model written" in res.stdout and "-> adapted" in res.stdout
    card = read_card(out)
    assert card.parent["name"] == "tiny-test" and (tmp_path / "my-model.pt").exists()
    assert card.training_data[0]["image"] == "region.tif"
    mask = tmp_path / "mask.tif"
    res = adapt_cli("predict", image, "-o", mask, "--model", out)
    assert res.returncode == 0, res.stderr
    assert "Model my-model" in res.stdout
    res = adapt_cli("evaluate", image, reference, "--model", out, "--json")
    assert json.loads(res.stdout)["model"] == "my-model"


def test_adapt_json_reports_before_and_after(adapt_cli, learnable_files, tiny_model_path,
                                             tmp_path):
    res = adapt_cli("adapt", *learnable_files, "-o", tmp_path / "m.json", "--model",
                    tiny_model_path, "--json", *FAST)
    payload = json.loads(res.stdout)
    assert payload["accepted"] is True
    assert (payload["validation_after"]["macro_builtup_present"]
            > payload["validation_before"]["macro_builtup_present"])


def test_adapt_refuses_a_model_no_better_than_its_parent(adapt_cli, learnable_files,
                                                         tiny_model_path, tmp_path,
                                                         monkeypatch):
    monkeypatch.setattr(AdaptResult, "accepted", property(lambda self: False))
    res = adapt_cli("adapt", *learnable_files, "-o", tmp_path / "m.json", "--model",
                    tiny_model_path, *FAST)
    assert res.returncode == 2
    assert ("no better than tiny-test" in res.stderr
            or "within the block's own variation" in res.stderr)
    assert "was not saved" in res.stderr
    assert "--minutes" in res.stderr and "Traceback" not in res.stderr
    assert not list(tmp_path.glob("m.*"))


def test_ctrl_c_during_adaptation_leaves_no_model(adapt_cli, learnable_files,
                                                  tiny_model_path, tmp_path, monkeypatch):
    steps = []
    original = loop_module._train_step

    def step(sess, lr):
        steps.append(lr)
        if len(steps) == 3:
            raise KeyboardInterrupt
        return original(sess, lr)

    monkeypatch.setattr(loop_module, "_train_step", step)
    out = tmp_path / "out"
    out.mkdir()
    res = adapt_cli("adapt", *learnable_files, "-o", out / "m.json", "--model",
                    tiny_model_path, *FAST)
    assert res.returncode != 0
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    ([], "at least one IMAGE REFERENCE pair"),
    (["IMG"], "in pairs"),
    (["IMG", "REF", "--reference-codes", "osm"], "--reference-codes must be one of"),
    (["IMG", "REF", "-o", "model.pt"], "ending in .json"),
])
def test_adapt_argument_mistakes_get_a_plain_message(adapt_cli, learnable_files, tmp_path,
                                                     args, message):
    image, reference = learnable_files
    names = {"IMG": str(image), "REF": str(reference)}
    args = [names.get(a, a) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "m.json")]
    res = adapt_cli("adapt", *args)
    assert res.returncode == 2 and message in res.stderr, res.stderr


def test_a_reference_without_built_up_area_gets_a_plain_message(adapt_cli, learnable_files,
                                                               tiny_model_path, tmp_path):
    image, _ = learnable_files
    reference = write_geotiff(tmp_path / "fields.tif", np.ones((1, 192, 192), "uint8"),
                              nodata=0)
    res = adapt_cli("adapt", image, reference, "-o", tmp_path / "m.json", "--model",
                    tiny_model_path, "--reference-codes", "esm")
    assert res.returncode == 2
    assert "no built-up pixels" in res.stderr and "Traceback" not in res.stderr


def test_adapt_on_an_earth_engine_area_uses_its_ghsl_reference(adapt_cli, learnable_files,
                                                               tiny_model_path, tmp_path,
                                                               monkeypatch):
    image, _ = learnable_files
    scene = read_scene(image)
    _, labels = learnable_scene()
    fetched = GeeScene(scene.reflectance, scene.valid, scene.crs, scene.transform,
                       "Earth Engine", MODEL_BANDS, [], clear_count=None)
    monkeypatch.setattr(inputs_module, "fetch_scene", lambda aoi, *a, **k: fetched)
    monkeypatch.setattr(inputs_module, "fetch_reference", lambda s, **k: labels)
    monkeypatch.setattr("urbanseg_core.cli.adapt.connect", lambda: "my-project")
    aoi = tmp_path / "area.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [[
        [13.0, 52.0], [13.02, 52.0], [13.02, 52.02], [13.0, 52.02], [13.0, 52.0]]]}))
    out = tmp_path / "ee.json"
    res = adapt_cli("adapt", "--aoi", aoi, "-o", out, "--model", tiny_model_path,
                    "--start", "2019-01-01", "--end", "2020-01-01", *FAST)
    assert res.returncode == 0, res.stderr
    data = read_card(out).training_data[0]
    assert data["reference_codes"] == "ghsl" and "GHS_BUILT_C" in data["reference"]
    assert "2019-01-01 to 2020-01-01" in data["image"]
