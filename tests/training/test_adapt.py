"""Adaptation (``urbanseg_core.training.adapt``): references that cannot teach, the held-back
block, the bounded and cancellable loop, and the card and files of an adapted model."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform, reproject
import torch

from tests.conftest import (CLASS_SPECTRA, learnable_scene, load_once, make_tiny_model,
                            write_geotiff)
from urbanseg_core.errors import (CancelledError, NotBetterError, ReferenceCodesError,
                                  ReferenceContentError, ReferenceError_)
from urbanseg_core.inference.pipeline import segment_scene
from urbanseg_core.io.scene import read_scene
from urbanseg_core.model.card import read_card, write_card
from urbanseg_core.model.loading import load_model
from urbanseg_core.sentinel2 import MODEL_BANDS, NODATA
from urbanseg_core.training.adapt import card as card_module
from urbanseg_core.training.adapt import loop as loop_module
from urbanseg_core.training.adapt import split as split_module
from urbanseg_core.training.adapt.card import adapted_card, save_adapted
from urbanseg_core.training.adapt.inputs import check_label, pair_from_arrays, read_pair
from urbanseg_core.training.adapt.loop import (AdaptResult, AdaptSettings, adapt,
                                               learning_rate, planned_checks, scene_haze)
from urbanseg_core.training.adapt.split import Block, plan_split, plan_splits

FAST = dict(minutes=2, threads=1, crop_size=64, batch_size=4, checks=2)


@pytest.fixture(scope="module")
def hazy_parent(tmp_path_factory):
    """A tiny model whose card removes each scene's haze (dark-object subtraction)."""
    folder = tmp_path_factory.mktemp("hazy")
    path = make_tiny_model(folder)
    card = read_card(path)
    card.normalisation.haze = "dark_object"
    write_card(card, path)
    return load_once(path)


@pytest.fixture
def pair(learnable_files):
    return read_pair(*learnable_files)


