"""The ONNX graph shipped with the weights: written from the weights, verified at load, run by
ONNX Runtime without importing PyTorch, and equal to the PyTorch network's answers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from urbanseg_core.errors import ModelLoadError, StaleGraphError
from urbanseg_core.model.card import GRAPH_WEIGHTS_KEY, read_card, write_card
from urbanseg_core.model.loading import DEFAULT_CARD, load_model
from urbanseg_core.model.network import export_card, read_state_dict
from urbanseg_core.util import sha256_file

from ..conftest import REPO, make_tiny_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture
def exported(tmp_path):
    """A tiny model with its graph exported (card path)."""
    card = make_tiny_model(tmp_path)
    export_card(card)
    return card


def _inputs(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, 15, 96, 80)).astype("float32")


def test_the_bundled_card_names_its_graph_and_both_hashes_match():
    card = read_card(DEFAULT_CARD)
    weights, graph = DEFAULT_CARD.parent / card.weights, DEFAULT_CARD.parent / card.onnx
    assert card.onnx == "urbanseg-unet.onnx"
    assert sha256_file(weights) == card.sha256 and sha256_file(graph) == card.onnx_sha256
    meta = {p.key: p.value for p in onnx.load(str(graph)).metadata_props}
    assert meta[GRAPH_WEIGHTS_KEY] == card.sha256  # exported from exactly these weights


def test_bundled_model_predicts_without_importing_torch():
    """A fresh process loads the bundled model and classifies a batch; PyTorch stays out."""
    code = ("import sys, numpy as np; from urbanseg_core.model.loading import load_model; "
            "m = load_model(); x = np.zeros((1, 15, 64, 64), 'float32'); "
            "print(m.engine, m.classify(x).shape, m.device, 'torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120, check=True)
    assert res.stdout.split() == ["ONNX", "Runtime", "(1,", "64,", "64)", "cpu", "False"]


def test_graph_and_pytorch_network_give_the_same_logits(exported):
    graph_model = load_model(exported)
    torch_model = load_model(exported, engine="torch")
    assert graph_model.engine == "ONNX Runtime"
    assert graph_model.graph == exported.with_suffix(".onnx")
    assert torch_model.engine == "PyTorch" and torch_model.graph is None
    x = _inputs()
    a, b = graph_model.logits(x), torch_model.logits(x)
    assert a.shape == (2, 3, 96, 80) and a.dtype == np.float32
    assert np.allclose(a, b, atol=1e-4 * max(1.0, float(np.abs(b).max())))
    assert (graph_model.classify(x) == torch_model.classify(x)).mean() > 0.999


def test_pytorch_network_is_read_on_demand(exported):
    loaded = load_model(exported)
    assert str(loaded.device) == "cpu" and loaded.device.type == "cpu"
    net = loaded.model  # read from the weights now
    state = read_state_dict(exported.with_name("tiny.pt"))
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())
    assert loaded.model is net and loaded.device.type == "cpu"


def test_a_damaged_graph_is_refused(exported):
    graph = exported.with_suffix(".onnx")
    graph.write_bytes(graph.read_bytes()[:-10])
    with pytest.raises(ModelLoadError, match="does not match its model card"):
        load_model(exported)
    assert load_model(exported, engine="torch").engine == "PyTorch"  # the weights still serve


def test_a_graph_of_other_weights_is_refused_and_export_mends_it(exported, tmp_path):
    """Weights replaced, card updated, graph left over: refused, until export-onnx."""
    (tmp_path / "other").mkdir()
    other = make_tiny_model(tmp_path / "other", seed=1)
    card = read_card(exported)
    exported.with_name("tiny.pt").write_bytes(other.with_name("tiny.pt").read_bytes())
    card.sha256 = sha256_file(exported.with_name("tiny.pt"))
    write_card(card, exported)
    with pytest.raises(StaleGraphError, match="was not exported from tiny.pt") as err:
        load_model(exported)
    assert err.value.graph.endswith("tiny.onnx")
    export_card(exported)
    fresh, reference = load_model(exported), load_model(other, engine="torch")
    assert fresh.graph is not None
    assert (fresh.classify(_inputs(1)) == reference.classify(_inputs(1))).mean() > 0.999


def test_a_graph_that_does_not_fit_the_card_is_refused(exported):
    card = json.loads(exported.read_text())
    card["architecture"]["n_classes"] = 4
    card["classes"].append(dict(card["classes"][0], index=3, name="extra"))
    exported.write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="gives 3 classes, but its card says 15 and 4"):
        load_model(exported)


def test_a_card_whose_graph_is_missing_falls_back_to_the_weights(exported):
    exported.with_suffix(".onnx").unlink()
    loaded = load_model(exported)
    assert loaded.graph is None and loaded.engine in ("ONNX Runtime", "PyTorch")
    assert loaded.classify(_inputs()).shape == (2, 96, 80)


def test_export_refuses_weights_that_do_not_match_their_card(tmp_path):
    card = make_tiny_model(tmp_path)
    weights = card.with_name("tiny.pt")
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(ModelLoadError, match="no graph is exported"):
        export_card(card)
    assert not card.with_suffix(".onnx").exists()


def test_cli_export_onnx_writes_the_graph_and_records_it(cli, tmp_path):
    card = make_tiny_model(tmp_path)
    res = cli("export-onnx", card)
    assert res.returncode == 0, res.stderr
    assert "tiny.onnx" in res.stdout and read_card(card).onnx == "tiny.onnx"
    assert load_model(card).graph == card.with_suffix(".onnx")
    missing = cli("export-onnx", tmp_path / "nothing.pt")
    assert missing.returncode == 2 and "has no model card" in missing.stderr


def test_cli_names_export_onnx_for_a_stale_graph(cli, exported, tmp_path, s2_geotiff):
    graph = onnx.load(str(exported.with_suffix(".onnx")))
    for prop in graph.metadata_props:
        prop.value = "0" * 64  # as if exported from other weights
    onnx.save(graph, str(exported.with_suffix(".onnx")))
    card = read_card(exported)
    card.onnx_sha256 = sha256_file(exported.with_suffix(".onnx"))
    write_card(card, exported)
    res = cli("predict", s2_geotiff, "-o", tmp_path / "m.tif", "--model", exported)
    assert res.returncode == 2 and "urbanseg export-onnx CARD.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
