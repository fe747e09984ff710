"""The bundled model on real held-out data (skipped when ../shared/data is absent).

The Islamabad held-out block's *test* half (never trained on, not used to pick the
checkpoint) is predicted with the bundled model and scored against the GHSL labels. The
thresholds sit slightly below the values measured when the model was trained (see the model
card's ``metrics.islamabad_holdout_test``), and well above the all-"other" baseline (binary
built-up Dice 0).
"""

import json

import numpy as np
import pytest
import rasterio

from urbanseg_core.evaluation.metrics import evaluate_maps
from urbanseg_core.inference.pipeline import segment_scene
from urbanseg_core.io.stacking import write_stack
from urbanseg_core.model.loading import DEFAULT_CARD

pytestmark = pytest.mark.realdata

#: Measured on the test half when the bundled model was trained, minus a margin.
MIN_BINARY_BUILTUP_DICE = 0.89  # measured 0.917
MIN_RESIDENTIAL_DICE = 0.88  # measured 0.910


@pytest.fixture(scope="module")
def islamabad_test_block():
    from ..conftest import SHARED_DATA

    if not (SHARED_DATA / "islamabad_ghsl").is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    from urbanseg_core.model.card import read_card
    from urbanseg_core.training.config import HoldoutBlock
    from urbanseg_core.training.datasets import holdout_rect, load_islamabad

    card = read_card(DEFAULT_CARD)
    src = next(s for s in card.training["config"]["sources"] if s["type"] == "islamabad")
    block = HoldoutBlock(**src["holdout"])
    r0, r1, c0, c1 = holdout_rect(block, (3660, 3660), buffer=False)
    # read only the test half of the held-out block (columns left of split_col)
    isb = load_islamabad(SHARED_DATA, slice(r0, r1), slice(c0, block.split_col))
    return isb, slice(0, r1 - r0), slice(0, block.split_col - c0)


def test_bundled_model_beats_baseline_on_islamabad_holdout(islamabad_test_block, bundled_model):
    isb, rows, cols = islamabad_test_block
    scene = isb.scene(rows, cols)
    ref = isb.label[rows, cols]
    seg = segment_scene(scene, bundled_model)
    m = evaluate_maps(seg.classes, ref)
    other = evaluate_maps(np.where(scene.valid, 0, 255).astype("uint8"), ref)
    assert other["dice_binary_builtup"] == 0.0
    assert m["dice_binary_builtup"] >= MIN_BINARY_BUILTUP_DICE
    assert m["per_class"]["residential"]["dice"] >= MIN_RESIDENTIAL_DICE
    assert m["dice_weighted"] > other["dice_weighted"]


def test_cli_evaluate_json_on_real_crop(cli, islamabad_test_block, bundled_model, tmp_path):
    isb, rows, cols = islamabad_test_block
    r, c = rows.start, cols.start
    transform = isb.transform * rasterio.Affine.translation(c, r)
    image = write_stack(tmp_path / "crop.tif", isb.dn[:, r:r + 384, c:c + 384], isb.crs,
                        transform)
    ref_path = tmp_path / "ref.tif"
    with rasterio.open(ref_path, "w", driver="GTiff", height=384, width=384, count=1,
                       dtype="uint8", crs=isb.crs, transform=transform, nodata=255) as dst:
        dst.write(isb.label[r:r + 384, c:c + 384], 1)
    res = cli("evaluate", image, ref_path, "--json", "--dn-offset", "-1000",
              "--reference-codes", "index")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["valid_px"] == 384 * 384
    expected = evaluate_maps(
        segment_scene(isb.scene(slice(r, r + 384), slice(c, c + 384)), bundled_model).classes,
        isb.label[r:r + 384, c:c + 384])
    assert out["confusion_matrix"] == expected["confusion_matrix"]
