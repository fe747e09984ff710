"""The UNet matches the original checkpoint's layout and loads safely; the card's inputs are
checked at load."""

import json
import re

import pytest
import torch

from urbanseg_core.errors import ModelCardError, ModelLoadError
from urbanseg_core.model.loading import load_model
from urbanseg_core.model.unet import UNet, count_parameters
from urbanseg_core.sentinel2 import MODEL_BANDS

from ..conftest import SHARED_DATA, make_tiny_model

SEED_KEYS = SHARED_DATA.parent / "seed_unet_state_dict.json"  # ../shared beside the data

# Spot checks of the original UNet(15, 3, bilinear=True) layout, written out by hand so the test
# does not depend on ../shared (the full 110-key list is compared below when it is present).
ORIGINAL_SHAPES = {
    "inc.double_conv.0.weight": (64, 15, 3, 3),
    "inc.double_conv.1.running_var": (64,),
    "down1.maxpool_conv.1.double_conv.0.weight": (128, 64, 3, 3),
    "down4.maxpool_conv.1.double_conv.3.weight": (512, 512, 3, 3),
    "up1.conv.double_conv.0.weight": (512, 1024, 3, 3),
    "up1.conv.double_conv.3.weight": (256, 512, 3, 3),
    "up4.conv.double_conv.0.weight": (64, 128, 3, 3),
    "outc.conv.weight": (3, 64, 1, 1),
    "outc.conv.bias": (3,),
}


def test_original_architecture_keys_and_shapes():
    sd = UNet(15, 3, base_width=64, bilinear=True).state_dict()
    assert len(sd) == 110
    for key, shape in ORIGINAL_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    assert round(count_parameters(UNet(15, 3, 64)) / 1e6, 2) == 17.27


def test_full_key_list_of_original_checkpoint():
    if not SEED_KEYS.exists():
        pytest.skip(f"seed_unet_state_dict.json not available at {SEED_KEYS} "
                    "(it sits beside ../shared/data)")
    seed = json.loads(SEED_KEYS.read_text())
    sd = UNet(15, 3, base_width=64, bilinear=True).state_dict()
    assert list(sd) == list(seed)
    assert {k: list(v.shape) for k, v in sd.items()} == seed


def test_original_checkpoint_loads_strict_and_is_deterministic(tmp_path):
    net = UNet(15, 3, 64)
    torch.save(net.state_dict(), tmp_path / "final_model.pth")
    loaded = load_model(tmp_path / "final_model.pth")  # no card: original layout assumed
    assert loaded.card.normalisation.method == "minmax_window"
    assert loaded.card.tile_size == 300
    x = torch.randn(1, 15, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), loaded.model(x))  # dropout off at inference


def test_transposed_conv_variant_runs():
    net = UNet(15, 3, base_width=4, bilinear=False).eval()
    assert net(torch.randn(1, 15, 48, 48)).shape == (1, 3, 48, 48)


def test_incompatible_checkpoint_lists_keys(tmp_path):
    sd = UNet(15, 3, 64).state_dict()
    sd.pop("outc.conv.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["inc.double_conv.0.weight"] = torch.zeros(64, 11, 3, 3)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path / "bad.pth")
    text = str(err.value)
    assert "outc.conv.bias" in text and "extra.weight" in text
    assert "inc.double_conv.0.weight (64, 11, 3, 3)" in text


def test_checksum_mismatch_and_unsafe_pickle(tmp_path):
    card = make_tiny_model(tmp_path)  # its own copy: the file is damaged below
    weights = card.with_name("tiny.pt")
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(ModelLoadError, match="does not match its model card"):
        load_model(card)
    torch.save({"model": object()}, tmp_path / "pickled.pth")  # not loadable with weights_only
    with pytest.raises(ModelLoadError, match="safely"):
        load_model(tmp_path / "pickled.pth")


@pytest.mark.parametrize("change, words", [
    ({"bands": ["B1"] + [b for b in MODEL_BANDS if b != "B12"]}, "band(s) B1"),
    ({"indices": {"NDVI": ["B8", "B4"], "NBR": ["B8", "B10"], "X": ["B8"]}}, "index(es) NBR, X"),
    ({"architecture": {"n_channels": 14, "base_width": 4, "align_corners": False}},
     "15 input channels"),
])
def test_a_card_asking_for_inputs_the_code_cannot_make_is_refused(tmp_path, change, words):
    card_path = make_tiny_model(tmp_path)
    card = json.loads(card_path.read_text())
    card.update(change)
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match=re.escape(words)):
        load_model(card_path)
