"""The run manifest and the statistics CSV."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from urbanseg_core.evaluation.areas import class_areas
from urbanseg_core.evaluation.manifest import build_manifest, manifest_bytes, scrub
from urbanseg_core.evaluation.report import stats_csv, stats_rows

from ..conftest import NAMES, T, UTM33



def test_manifest_records_inputs_model_versions_and_drops_secrets():
    m = build_manifest(
        source={"kind": "upload", "name": "a.tif", "sha256": "ab" * 32},
        model={"name": "m", "sha256": "cd" * 32},
        parameters={"tile_size": 256, "gee": {"service_account_key": "-----BEGIN PRIVATE",
                                             "project": "p"}},
        results={"built_up_share": 0.25}, aoi={"geometry": None},
        dates={"start": "2024-01-01", "end": "2024-06-30", "api_token": "x"})
    text = manifest_bytes(m).decode()
    assert "BEGIN PRIVATE" not in text and "api_token" not in text
    assert m["parameters"]["gee"] == {"project": "p"}
    assert m["software"]["packages"]["torch"] == __import__("torch").__version__
    assert m["source"]["sha256"] == "ab" * 32 and m["model"]["sha256"] == "cd" * 32
    assert json.loads(text)["dates"] == {"start": "2024-01-01", "end": "2024-06-30"}


def test_scrub_is_recursive_and_keeps_ordinary_keys():
    assert scrub({"a": [{"password": 1, "b": 2}], "clientId": 3, "Token": 4, "c": 5}) == {
        "a": [{"b": 2}], "c": 5}


def test_manifest_writes_nan_as_null():
    m = build_manifest(source={}, model={}, parameters={}, results={"dice": math.nan})
    assert json.loads(manifest_bytes(m))["results"]["dice"] is None


def test_csv_holds_areas_shares_and_scores():
    classes = np.array([[0, 0, 1, 2], [2, 2, 255, 255]], dtype="uint8")
    stats = class_areas(classes, UTM33, T, NAMES)   # 6 valid px of 100 m²
    metrics = {"per_class": {"other": {"dice": 0.5, "iou": 1 / 3, "precision": math.nan,
                                       "recall": 1.0, "support_px": 2}},
               "dice_weighted": 0.75}
    rows = list(csv.DictReader(io.StringIO(stats_csv(stats, metrics).decode())))
    get = {(r["section"], r["class"], r["metric"]): r["value"] for r in rows}
    assert float(get[("area", "residential", "area")]) == pytest.approx(3e-4)   # 3 px
    assert float(get[("area", "residential", "share_of_valid")]) == pytest.approx(50.0)
    assert float(get[("area", "built-up", "built_up_share")]) == pytest.approx(66.67)
    assert float(get[("area", "all", "nodata_area")]) == pytest.approx(2e-4)
    assert get[("agreement", "other", "precision")] == ""          # NaN: undefined
    assert float(get[("agreement", "all", "dice_weighted")]) == 0.75
    assert len(stats_rows(stats)) == 3 * 3 + 3