def blocks_label(shape=(300, 200), seed=1) -> np.ndarray:
    """Index labels in 10 px blocks (40 % other, 20 % non-residential, 40 % residential)."""
    rng = np.random.default_rng(seed)
    small = rng.choice(3, size=(shape[0] // 10, shape[1] // 10), p=[0.4, 0.2, 0.4])
    return np.kron(small, np.ones((10, 10))).astype("uint8")


# ------------------------------------------------------------------ references


def test_a_reference_without_built_up_pixels_is_refused_with_its_counts():
    label = np.zeros((100, 100), "uint8")
    with pytest.raises(ReferenceContentError, match="no built-up pixels") as info:
        check_label(label, "ref.tif")
    assert (info.value.labelled_px, info.value.built_up_px) == (10_000, 0)


def test_a_reference_that_barely_covers_the_image_is_refused():
    label = np.full((100, 100), NODATA, "uint8")
    label[:20, :20] = 2
    with pytest.raises(ReferenceContentError, match="labels only 400 pixels"):
        check_label(label, "ref.tif")


def test_read_pair_converts_codes_and_masks_the_image_nodata(learnable_files, tmp_path):
    image, reference = learnable_files
    dn, labels = learnable_scene()
    dn[:, :10, :] = 0  # a nodata strip
    image = write_geotiff(tmp_path / "holes.tif", dn, list(MODEL_BANDS))
    pair = read_pair(image, reference, codes="esm")
    assert (pair.label[:10] == NODATA).all()
    np.testing.assert_array_equal(pair.label[10:], labels[10:])
    assert pair.provenance["class_px"]["residential"] == int((labels[10:] == 2).sum())
    assert pair.scene.reflectance.dtype == np.float16  # half the memory of float32


def test_read_pair_refuses_a_reference_of_another_size_without_crs(learnable_files, tmp_path):
    image, _ = learnable_files
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", height=50, width=50, count=1,
                       dtype="uint8") as dst:
        dst.write(np.ones((1, 50, 50), "uint8"))
    with pytest.raises(ReferenceError_, match="cannot be aligned"):
        read_pair(image, path)


def test_read_pair_says_when_the_codes_are_not_understood(learnable_files, tmp_path):
    image, _ = learnable_files
    codes = np.full((1, 192, 192), 7, "uint8")
    codes[0, :, ::2] = 9
    path = write_geotiff(tmp_path / "odd.tif", codes)
    with pytest.raises(ReferenceCodesError, match="match no known convention"):
        read_pair(image, path)


def test_a_scene_in_degrees_is_warped_with_its_reference_as_predict_warps_it(pair):
    scene = warp_scene(pair.scene, "EPSG:4326")
    label = np.full(scene.shape, NODATA, "uint8")
    reproject(pair.label, label, src_transform=pair.scene.transform, src_crs=pair.scene.crs,
              dst_transform=scene.transform, dst_crs=scene.crs, src_nodata=NODATA,
              dst_nodata=NODATA)
    warped = pair_from_arrays(scene, label, "degrees")
    assert warped.scene.crs.is_projected and warped.scene.transform.a == pytest.approx(10)
    assert warped.label.shape == warped.scene.shape
    for c in (0, 1, 2):  # each label still sits on pixels of its class's spectrum
        b2 = warped.scene.reflectance[0][warped.label == c]
        assert b2.size > 1000
        assert np.median(b2) == pytest.approx(CLASS_SPECTRA[c, 0], abs=0.01)


def warp_scene(scene, crs):
    """The scene warped to ``crs`` at about its resolution (nearest)."""
    transform, width, height = calculate_default_transform(
        scene.crs, crs, scene.shape[1], scene.shape[0], *scene.bounds)
    refl = np.zeros((11, height, width), "float32")
    reproject(scene.reflectance.astype("float32"), refl, src_transform=scene.transform,
              src_crs=scene.crs, dst_transform=transform, dst_crs=crs)
    return replace(scene, reflectance=refl, valid=(refl > 0).all(axis=0),
                   crs=CRS.from_user_input(crs), transform=transform)


# ------------------------------------------------------------------ the held-back block


def test_the_validation_block_is_balanced_and_buffered():
    label = blocks_label()
    split = plan_split(label, fraction=0.2, buffer=16)
    val, ex = split.val, split.exclude
    built = (label == 1) | (label == 2)
    share = built[val.rows, val.cols].sum() / built.sum()
    assert 0.1 < share < 0.35
    inside = label[val.rows, val.cols]
    rest = label.copy()
    rest[ex.rows, ex.cols] = NODATA
    for c in (0, 1, 2):
        assert (inside == c).any() and (rest == c).any()
    grown = val.grown(16, label.shape)
    assert (ex.r0, ex.r1, ex.c0, ex.c1) == (grown.r0, grown.r1, grown.c0, grown.c1)
    if split.axis == 0:
        assert (val.c0, val.c1) == (0, label.shape[1])
    else:
        assert (val.r0, val.r1) == (0, label.shape[0])
    assert "buffer of 16 px" in split.describe()


def test_a_class_concentrated_along_one_axis_makes_the_split_cut_the_other():
    label = blocks_label((200, 200))
    label[label == 1] = 2
    label[150:, :] = np.where(label[150:, :] == 2, 1, label[150:, :])  # non-res: south only
    split = plan_split(label, fraction=0.2, buffer=8)
    assert split.axis == 1  # a band of rows would leave one side without non-residential
    assert (label[split.val.rows, split.val.cols] == 1).any()


def test_too_clustered_built_up_pixels_cannot_hold_a_block_back():
    label = np.zeros((200, 200), "uint8")
    label[100:112, 100:112] = 2  # 144 px in one spot
    with pytest.raises(ReferenceContentError, match="too few or too clustered"):
        plan_split(label, 0.2, 32)


def test_a_large_image_validates_on_a_smaller_share(monkeypatch):
    label = blocks_label((400, 400))
    whole = plan_split(label, 0.2, 8)
    monkeypatch.setattr(split_module, "MAX_VALIDATION_PX", 400 * 400 // 10)
    capped = plan_split(label, 0.2, 8)
    size = (lambda b: (b.r1 - b.r0) * (b.c1 - b.c0))
    assert size(capped.val) < 0.7 * size(whole.val)


def test_two_dates_of_one_place_share_their_block(pair):
    other = pair_from_arrays(pair.scene, np.where(pair.label == 1, 2, pair.label), "date 2")
    far = pair_from_arrays(pair.scene.window(slice(0, 150), slice(0, 192)),
                           pair.label[:150].copy(), "part")
    a, b, c = plan_splits([pair, other, far], 0.2, 16)
    assert a == b
    assert c.val.r1 <= 150 and c.val.c1 <= 192


# ------------------------------------------------------------------ the loop


def test_learning_rate_warms_up_then_anneals_to_zero():
    assert learning_rate(0.0, 1e-3, 0.1) == pytest.approx(1e-4)
    assert learning_rate(0.1, 1e-3, 0.1) == pytest.approx(1e-3)
    assert learning_rate(0.55, 1e-3, 0.1) == pytest.approx(5e-4)
    assert learning_rate(1.0, 1e-3, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_adapt_learns_on_the_pairs_and_leaves_the_parent_untouched(pair, tiny_model):
    before = {k: v.clone() for k, v in tiny_model.model.state_dict().items()}
    progress = []
    result = adapt([pair], tiny_model, AdaptSettings(max_steps=10, **FAST),
                   progress=lambda f, m: progress.append(f))
    assert result.steps == 10 and len(result.history) == 2
    assert result.history[-1]["step"] == 10
    assert result.accepted and result.score_after > result.score_before
    for k, v in tiny_model.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(not torch.equal(result.state[k], before[k]) for k in before)
    assert progress == sorted(progress) and 0 < progress[-1] <= 1
    bn = [k for k in before if k.endswith("running_mean")]
    assert all(torch.equal(result.state[k], before[k]) for k in bn)  # BatchNorm kept


def test_a_class_the_reference_lacks_is_left_out_of_the_loss(pair, tiny_model):
    no_nonres = pair_from_arrays(pair.scene, np.where(pair.label == 1, 0, pair.label),
                                 "no non-residential")
    result = adapt([no_nonres], tiny_model, AdaptSettings(max_steps=8, **FAST))
    assert result.absent == ["non-residential"]
    before = tiny_model.model.state_dict()["outc.conv.weight"]
    after = result.state["outc.conv.weight"]
    np.testing.assert_allclose(after[1], before[1], rtol=1e-4)  # only weight decay
    assert not torch.allclose(after[2], before[2], rtol=1e-3)


def test_adapt_stops_when_asked_and_keeps_nothing(pair, tiny_model):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(CancelledError, match="cancelled"):
        adapt([pair], tiny_model, AdaptSettings(max_steps=50, **FAST), cancel=cancel)
    assert len(calls) == 4


def test_checks_are_fewer_when_they_would_take_most_of_the_budget():
    assert planned_checks(20, seconds=60, check_s=0.5) == 20
    assert planned_checks(20, seconds=3, check_s=0.5) == 3  # at most half the budget
    assert planned_checks(3, seconds=3, check_s=10) == 1  # always one


def test_adapt_ends_within_its_time_budget(pair, tiny_model):
    settings = AdaptSettings(**{**FAST, "minutes": 0.1})
    start = time.perf_counter()
    result = adapt([pair], tiny_model, settings)
    assert result.steps > 0
    assert time.perf_counter() - start < 6 + 30  # 6 s budget; generous for a loaded machine


def test_adapt_removes_the_scene_haze_as_predict_does(pair, hazy_parent, monkeypatch):
    seen = []
    original = loop_module.SceneSource

    def source(*args, **kwargs):
        seen.append(kwargs["haze"])
        return original(*args, **kwargs)

    monkeypatch.setattr(loop_module, "SceneSource", source)
    hazy = pair_from_arrays(replace(pair.scene, reflectance=pair.scene.reflectance + 0.05),
                            pair.label, "hazy")
    adapt([hazy], hazy_parent, AdaptSettings(max_steps=2, **FAST))
    expected = scene_haze(hazy.scene, hazy_parent)
    assert expected is not None and expected[0] > 0.03
    np.testing.assert_array_equal(seen[0], expected)


# ------------------------------------------------------------------ the card and files


def fake_result(parent, after: float, before: float = 0.4) -> AdaptResult:
    scores = {"macro_builtup_present": before}
    return AdaptResult(
        state=parent.model.state_dict(), parent=parent,
        pairs=[{"image": "region.tif", "reference": "ref.tif", "class_px": {}}],
        splits=[plan_split(blocks_label(), 0.2, 16)], before=scores,
        after={"macro_builtup_present": after}, history=[{"step": 5}], steps=5,
        best_step=5, minutes=0.5, settings=AdaptSettings())


def test_a_model_no_better_than_its_parent_is_refused_and_not_written(tiny_model, tmp_path):
    with pytest.raises(NotBetterError, match="no better than tiny-test") as info:
        save_adapted(fake_result(tiny_model, after=0.38), tmp_path / "mine.json")
    assert (info.value.before, info.value.after) == (0.4, 0.38)
    assert list(tmp_path.iterdir()) == []


def test_the_adapted_card_keeps_the_parent_contract_and_names_it(hazy_parent, tmp_path):
    path, card = save_adapted(fake_result(hazy_parent, after=0.5), tmp_path / "mine.json")
    parent = hazy_parent.card
    assert card.name == "mine" and card.weights == "mine.pt"
    for field in ("bands", "indices", "normalisation", "architecture", "classes",
                  "tile_size", "overlap", "pixel_size_m", "reflectance"):
        assert getattr(card, field) == getattr(parent, field), field
    assert card.normalisation.haze == "dark_object"
    assert card.parent == {"name": "tiny-test", "version": parent.version,
                           "sha256": hazy_parent.sha256, "weights": parent.weights}
    data = json.loads(path.read_text())
    assert data["training"]["minutes"] == 0.5 and data["training"]["kind"] == "adaptation"
    assert data["metrics"]["validation_blocks"]["adapted"]["macro_builtup_present"] == 0.5
    assert "validation block" in data["training_data"][0]["use"]
    loaded = load_model(path)
    assert loaded.sha256 == card.sha256
    scene = read_scene(write_geotiff(tmp_path / "s.tif", learnable_scene(64)[0],
                                     list(MODEL_BANDS)))
    assert segment_scene(scene, loaded).model_name == "mine"


def test_an_interrupted_save_leaves_no_file_and_keeps_an_earlier_model(tiny_model, tmp_path,
                                                                       monkeypatch):
    path, _ = save_adapted(fake_result(tiny_model, after=0.5), tmp_path / "mine.json")
    earlier = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def interrupted(card, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(card_module, "write_card", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_adapted(fake_result(tiny_model, after=0.6), path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == earlier


def test_the_card_describes_what_it_was_adapted_on(tiny_model):
    result = fake_result(tiny_model, after=0.5)
    result.absent = ["residential"]
    card = adapted_card(result, "mine")
    assert "labels no residential pixels" in card.limitations[-3]
    assert "tiny-test" in card.description and "region.tif" in card.description
    assert any("0.400 for the parent, 0.500 adapted" in x for x in card.limitations)
    assert Block(1, 2, 3, 4).as_tuple() == (1, 2, 3, 4)


def _strips(hits: list[int], n: int = 100) -> np.ndarray:
    """(K, 3, 3) strip confusion matrices: each strip has ``n`` residential reference
    pixels, ``hits[k]`` of them predicted residential (the rest other)."""
    out = np.zeros((len(hits), 3, 3), dtype="int64")
    for k, h in enumerate(hits):
        out[k, 2, 2], out[k, 2, 0] = h, n - h
    return out


def test_the_gain_must_stand_out_from_the_blocks_own_variation():
    from urbanseg_core.training.adapt.loop import gain_bound

    before = _strips([50] * 10)
    steady = _strips([60] * 10)           # every strip a little better
    lucky = _strips([50] * 9 + [100])     # one strip much better, the others unchanged
    assert gain_bound(before, steady, 0.9) > 0
    assert gain_bound(before, lucky, 0.9) <= 0 < gain_bound(before, lucky, 0.0)
    # confidence 0 is the plain gain of the pooled matrices
    from urbanseg_core.evaluation.metrics import macro_builtup_present
    assert gain_bound(before, steady, 0.0) == pytest.approx(
        macro_builtup_present(steady.sum(0)) - macro_builtup_present(before.sum(0)))


def test_a_gain_within_the_noise_is_refused_in_plain_words(tiny_model, tmp_path):
    result = fake_result(tiny_model, after=0.45)
    result.strips_before, result.strips_after = _strips([50] * 10), _strips([50] * 9 + [100])
    assert result.score_after > result.score_before and not result.accepted
    with pytest.raises(NotBetterError, match="within the block's own variation"):
        save_adapted(result, tmp_path / "mine.json")
    assert list(tmp_path.iterdir()) == []
    result.strips_after = _strips([60] * 10)
    assert result.accepted


def test_a_class_with_a_few_pixels_in_the_blocks_still_counts_and_is_named(tiny_model):
    from urbanseg_core.training.adapt.loop import MIN_JUDGED_PX, gain_bound, thin_classes

    # ten strips with 100 non-residential pixels each, found better after adapting; one
    # strip also holds 30 residential pixels, which the adapted model misses
    before, after = np.zeros((2, 10, 3, 3), dtype="int64")
    before[:, 1, 1], before[:, 1, 0] = 70, 30
    after[:, 1, 1], after[:, 1, 0] = 90, 10
    before[0, 2, 2] = 30
    after[0, 2, 0] = 30
    assert thin_classes(before.sum(0)) == [2]
    assert gain_bound(before, after, 0.9) < 0    # losing them is not hidden
    enough = np.zeros((3, 3), dtype="int64")
    enough[1, 1], enough[2, 2] = MIN_JUDGED_PX, 0   # residential not labelled: not "thin"
    assert thin_classes(enough) == []
    result = fake_result(tiny_model, after=0.5)
    result.strips_before = before
    card = adapted_card(result, "mine")
    assert card.metrics["validation_blocks"]["classes_with_few_pixels"] == ["residential"]
    assert any("held few residential pixels" in x for x in card.limitations)
    result.strips_before = enough[None]
    assert not any("held few" in x for x in adapted_card(result, "mine").limitations)
